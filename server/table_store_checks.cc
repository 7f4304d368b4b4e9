// TableStore's checks of a request against its job: resolving dense and
// sparse slices, the push's values and the memory bound. Every one runs
// before anything is changed or created (table_store.h, error contract).
#include <string>

#include "absl/strings/str_cat.h"
#include "server/table_store.h"

namespace ps::server {
namespace {

// The byte count a push's values must have, and why, for its error message.
std::string ExpectedValues(int64_t dense, int64_t sparse) {
  return absl::StrCat(dense, " dense values + ", sparse,
                      " sparse row values (keys x dim) = ", dense + sparse,
                      " float32 values; expected ", (dense + sparse) * 4,
                      " bytes");
}

}  // namespace

absl::Status TableStore::CheckRoom(const std::string& job_id) const {
  absl::ReaderMutexLock lock(&mu_);
  const int64_t held = HeldBytesLocked();
  if (held <= options_.max_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrCat(
      "job ", job_id, ": this server holds ", held, " bytes (", bytes_,
      " dense, ", held - bytes_, " sparse) of at most ", options_.max_bytes,
      "; requests with sparse keys are refused until tables are dropped"));
}

absl::StatusOr<const TableStore::Table*> TableStore::TableOfKind(
    const JobTables& job, const std::string& name, v1::TableKind kind,
    absl::string_view wrong_kind) {
  auto it = job.tables.find(name);
  if (it == job.tables.end()) {
    return absl::NotFoundError(absl::StrCat("unknown table ", name));
  }
  if (it->second.kind != kind) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", name, " ", wrong_kind));
  }
  return &it->second;
}

absl::Status TableStore::ResolveDense(
    const JobTables& job,
    const google::protobuf::RepeatedPtrField<v1::DenseSlice>& slices,
    Resolved* out) const {
  out->dense.reserve(slices.size());
  for (const v1::DenseSlice& s : slices) {
    absl::StatusOr<const Table*> table = TableOfKind(
        job, s.table(), v1::DENSE,
        "is SPARSE; a dense slice needs a DENSE table (send its keys in a "
        "sparse slice)");
    if (!table.ok()) return table.status();
    const int64_t size = (*table)->size;
    if (s.offset() < 0 || s.count() <= 0 || s.offset() > size ||
        s.count() > size - s.offset()) {
      return absl::OutOfRangeError(
          absl::StrCat("table ", s.table(), ": slice offset ", s.offset(),
                       " count ", s.count(), " is outside [0, ", size, ")"));
    }
    DenseShard* owner = nullptr;
    for (const auto& shard : (*table)->shards) {
      if (shard->Contains(s.offset(), s.count())) owner = shard.get();
    }
    if (owner == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "table ", s.table(), ": slice [", s.offset(), ", ",
          s.offset() + s.count(), ") is not held by this server at epoch ",
          job.epoch.load(), "; refresh the map"));
    }
    out->dense.push_back(owner);
    out->dense_values += s.count();
  }
  return absl::OkStatus();
}

absl::Status TableStore::ResolveSparse(
    const JobTables& job,
    const google::protobuf::RepeatedPtrField<v1::SparseSlice>& slices,
    absl::string_view key_bytes, Resolved* out) const {
  out->sparse.reserve(slices.size());
  for (const v1::SparseSlice& s : slices) {
    absl::StatusOr<const Table*> table =
        TableOfKind(job, s.table(), v1::SPARSE,
                    "is DENSE; sparse keys need a SPARSE table");
    if (!table.ok()) return table.status();
    out->sparse.push_back({(*table)->sparse.get(), 0, s.keys()});
  }
  absl::StatusOr<std::vector<uint64_t>> keys = DecodeKeys(slices, key_bytes);
  if (!keys.ok()) return keys.status();
  out->keys = *std::move(keys);
  int64_t first = 0;
  for (int i = 0; i < slices.size(); ++i) {
    PullPlan::SparseRows& rows = out->sparse[i];
    rows.first = first;
    first += rows.count;
    out->sparse_values += rows.count * rows.shard->dim();
    absl::Status owned = job.owned.CheckOwned(
        absl::MakeConstSpan(out->keys).subspan(rows.first, rows.count),
        slices[i].table(), job.epoch.load());
    if (!owned.ok()) return owned;
  }
  return absl::OkStatus();
}

absl::StatusOr<TableStore::Resolved> TableStore::Resolve(
    const JobTables& job,
    const google::protobuf::RepeatedPtrField<v1::DenseSlice>& slices,
    const google::protobuf::RepeatedPtrField<v1::SparseSlice>& sparse,
    absl::string_view key_bytes) const {
  Resolved out;
  if (absl::Status s = ResolveDense(job, slices, &out); !s.ok()) return s;
  if (sparse.empty() && key_bytes.empty()) return out;
  if (absl::Status s = ResolveSparse(job, sparse, key_bytes, &out); !s.ok()) {
    return s;
  }
  return out;
}

absl::Status TableStore::CheckPushValues(JobTables& job,
                                         const v1::PushRequest& request,
                                         const Resolved& resolved,
                                         const ValuePieces& values) {
  const int64_t expected = resolved.dense_values + resolved.sparse_values;
  if (values.bytes() != expected * 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "values: ", values.bytes(), " bytes, but the slices hold ",
        ExpectedValues(resolved.dense_values, resolved.sparse_values)));
  }
  for (int i = 0; i < request.sparse_size(); ++i) {
    const PullPlan::SparseRows& rows = resolved.sparse[i];
    absl::Status s = CheckDistinct(
        absl::MakeConstSpan(resolved.keys).subspan(rows.first, rows.count),
        request.sparse(i).table());
    if (!s.ok()) return s;
  }
  if (int64_t bad = values.FirstNonFinite(); bad >= 0) {
    ++job.pushes_rejected_nonfinite;
    return absl::InvalidArgumentError(
        absl::StrCat("values: value ", bad, " of the push is ", values.At(bad),
                     "; allowed: finite numbers (the push was not applied)"));
  }
  return absl::OkStatus();
}

}  // namespace ps::server
