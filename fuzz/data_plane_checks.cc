#include "fuzz/data_plane_checks.h"

#include <cmath>
#include <cstdlib>
#include <cstring>
#include <set>
#include <vector>

namespace ps::fuzz {
namespace {

// Dense slices: each in a range this server holds ("w" [16, 48), "b"
// [0, 4)). Their floats, or nothing.
std::optional<int64_t> DenseFloats(
    const google::protobuf::RepeatedPtrField<v1::DenseSlice>& slices) {
  int64_t floats = 0;
  for (const v1::DenseSlice& s : slices) {
    int64_t begin = 0, end = 0;
    if (s.table() == "w") {
      begin = 16, end = 48;
    } else if (s.table() == "b") {
      begin = 0, end = 4;
    } else {
      return std::nullopt;
    }
    if (s.offset() < begin || s.offset() > end || s.count() < 1 ||
        s.count() > end - s.offset()) {
      return std::nullopt;
    }
    floats += s.count();
  }
  return floats;
}

// Sparse slices and their keys: SPARSE tables, keys >= 1, 8 bytes a key,
// every key owned, and (`distinct`) none twice in a slice. Their floats
// (keys x dim), or nothing.
std::optional<int64_t> SparseFloats(
    const google::protobuf::RepeatedPtrField<v1::SparseSlice>& slices,
    const std::string& key_bytes, bool distinct) {
  const uint64_t available = key_bytes.size() / 8;
  uint64_t counted = 0;
  for (const v1::SparseSlice& s : slices) {
    if (SparseDim(s.table()) == 0 || s.keys() < 1) return std::nullopt;
    if (static_cast<uint64_t>(s.keys()) > available - counted) {
      return std::nullopt;
    }
    counted += s.keys();
  }
  if (counted * 8 != key_bytes.size()) return std::nullopt;
  int64_t floats = 0;
  size_t at = 0;
  for (const v1::SparseSlice& s : slices) {
    std::set<uint64_t> seen;
    for (int64_t i = 0; i < s.keys(); ++i, at += 8) {
      uint64_t key;
      std::memcpy(&key, key_bytes.data() + at, 8);
      if (!OwnsKey(key)) return std::nullopt;
      if (distinct && !seen.insert(key).second) return std::nullopt;
    }
    floats += s.keys() * SparseDim(s.table());
  }
  return floats;
}

bool AllFinite(const std::string& values) {
  for (size_t at = 0; at + 4 <= values.size(); at += 4) {
    float v;
    std::memcpy(&v, values.data() + at, 4);
    if (!std::isfinite(v)) return false;
  }
  return true;
}

}  // namespace

std::unique_ptr<server::TableStore> NewStore(
    const v1::CreateTablesRequest& job) {
  auto store = std::make_unique<server::TableStore>();
  if (!store->CreateTables(job).ok()) abort();
  return store;
}

std::string StateOf(const server::TableStore& store, const std::string& job_id,
                    int group) {
  std::string bytes;
  uint64_t op = 0;
  if (!store.SnapshotGroup(job_id, group, &bytes, &op).ok()) abort();
  return bytes;
}

bool DocumentedError(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange:
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kResourceExhausted:
      return !s.message().empty();
    default:
      return false;
  }
}

std::optional<int64_t> ExpectedPullFloats(const v1::PullRequest& request,
                                          const JobSetup& setup) {
  if (request.job_id() != kJobId || request.group() != kGroup ||
      request.epoch() != kEpoch || setup.backup || request.clock() < 0) {
    return std::nullopt;
  }
  std::optional<int64_t> dense = DenseFloats(request.slices());
  std::optional<int64_t> sparse =
      SparseFloats(request.sparse(), request.keys(), /*distinct=*/false);
  if (!dense || !sparse) return std::nullopt;
  return *dense + *sparse;
}

std::optional<int64_t> ExpectedPushFloats(const v1::PushRequest& request,
                                          const std::string& values,
                                          const JobSetup& setup) {
  if (request.job_id() != kJobId || request.group() != kGroup ||
      request.epoch() != kEpoch) {
    return std::nullopt;
  }
  std::optional<int64_t> dense = DenseFloats(request.slices());
  std::optional<int64_t> sparse =
      SparseFloats(request.sparse(), request.keys(), /*distinct=*/true);
  if (!dense || !sparse) return std::nullopt;
  const int64_t floats = *dense + *sparse;
  if (static_cast<int64_t>(values.size()) != floats * 4 || !AllFinite(values)) {
    return std::nullopt;
  }
  if (request.worker_id().empty() && setup.mode != v1::ASP) {
    return std::nullopt;
  }
  return floats;
}

}  // namespace ps::fuzz
