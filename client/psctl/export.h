// Trained parameters as a file. Format "PSX2", all integers little-endian:
//
//   char[4]  magic "PSX2"
//   uint32   number of tables
//   per table, in the job's table order:
//     uint32   name length, then the name's bytes (UTF-8)
//     uint32   kind: 0 dense, 1 sparse
//     uint32   number of dimensions, then int64 per dimension (for a
//              sparse table: [2^hashBits, dim], the key space and row width)
//     dense:   int64 number of values (the product of the dimensions), then
//              the float32 values, row-major
//     sparse:  int32 dim, int64 number of rows, then the rows' uint64 keys
//              in ascending order, then their float32 rows (rows x dim)
//
// ReadExport also reads "PSX1" files (written before sparse tables: the
// same without the kind field, dense tables only).
//
// For the models shipped, table "layer<l>.weight" has shape [in, out] and
// "layer<l>.bias" [out]; the layer computes y = x * W + b. The flight
// models' "wide" and "embed" are sparse: only rows that were touched exist.
#ifndef PS_CLIENT_PSCTL_EXPORT_H_
#define PS_CLIENT_PSCTL_EXPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {

struct ExportedTable {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;  // dense: the values; sparse: keys.size() * dim
  bool sparse = false;
  int dim = 0;                 // sparse only
  std::vector<uint64_t> keys;  // sparse only: ascending
};

// Pulls every dense table and scans every sparse table of `job` (which
// must have a partition map: RUNNING or SUCCEEDED with its tables kept)
// from the servers and writes `path` atomically. A row that a running job
// changes during the export may be taken before or after the change.
absl::Status ExportJob(const v1::Job& job, const std::string& path);

absl::Status WriteExport(const std::vector<ExportedTable>& tables,
                         const std::string& path);
absl::StatusOr<std::vector<ExportedTable>> ReadExport(const std::string& path);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_EXPORT_H_
