#include "server/table_store.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "server/initializer.h"

namespace ps::server {
namespace {

absl::Status ValidateDef(const v1::TableDef& def) {
  if (def.name().empty()) {
    return absl::InvalidArgumentError("table name is empty");
  }
  if (def.size() <= 0 || def.size() > (int64_t{1} << 36)) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", def.name(), ": size ", def.size(),
                     "; allowed: [1, 2^36]"));
  }
  absl::Status s = ValidateInitializer(def.init());
  if (!s.ok()) return absl::InvalidArgumentError(absl::StrCat("table ", def.name(), ": ", s.message()));
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::shared_ptr<TableStore::JobTables>> TableStore::Build(
    const v1::CreateTablesRequest& request) {
  auto job = std::make_shared<JobTables>();
  job->epoch = request.epoch();
  absl::flat_hash_map<std::string, const v1::TableDef*> defs;
  for (const v1::TableDef& def : request.tables()) {
    absl::Status s = ValidateDef(def);
    if (!s.ok()) return s;
    if (!defs.emplace(def.name(), &def).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", def.name(), " is defined twice"));
    }
    job->tables[def.name()].size = def.size();
  }
  for (const v1::DenseRange& r : request.ranges()) {
    auto it = defs.find(r.table());
    if (it == defs.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("range names unknown table ", r.table()));
    }
    if (r.begin() < 0 || r.begin() >= r.end() || r.end() > it->second->size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", r.table(), ": range [", r.begin(), ", ", r.end(),
          ") is not within [0, ", it->second->size(), ")"));
    }
    absl::StatusOr<std::unique_ptr<UpdateRule>> rule =
        MakeUpdateRule(it->second->optimizer());
    if (!rule.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", r.table(), ": ", rule.status().message()));
    }
    auto shard = std::make_unique<DenseShard>(*it->second, r.begin(), r.end(),
                                              *std::move(rule));
    job->bytes += shard->bytes();
    job->tables[r.table()].shards.push_back(std::move(shard));
  }
  return job;
}

absl::Status TableStore::CreateTables(const v1::CreateTablesRequest& request) {
  if (request.job_id().empty()) {
    return absl::InvalidArgumentError("job_id is empty");
  }
  int64_t planned = 0;
  for (const v1::DenseRange& r : request.ranges()) planned += (r.end() - r.begin()) * 4;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(request.job_id());
    if (it != jobs_.end()) {
      if (it->second->epoch == request.epoch()) return absl::OkStatus();
      return absl::AlreadyExistsError(absl::StrCat(
          "job ", request.job_id(), " already has tables at epoch ",
          it->second->epoch, "; drop them first"));
    }
    if (bytes_ + planned > options_.max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "job ", request.job_id(), " needs ", planned, " bytes; server holds ",
          bytes_, " of at most ", options_.max_bytes));
    }
  }
  absl::StatusOr<std::shared_ptr<JobTables>> job = Build(request);
  if (!job.ok()) return job.status();
  absl::MutexLock lock(&mu_);
  if (bytes_ + (*job)->bytes > options_.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "job ", request.job_id(), " needs ", (*job)->bytes,
        " bytes; server holds ", bytes_, " of at most ", options_.max_bytes));
  }
  if (!jobs_.emplace(request.job_id(), *job).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("job ", request.job_id(), " was created concurrently"));
  }
  bytes_ += (*job)->bytes;
  return absl::OkStatus();
}

absl::Status TableStore::DropTables(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) return absl::OkStatus();
  bytes_ -= it->second->bytes;
  jobs_.erase(it);
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<TableStore::JobTables>> TableStore::Find(
    const std::string& job_id, uint64_t epoch) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = jobs_.find(job_id);
  if (it == jobs_.end()) {
    return absl::NotFoundError(
        absl::StrCat("job ", job_id, " has no tables on this server"));
  }
  if (it->second->epoch != epoch) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stale partition map: request epoch ", epoch, ", server epoch ",
        it->second->epoch, " for job ", job_id, "; refresh the map"));
  }
  return it->second;
}

