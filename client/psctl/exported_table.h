// One table of a job's trained parameters, as psctl export writes it and
// its readers return it (client/psctl/export.h for the file formats), and
// the rules every such table obeys.
#ifndef PS_CLIENT_PSCTL_EXPORTED_TABLE_H_
#define PS_CLIENT_PSCTL_EXPORTED_TABLE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ps::client {

struct ExportedTable {
  std::string name;
  // For display: a dense table's shape (row-major), a sparse table's
  // [key space, dim]. May be empty.
  std::vector<int64_t> shape;
  std::vector<float> values;  // dense: the values; sparse: keys.size() * dim
  bool sparse = false;
  int dim = 0;                 // sparse only
  std::vector<uint64_t> keys;  // sparse only: ascending
};

// Limits every writer and reader applies; a reader refuses a file that
// declares more before it allocates anything.
inline constexpr int64_t kMaxTableNameBytes = 4096;
inline constexpr int64_t kMaxTableDims = 16;
inline constexpr int64_t kMaxSparseDim = 4096;
inline constexpr int64_t kMaxTableValues = int64_t{1} << 36;

// OK when `table` is well formed: a name of 1 to kMaxTableNameBytes bytes;
// at most kMaxTableDims dimensions, none negative, whose product fits in an
// int64; dense: no keys, dim 0, at most kMaxTableValues values, and when
// the shape is not empty as many values as its product; sparse: dim in
// [1, kMaxSparseDim], keys strictly ascending, keys.size() * dim values.
// Otherwise INVALID_ARGUMENT naming the table and what is wrong.
absl::Status CheckTable(const ExportedTable& table);

// The product of `shape` (1 when empty), or -1 when a dimension is
// negative or the product overflows an int64.
int64_t ShapeProduct(const std::vector<int64_t>& shape);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_EXPORTED_TABLE_H_
