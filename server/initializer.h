// Deterministic initial values: element i of a table is a pure function of
// (initializer, i), so a table's starting point does not depend on how many
// servers hold it or which range each one owns.
#ifndef PS_SERVER_INITIALIZER_H_
#define PS_SERVER_INITIALIZER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::server {

absl::Status ValidateInitializer(const v1::Initializer& init);

// Fills out[0, n) with the values of elements [first, first + n).
void FillInitial(const v1::Initializer& init, int64_t first, int64_t n,
                 float* out);

// Sparse tables: fills out[0, dim) with the initial row of `key`; element j
// is a pure function of (init.seed, key, j), with FillInitial's meaning of
// UNIFORM and ZEROS.
void FillInitialRow(const v1::Initializer& init, uint64_t key, int dim,
                    float* out);

}  // namespace ps::server

#endif  // PS_SERVER_INITIALIZER_H_
