// The keys of a request's sparse slices (PullRequest and PushRequest
// `sparse` and `keys`): decoded from their uint64 little-endian bytes and
// checked against the virtual partitions this server owns. Pure functions
// of the request and the job's partition set, so the store can run every
// check before it touches a row. Errors name the table, the key or count,
// and what is allowed.
#ifndef PS_SERVER_SPARSE_KEYS_H_
#define PS_SERVER_SPARSE_KEYS_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/repeated_ptr_field.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::server {

// Decodes `bytes`, which must hold exactly the keys `slices` count, slice
// after slice. INVALID_ARGUMENT: a slice with keys < 1 (naming its table),
// or bytes != 8 * the keys counted (naming both counts).
absl::StatusOr<std::vector<uint64_t>> DecodeKeys(
    const google::protobuf::RepeatedPtrField<v1::SparseSlice>& slices,
    absl::string_view bytes);

// INVALID_ARGUMENT naming the first key of `keys` (the keys of one push
// slice to `table`) that repeats: a push carries each key once, with the
// gradients of a repeated key summed.
absl::Status CheckDistinct(absl::Span<const uint64_t> keys,
                           absl::string_view table);

// The virtual partitions (ps::SparsePartition, common/hash.h) a server owns
// for one job. Immutable, so thread-safe.
class OwnedPartitions {
 public:
  // No partitions: every key is someone else's.
  OwnedPartitions() = default;
  // `owned` must each be below `partitions` (ValidateCreateTables).
  OwnedPartitions(uint32_t partitions, absl::Span<const uint32_t> owned);

  bool Owns(uint64_t key) const;

  // FAILED_PRECONDITION naming the first key of `keys` (the keys of a slice
  // to `table`) that this server does not own, and its partition: the
  // client's map is stale and must be refreshed.
  absl::Status CheckOwned(absl::Span<const uint64_t> keys,
                          absl::string_view table, uint64_t epoch) const;

 private:
  uint32_t partitions_ = 0;
  std::vector<bool> owned_;  // by partition
};

}  // namespace ps::server

#endif  // PS_SERVER_SPARSE_KEYS_H_
