// The PSX export format, in memory. All integers little-endian:
//
//   char[4]  magic "PSX2"
//   uint32   number of tables
//   per table, in the job's table order:
//     uint32   name length (1 to 4096), then the name's bytes (UTF-8)
//     uint32   kind: 0 dense, 1 sparse
//     uint32   number of dimensions (at most 16), then int64 per dimension
//              (for a sparse table: [2^hashBits, dim], the key space and
//              row width)
//     dense:   int64 number of values (the product of the dimensions when
//              there are any), then the float32 values, row-major
//     sparse:  int32 dim, int64 number of rows, then the rows' uint64 keys
//              in strictly ascending order, then their float32 rows
//              (rows x dim)
//   nothing after the last table.
//
// "PSX1" files (written before sparse tables) are the same without the kind
// field, dense tables only; they are read, never written.
//
// Files go through client/psctl/export.h (WriteExport, ReadExport); these
// are the codec alone, with no I/O, so that a fuzzer can drive the parser.
#ifndef PS_CLIENT_PSCTL_PSX_FORMAT_H_
#define PS_CLIENT_PSCTL_PSX_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/psctl/exported_table.h"

namespace ps::client {

// `tables` as a PSX2 file. INVALID_ARGUMENT naming the table when one is
// malformed (CheckTable).
absl::StatusOr<std::string> EncodePsx(const std::vector<ExportedTable>& tables);

// The tables of the PSX1 or PSX2 file whose bytes are `bytes`. Every count,
// length and size the file declares is checked against the bytes actually
// left before anything is allocated, so no input makes it allocate more
// than about bytes.size(), and none crashes it. A file that breaks any rule
// above (or CheckTable's) is DATA_LOSS with a message that starts with
// `source` (the file's name) and names the table and what is wrong.
absl::StatusOr<std::vector<ExportedTable>> ParsePsx(absl::string_view bytes,
                                                    absl::string_view source);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_PSX_FORMAT_H_