absl::StatusOr<std::vector<DenseShard*>> TableStore::Resolve(
    const JobTables& job,
    const google::protobuf::RepeatedPtrField<v1::DenseSlice>& slices,
    int64_t* total) const {
  std::vector<DenseShard*> out;
  out.reserve(slices.size());
  *total = 0;
  for (const v1::DenseSlice& s : slices) {
    auto it = job.tables.find(s.table());
    if (it == job.tables.end()) {
      return absl::NotFoundError(absl::StrCat("unknown table ", s.table()));
    }
    if (s.offset() < 0 || s.count() <= 0 || s.offset() > it->second.size ||
        s.count() > it->second.size - s.offset()) {
      return absl::OutOfRangeError(absl::StrCat(
          "table ", s.table(), ": slice offset ", s.offset(), " count ",
          s.count(), " is outside [0, ", it->second.size, ")"));
    }
    DenseShard* owner = nullptr;
    for (const auto& shard : it->second.shards) {
      if (shard->Contains(s.offset(), s.count())) owner = shard.get();
    }
    if (owner == nullptr) {
      return absl::FailedPreconditionError(absl::StrCat(
          "table ", s.table(), ": slice [", s.offset(), ", ",
          s.offset() + s.count(), ") is not held by this server at epoch ",
          job.epoch, "; refresh the map"));
    }
    out.push_back(owner);
    *total += s.count();
  }
  return out;
}

absl::Status TableStore::Pull(const v1::PullRequest& request,
                              std::string* values) const {
  absl::StatusOr<std::shared_ptr<JobTables>> job =
      Find(request.job_id(), request.epoch());
  if (!job.ok()) return job.status();
  int64_t total = 0;
  absl::StatusOr<std::vector<DenseShard*>> shards =
      Resolve(**job, request.slices(), &total);
  if (!shards.ok()) return shards.status();
  values->resize(total * sizeof(float));
  float* out = reinterpret_cast<float*>(values->data());
  for (int i = 0; i < request.slices_size(); ++i) {
    const v1::DenseSlice& s = request.slices(i);
    (*shards)[i]->Read(s.offset(), s.count(), out);
    out += s.count();
  }
  return absl::OkStatus();
}

absl::Status TableStore::Push(const v1::PushRequest& request, bool* duplicate) {
  *duplicate = false;
  absl::StatusOr<std::shared_ptr<JobTables>> job =
      Find(request.job_id(), request.epoch());
  if (!job.ok()) return job.status();
  int64_t total = 0;
  absl::StatusOr<std::vector<DenseShard*>> shards =
      Resolve(**job, request.slices(), &total);
  if (!shards.ok()) return shards.status();
  if (static_cast<int64_t>(request.values().size()) != total * 4) {
    return absl::InvalidArgumentError(absl::StrCat(
        "values: ", request.values().size(), " bytes, but the slices hold ",
        total, " float32 values; expected ", total * 4, " bytes"));
  }
  if (!request.worker_id().empty() &&
      !(*job)->dedup.FirstTime(request.worker_id(), request.seq())) {
    *duplicate = true;
    return absl::OkStatus();
  }
  // Protobuf bytes are not guaranteed 4-byte aligned; the update loop reads
  // floats, so go through an aligned copy only when needed.
  const char* raw = request.values().data();
  std::vector<float> aligned;
  if (reinterpret_cast<uintptr_t>(raw) % alignof(float) != 0) {
    aligned.resize(total);
    std::memcpy(aligned.data(), raw, total * 4);
    raw = reinterpret_cast<const char*>(aligned.data());
  }
  const float* grad = reinterpret_cast<const float*>(raw);
  for (int i = 0; i < request.slices_size(); ++i) {
    const v1::DenseSlice& s = request.slices(i);
    (*shards)[i]->Apply(s.offset(), s.count(), grad);
    grad += s.count();
  }
  return absl::OkStatus();
}

std::vector<v1::TableStatus> TableStore::Status() const {
  std::vector<v1::TableStatus> out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [job_id, job] : jobs_) {
    for (const auto& [name, table] : job->tables) {
      v1::TableStatus& t = out.emplace_back();
      t.set_job_id(job_id);
      t.set_table(name);
      for (const auto& shard : table.shards) {
        t.set_values(t.values() + shard->end() - shard->begin());
        t.set_bytes(t.bytes() + shard->bytes());
      }
    }
  }
  return out;
}

}  // namespace ps::server
