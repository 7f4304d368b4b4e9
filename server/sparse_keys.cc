#include "server/sparse_keys.h"

#include <cstring>
#include <limits>

#include "absl/base/config.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "common/hash.h"

namespace ps::server {

static_assert(ABSL_IS_LITTLE_ENDIAN,
              "keys travel as uint64 little-endian and are copied as is");

absl::StatusOr<std::vector<uint64_t>> DecodeKeys(
    const google::protobuf::RepeatedPtrField<v1::SparseSlice>& slices,
    absl::string_view bytes) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  int64_t counted = 0;  // saturates at kMax: slices may claim anything
  for (const v1::SparseSlice& s : slices) {
    if (s.keys() < 1) {
      return absl::InvalidArgumentError(
          absl::StrCat("sparse slice of table ", s.table(), ": keys ", s.keys(),
                       "; allowed: >= 1"));
    }
    counted = s.keys() > kMax - counted ? kMax : counted + s.keys();
  }
  const int64_t size = static_cast<int64_t>(bytes.size());
  if (counted > size / 8 || size != counted * 8) {
    return absl::InvalidArgumentError(
        absl::StrCat("keys: ", size, " bytes, but the sparse slices count ",
                     counted == kMax ? "more than 2^63" : absl::StrCat(counted),
                     " keys; expected 8 bytes per key"));
  }
  std::vector<uint64_t> keys(counted);
  if (counted > 0) std::memcpy(keys.data(), bytes.data(), bytes.size());
  return keys;
}

absl::Status CheckDistinct(absl::Span<const uint64_t> keys,
                           absl::string_view table) {
  absl::flat_hash_set<uint64_t> seen;
  seen.reserve(keys.size());
  for (uint64_t key : keys) {
    if (!seen.insert(key).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", table, ": key ", key,
          " appears more than once in one push slice; sum the gradients of "
          "repeated keys"));
    }
  }
  return absl::OkStatus();
}

OwnedPartitions::OwnedPartitions(uint32_t partitions,
                                 absl::Span<const uint32_t> owned)
    : partitions_(partitions), owned_(partitions, false) {
  for (uint32_t p : owned) owned_[p] = true;
}

bool OwnedPartitions::Owns(uint64_t key) const {
  return partitions_ > 0 && owned_[SparsePartition(key, partitions_)];
}

absl::Status OwnedPartitions::CheckOwned(absl::Span<const uint64_t> keys,
                                         absl::string_view table,
                                         uint64_t epoch) const {
  for (uint64_t key : keys) {
    if (Owns(key)) continue;
    return absl::FailedPreconditionError(absl::StrCat(
        "table ", table, ": key ", key, " is in sparse partition ",
        partitions_ > 0 ? absl::StrCat(SparsePartition(key, partitions_))
                        : std::string("(none: the job has no partitions)"),
        ", which this server does not own at epoch ", epoch,
        "; refresh the map"));
  }
  return absl::OkStatus();
}

}  // namespace ps::server
