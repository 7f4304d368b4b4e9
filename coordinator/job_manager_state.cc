// JobManager's durability: storing each change of a job, and bringing the
// jobs back in a restarted coordinator (job_manager.h, "Durability").
#include <algorithm>
#include <utility>

#include "absl/strings/numbers.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/job_state.h"
#include "common/logging.h"
#include "coordinator/job_manager.h"
#include "coordinator/job_placement.h"

namespace ps::coordinator {

namespace {
// How long a progress report may stay unstored: progress comes many times
// a second from a large job, and a synchronous store of each would make the
// coordinator as slow as the disk's fsync.
constexpr absl::Duration kProgressSaveEvery = absl::Seconds(1);
}  // namespace

void JobManager::Changed(Record* r) {
  ++r->version;
  Save(*r);
}

void JobManager::ProgressChanged(Record* r) {
  ++r->version;
  r->unsaved_progress = true;
}

void JobManager::SaveProgress() {
  if (options_.store == nullptr) return;
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  for (auto& [n, r] : jobs_) {
    if (r.unsaved_progress && now - r.saved >= kProgressSaveEvery) Save(r);
  }
}

bool JobManager::Save(const Record& r) {
  if (options_.store == nullptr) return true;
  v1::StoredJob stored;
  *stored.mutable_job() = r.job;
  r.tasks.SaveTo(&stored);
  r.handovers.SaveTo(&stored);
  for (const v1::ServerEndpoint& e : r.drop_on) *stored.add_drop_on() = e;
  stored.set_job_key(r.job_key);
  *stored.mutable_history() = r.history;
  absl::Status s =
      options_.store->SaveJob(r.number, stored, next_job_, next_epoch_);
  r.unsaved_progress = false;
  r.saved = clock_();
  if (!s.ok()) {
    Logger("jobs")->error("{}: not stored: {}", r.job.id(), s.ToString());
  }
  return s.ok();
}

void JobManager::QueueDrop(Record* r, std::vector<v1::ServerEndpoint> servers) {
  r->drop_on = servers;
  drops_.push_back({std::move(servers), r->job.id()});
}

void JobManager::Restore(const StoredState& state) {
  absl::MutexLock lock(&mu_);
  next_job_ = std::max<int64_t>(next_job_, state.next_job);
  next_epoch_ = std::max<uint64_t>(next_epoch_, state.next_epoch);
  for (const v1::StoredJob& stored : state.jobs) RestoreJob(stored);
  // The latest successes keep their tables (the older ones' drops were
  // queued, and stored, when they fell out).
  for (auto& [n, r] : jobs_) {
    if (r.job.state() == v1::SUCCEEDED && r.drop_on.empty()) {
      kept_.push_back(r.job.id());
      QueueSeal(&r);
    }
  }
  while (static_cast<int>(kept_.size()) > options_.keep_succeeded_tables) {
    kept_.pop_front();
  }
  int running = 0, pending = 0;
  for (const auto& [n, r] : jobs_) {
    running += r.job.state() == v1::RUNNING;
    pending += r.job.state() == v1::PENDING;
  }
  Logger("jobs")->info(
      "restored {} jobs ({} running, {} queued); next job-{}, next epoch {}",
      jobs_.size(), running, pending, next_job_, next_epoch_);
}

void JobManager::RestoreJob(const v1::StoredJob& stored) {
  int64_t n = 0;
  const std::string& id = stored.job().id();
  if (!absl::StartsWith(id, "job-") || !absl::SimpleAtoi(id.substr(4), &n) ||
      n <= 0) {
    Logger("jobs")->error("stored job with a malformed id '{}' skipped", id);
    return;
  }
  Record& r = jobs_[n];
  r.number = n;
  r.job = stored.job();
  r.job_key = stored.job_key();
  r.history = stored.history();
  r.tasks = TaskReports::Restore(stored);
  r.handovers = RankHandovers::Restore(stored);
  next_job_ = std::max(next_job_, n + 1);
  next_epoch_ = std::max(next_epoch_, r.job.partition_map().epoch() + 1);
  if (!stored.drop_on().empty()) {
    QueueDrop(&r, {stored.drop_on().begin(), stored.drop_on().end()});
  }
  if (r.job.state() == v1::PENDING && r.job.partition_map().servers_size()) {
    // It was creating its tables: drop what was made, queue it again.
    QueueDrop(&r, ServersOfJob(r.job));
    r.job.clear_partition_map();
    r.job.clear_worker_ids();
    r.job.clear_push_worker_ids();
    r.job.set_reason("queued (the coordinator restarted while it was "
                     "creating its tables)");
    Save(r);
    return;
  }
  for (const std::string& w : r.job.worker_ids()) {
    if (w.empty()) continue;
    last_job_[w] = id;
    if (r.job.state() == v1::RUNNING) busy_[w] = id;
  }
  // SetReplicas again at the job's epoch: a failover's calls may not all
  // have been made before the restart (servers take the same epoch again).
  if (r.job.state() == v1::RUNNING) QueueReplicaUpdates(r);
}

}  // namespace ps::coordinator
