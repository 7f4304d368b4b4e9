// JobManager, worker replacement: a running job's rank whose worker lost its
// lease is handed to an idle worker, which resumes at the rank's last
// reported step under the rank's original worker id (Task.push_worker_id,
// Task.resume_step). See rank_handover.h and docs/design.md.
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "coordinator/job_manager.h"

namespace ps::coordinator {

std::vector<std::string> JobManager::IdleWorkers() const {
  std::vector<std::string> idle;
  for (const MemberInfo& w : members_->Live(v1::WORKER)) {
    if (!busy_.contains(w.id)) idle.push_back(w.id);
  }
  return idle;
}

void JobManager::ReserveForVacantRanks(std::vector<std::string>* idle) const {
  size_t vacant = 0;
  for (const auto& [n, r] : jobs_) {
    if (r.job.state() == v1::RUNNING) vacant += r.handovers.vacancies();
  }
  idle->resize(idle->size() - std::min(vacant, idle->size()));
}

bool JobManager::VacateRank(Record* r, const MemberInfo& lost) {
  v1::Job& job = r->job;
  auto held =
      std::find(job.worker_ids().begin(), job.worker_ids().end(), lost.id);
  if (held == job.worker_ids().end()) return false;
  const int rank = static_cast<int>(held - job.worker_ids().begin());
  busy_.erase(lost.id);
  if (r->tasks.Completed(rank)) {
    Logger("jobs")->info("{}: {} (rank {}, completed) lost its lease", job.id(),
                         lost.id, rank);
    return true;
  }
  job.set_worker_ids(rank, "");
  r->handovers.Vacate(rank, lost, clock_());
  job.set_reason(r->handovers.Waiting(options_.worker_replace_timeout));
  Changed(r);
  Logger("jobs")->warn("{}: {}", job.id(), job.reason());
  return true;
}

void JobManager::FillVacantRanks() {
  absl::MutexLock lock(&mu_);
  std::vector<std::string> idle;
  bool listed = false;
  for (auto& [n, r] : jobs_) {
    if (r.job.state() != v1::RUNNING || !r.handovers.HasVacancy()) continue;
    if (const VacantRank* late =
            r.handovers.Overdue(clock_(), options_.worker_replace_timeout)) {
      Finish(&r, v1::FAILED,
             NoReplacementReason(*late, options_.worker_replace_timeout));
      continue;
    }
    if (!listed) {  // membership is asked only when a rank waits
      idle = IdleWorkers();
      std::reverse(idle.begin(), idle.end());  // taken from the back
      listed = true;
    }
    if (idle.empty()) continue;
    while (r.handovers.HasVacancy() && !idle.empty()) {
      const std::string worker = idle.back();
      idle.pop_back();
      // Steps after the last reported one may have been pushed, on some
      // servers or all: the new worker sends them again under the same
      // sequence numbers, and the servers that have them answer duplicate.
      const int64_t step = r.tasks.ReportedStep(r.handovers.OldestRank());
      const VacantRank taken = r.handovers.Fill(step);
      r.job.set_worker_ids(taken.rank, worker);
      busy_[worker] = r.job.id();
      last_job_[worker] = r.job.id();
      ++events_.ranks_handed_over;
      Logger("jobs")->info(
          "{}: rank {} (lost {}) taken over by {} from step {}, pushing as {}",
          r.job.id(), taken.rank, taken.lost_id, worker, step,
          r.job.push_worker_ids(taken.rank));
    }
    r.job.set_reason(r.handovers.HasVacancy()
                         ? r.handovers.Waiting(options_.worker_replace_timeout)
                         : "");
    Changed(&r);
  }
}

}  // namespace ps::coordinator
