// Trained parameters as a file. Format "PSX1", all integers little-endian:
//
//   char[4]  magic "PSX1"
//   uint32   number of tables
//   per table, in the job's table order:
//     uint32   name length, then the name's bytes (UTF-8)
//     uint32   number of dimensions, then int64 per dimension
//     int64    number of values (the product of the dimensions)
//     float32  the values, little-endian, row-major
//
// For the models shipped, table "layer<l>.weight" has shape [in, out] and
// "layer<l>.bias" [out]; the layer computes y = x * W + b.
//
// Only DENSE tables are exported. Sparse tables ("wide", "embed") are
// skipped: the data plane has no call that lists a table's keys yet, and
// pulling every possible key would create a row for each.
#ifndef PS_CLIENT_EXPORT_H_
#define PS_CLIENT_EXPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {

struct ExportedTable {
  std::string name;
  std::vector<int64_t> shape;
  std::vector<float> values;
};

// Pulls every table of `job` (which must have a partition map: RUNNING or
// SUCCEEDED with its tables kept) from the servers and writes `path`
// atomically.
absl::Status ExportJob(const v1::Job& job, const std::string& path);

absl::Status WriteExport(const std::vector<ExportedTable>& tables,
                         const std::string& path);
absl::StatusOr<std::vector<ExportedTable>> ReadExport(const std::string& path);

}  // namespace ps::client

#endif  // PS_CLIENT_EXPORT_H_
