#include "server/table_store.h"

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/initializer.h"

namespace ps::server {
namespace {

absl::Status ValidateDef(const v1::TableDef& def) {
  if (def.name().empty()) {
    return absl::InvalidArgumentError("table name is empty");
  }
  if (def.size() <= 0 || def.size() > (int64_t{1} << 36)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table ", def.name(), ": size ", def.size(), "; allowed: [1, 2^36]"));
  }
  absl::Status s = ValidateInitializer(def.init());
  if (!s.ok())
    return absl::InvalidArgumentError(
        absl::StrCat("table ", def.name(), ": ", s.message()));
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateConsistency(const v1::CreateTablesRequest& request) {
  const v1::Consistency mode = request.consistency();
  if (!v1::Consistency_IsValid(mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency: ", mode, "; allowed: ASP, BSP, SSP"));
  }
  if (request.staleness() < 0 || request.staleness() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "staleness: ", request.staleness(), "; allowed: [0, 1000]"));
  }
  if ((mode == v1::BSP || mode == v1::SSP) && request.worker_ids().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("worker_ids: empty; ",
                                                   v1::Consistency_Name(mode),
                                                   " needs the job's workers"));
  }
  absl::flat_hash_set<std::string> seen;
  for (const std::string& w : request.worker_ids()) {
    if (w.empty() || !seen.insert(w).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("worker_ids: '", w, "' is empty or repeated"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::shared_ptr<TableStore::JobTables>> TableStore::Build(
    const v1::CreateTablesRequest& request) {
  absl::Status valid = ValidateConsistency(request);
  if (!valid.ok()) return valid;
  auto job = std::make_shared<JobTables>();
  job->epoch = request.epoch();
  job->num_workers = request.worker_ids_size();
  job->clock = std::make_unique<JobClock>(
      request.consistency(), request.staleness(),
      std::vector<std::string>(request.worker_ids().begin(),
                               request.worker_ids().end()));
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
  if (job->clock->mode() == v1::BSP) {
    std::vector<DenseShard*> shards;
    for (auto& [name, table] : job->tables) {
      for (auto& shard : table.shards) shards.push_back(shard.get());
    }
    job->bsp = std::make_unique<BspAccumulator>(shards);
    job->bytes *= 2;  // the sums mirror the values
  }
  return job;
}

absl::Status TableStore::CreateTables(const v1::CreateTablesRequest& request) {
  if (request.job_id().empty()) {
    return absl::InvalidArgumentError("job_id is empty");
  }
  int64_t planned = 0;
  for (const v1::DenseRange& r : request.ranges())
    planned += (r.end() - r.begin()) * 4;
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
  it->second->clock->Close();
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

absl::StatusOr<int64_t> PullPlan::Await(absl::Time deadline) const {
  return clock_->AwaitPull(pull_clock_, deadline);
}

void PullPlan::Read(char* out) const {
  for (const Slice& s : slices_) {
    s.shard->Read(s.offset, s.count, out);
    out += s.count * int64_t{sizeof(float)};
  }
}

absl::StatusOr<PullPlan> TableStore::PlanPull(
    const v1::PullRequest& request) const {
  absl::StatusOr<std::shared_ptr<JobTables>> job =
      Find(request.job_id(), request.epoch());
  if (!job.ok()) return job.status();
  PullPlan plan;
  absl::StatusOr<std::vector<DenseShard*>> shards =
      Resolve(**job, request.slices(), &plan.values_);
  if (!shards.ok()) return shards.status();
  plan.clock_ = (*job)->clock.get();
  plan.pull_clock_ = request.clock();
  plan.slices_.reserve(shards->size());
  for (int i = 0; i < request.slices_size(); ++i) {
    const v1::DenseSlice& s = request.slices(i);
    plan.slices_.push_back({(*shards)[i], s.offset(), s.count()});
  }
  plan.job_ = *std::move(job);
  return plan;
}

absl::Status TableStore::Pull(const v1::PullRequest& request,
                              absl::Time deadline,
                              v1::PullResponse* response) const {
  absl::StatusOr<PullPlan> plan = PlanPull(request);
  if (!plan.ok()) return plan.status();
  absl::StatusOr<int64_t> staleness = plan->Await(deadline);
  if (!staleness.ok()) return staleness.status();
  response->set_staleness(*staleness);
  std::string* values = response->mutable_values();
  values->resize(plan->values() * sizeof(float));
  plan->Read(values->data());
  return absl::OkStatus();
}

absl::Status TableStore::Push(const v1::PushRequest& request, bool* duplicate) {
  return Push(request, ValuePieces({absl::string_view(request.values())}),
              duplicate);
}

absl::Status TableStore::Push(const v1::PushRequest& request,
                              const ValuePieces& values, bool* duplicate) {
  *duplicate = false;
  absl::StatusOr<std::shared_ptr<JobTables>> found =
      Find(request.job_id(), request.epoch());
  if (!found.ok()) return found.status();
  JobTables& job = **found;
  int64_t total = 0;
  absl::StatusOr<std::vector<DenseShard*>> shards =
      Resolve(job, request.slices(), &total);
  if (!shards.ok()) return shards.status();
  if (values.bytes() != total * 4) {
    return absl::InvalidArgumentError(
        absl::StrCat("values: ", values.bytes(), " bytes, but the slices hold ",
                     total, " float32 values; expected ", total * 4, " bytes"));
  }
  if (int64_t bad = values.FirstNonFinite(); bad >= 0) {
    ++job.pushes_rejected_nonfinite;
    return absl::InvalidArgumentError(
        absl::StrCat("values: value ", bad, " of the push is ", values.At(bad),
                     "; allowed: finite numbers (the push was not applied)"));
  }
  if (request.worker_id().empty()) {
    if (job.clock->mode() != v1::ASP) {
      return absl::InvalidArgumentError(
          "worker_id: empty; BSP and SSP pushes must name their worker");
    }
  } else {
    if (job.num_workers > 0) {
      absl::Status s = job.clock->CheckPush(
          request.worker_id(), request.clock(), request.clock_pushes());
      if (!s.ok()) return s;
    }
    if (!job.dedup.FirstTime(request.worker_id(), request.seq())) {
      *duplicate = true;
      return absl::OkStatus();
    }
  }
  return ApplyPush(job, request, *shards, values);
}

absl::Status TableStore::ApplyPush(JobTables& job,
                                   const v1::PushRequest& request,
                                   const std::vector<DenseShard*>& shards,
                                   const ValuePieces& values) {
  int64_t first = 0;  // of the slice's values in `values`
  for (int i = 0; i < request.slices_size(); ++i) {
    const v1::DenseSlice& s = request.slices(i);
    if (job.bsp) {
      values.ForEachRun(first, s.count(),
                        [&](int64_t at, const float* grad, int64_t n) {
                          job.bsp->Add(shards[i], s.offset() + at, n, grad);
                        });
    } else {
      shards[i]->Apply(s.offset(), s.count(), values, first);
    }
    first += s.count();
  }
  ++job.pushes_applied;
  // Jobs created without their workers (tools, benchmarks) track no clocks.
  if (request.worker_id().empty() || job.num_workers == 0)
    return absl::OkStatus();
  bool all_finished = false;
  absl::Status s = job.clock->RecordPush(request.worker_id(), request.clock(),
                                         request.clock_pushes(), &all_finished);
  if (s.ok() && all_finished && job.bsp) {
    job.bsp->ApplyAndReset(1.0f / job.num_workers);
    job.clock->Published(request.clock() + 1);
  }
  return s;
}

std::vector<v1::JobServerStats> TableStore::JobStats() const {
  std::vector<v1::JobServerStats> out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [job_id, job] : jobs_) {
    v1::JobServerStats& s = out.emplace_back();
    s.set_job_id(job_id);
    s.set_pushes_applied(job->pushes_applied.load());
    s.set_pushes_rejected_nonfinite(job->pushes_rejected_nonfinite.load());
    PullStats pulls = job->clock->stats();
    s.set_pulls(pulls.pulls);
    s.set_pulls_waited(pulls.waited);
    s.set_max_staleness(pulls.max_staleness);
    if (pulls.pulls > 0) {
      s.set_mean_staleness(static_cast<double>(pulls.staleness_sum) /
                           pulls.pulls);
    }
  }
  return out;
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
