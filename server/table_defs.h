// Validation of a CreateTablesRequest before anything is built, so that a
// bad request creates nothing: each error is INVALID_ARGUMENT naming the
// field, the value and what is allowed.
#ifndef PS_SERVER_TABLE_DEFS_H_
#define PS_SERVER_TABLE_DEFS_H_

#include <cstdint>

#include "absl/status/status.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::server {

// Largest DENSE table, in values.
inline constexpr int64_t kMaxDenseSize = int64_t{1} << 36;
// Widest SPARSE row, in values.
inline constexpr int kMaxSparseDim = 4096;
// Most virtual partitions of a job's sparse keys.
inline constexpr uint32_t kMaxSparsePartitions = uint32_t{1} << 20;

// One table: a name; DENSE: size in [1, kMaxDenseSize], dim 0; SPARSE: size
// 0, dim in [1, kMaxSparseDim]; a valid initializer. The optimizer is
// checked where its rule is built (MakeUpdateRule).
absl::Status ValidateTableDef(const v1::TableDef& def);

// The consistency model, its staleness bound and the job's worker ids.
absl::Status ValidateConsistency(const v1::CreateTablesRequest& request);

// Everything: job id, each table (names unique), each range (names a DENSE
// table, within its size), the consistency fields, and the sparse
// partitions: sparse_partitions in [1, kMaxSparsePartitions] when the job
// has a SPARSE table (else 0 or within that range), owned_partitions each
// below sparse_partitions and none repeated.
absl::Status ValidateCreateTables(const v1::CreateTablesRequest& request);

}  // namespace ps::server

#endif  // PS_SERVER_TABLE_DEFS_H_
