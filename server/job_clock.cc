#include "server/job_clock.h"

#include <algorithm>
#include <climits>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ps::server {

JobClock::JobClock(v1::Consistency mode, int staleness,
                   const std::vector<std::string>& worker_ids)
    : mode_(mode == v1::CONSISTENCY_UNSPECIFIED ? v1::ASP : mode),
      staleness_(mode == v1::BSP ? 0 : staleness) {
  for (size_t rank = 0; rank < worker_ids.size(); ++rank) {
    workers_[worker_ids[rank]].rank = static_cast<int>(rank);
  }
}

absl::Status JobClock::CheckPush(const std::string& worker, int64_t clock,
                                 int32_t clock_pushes) const {
  absl::MutexLock lock(&mu_);
  return Check(worker, clock, clock_pushes);
}

absl::Status JobClock::Check(const std::string& worker, int64_t clock,
                             int32_t clock_pushes) const {
  auto it = workers_.find(worker);
  if (it == workers_.end()) {
    return absl::InvalidArgumentError(
        absl::StrCat("worker_id '", worker, "' is not a worker of this job"));
  }
  if (clock_pushes < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("clock_pushes: ", clock_pushes, "; allowed: >= 1"));
  }
  const Worker& w = it->second;
  if (clock != w.finished) {
    return absl::FailedPreconditionError(absl::StrCat(
        "push for clock ", clock, " from ", worker, " (rank ", w.rank,
        "), whose next clock on this server is ", w.finished));
  }
  if (w.received >= clock_pushes) {
    return absl::FailedPreconditionError(
        absl::StrCat("more than the announced ", clock_pushes,
                     " pushes for clock ", clock, " from ", worker));
  }
  return absl::OkStatus();
}

absl::Status JobClock::RecordPush(const std::string& worker, int64_t clock,
                                  int32_t clock_pushes, bool* all_finished) {
  *all_finished = false;
  absl::MutexLock lock(&mu_);
  absl::Status s = Check(worker, clock, clock_pushes);
  if (!s.ok()) return s;
  Worker& w = workers_[worker];
  if (++w.received < clock_pushes) return absl::OkStatus();
  w.received = 0;
  ++w.finished;
  *all_finished =
      std::all_of(workers_.begin(), workers_.end(),
                  [&](const auto& e) { return e.second.finished > clock; });
  return absl::OkStatus();
}

void JobClock::Published(int64_t applied) {
  absl::MutexLock lock(&mu_);
  published_ = std::max(published_, applied);
}

int64_t JobClock::GateClock() const {
  if (mode_ == v1::BSP) return published_;
  int64_t slowest = LLONG_MAX;
  for (const auto& [id, w] : workers_) slowest = std::min(slowest, w.finished);
  return workers_.empty() ? LLONG_MAX : slowest;
}

std::string JobClock::Laggards(int64_t needed) const {
  std::vector<std::string> slow;
  for (const auto& [id, w] : workers_) {
    if (w.finished < needed) {
      slow.push_back(
          absl::StrCat(id, " (rank ", w.rank, ") at clock ", w.finished));
    }
  }
  std::sort(slow.begin(), slow.end());
  return absl::StrJoin(slow, ", ");
}

absl::StatusOr<int64_t> JobClock::AwaitPull(int64_t clock,
                                            absl::Time deadline) {
  absl::MutexLock lock(&mu_);
  const int64_t needed = clock - staleness_;
  bool waited = false;
  if (mode_ != v1::ASP) {
    auto ready = [&] { return closed_ || GateClock() >= needed; };
    waited = !ready();
    if (!mu_.AwaitWithDeadline(absl::Condition(&ready), deadline)) {
      return absl::DeadlineExceededError(
          absl::StrCat("pull at clock ", clock, " timed out waiting for clock ",
                       needed, " of: ", Laggards(needed)));
    }
    if (closed_) return absl::AbortedError("the job's tables were dropped");
  }
  const int64_t gate = GateClock();
  const int64_t staleness =
      gate == LLONG_MAX ? 0 : std::max<int64_t>(0, clock - gate);
  ++stats_.pulls;
  stats_.waited += waited;
  stats_.max_staleness = std::max(stats_.max_staleness, staleness);
  stats_.staleness_sum += staleness;
  return staleness;
}

void JobClock::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
}

PullStats JobClock::stats() const {
  absl::MutexLock lock(&mu_);
  return stats_;
}

JobClock::State JobClock::Export() const {
  State state;
  absl::MutexLock lock(&mu_);
  state.published = published_;
  for (const auto& [id, w] : workers_) {
    state.workers.push_back({id, w.rank, w.finished, w.received});
  }
  std::sort(
      state.workers.begin(), state.workers.end(),
      [](const WorkerState& a, const WorkerState& b) { return a.id < b.id; });
  return state;
}

void JobClock::Restore(const State& state) {
  absl::MutexLock lock(&mu_);
  ABSL_RAW_CHECK(state.workers.size() == workers_.size(),
                 "JobClock::Restore: not this clock's workers");
  for (const WorkerState& ws : state.workers) {
    auto it = workers_.find(ws.id);
    ABSL_RAW_CHECK(it != workers_.end() && it->second.rank == ws.rank,
                   "JobClock::Restore: not this clock's workers");
    it->second.finished = ws.finished;
    it->second.received = ws.received;
  }
  published_ = state.published;
  // Unlocking re-evaluates the conditions of waiting pulls.
}

}  // namespace ps::server
