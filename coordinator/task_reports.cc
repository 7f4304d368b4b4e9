#include "coordinator/task_reports.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/auc.h"
#include "coordinator/job_progress.h"

namespace ps::coordinator {

absl::Status CheckRunningRank(const v1::Job& job, int rank,
                              const std::string& member_id) {
  if (job.state() != v1::RUNNING) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id(), " is ", v1::JobState_Name(job.state()),
                     job.reason().empty() ? "" : ": ", job.reason()));
  }
  if (rank < 0 || rank >= job.worker_ids_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rank: ", rank, "; allowed: [0, ", job.worker_ids_size(), ")"));
  }
  if (!member_id.empty() && job.worker_ids(rank) != member_id) {
    const std::string& holder = job.worker_ids(rank);
    return absl::PermissionDeniedError(absl::StrCat(
        "rank ", rank, " of ", job.id(), " belongs to ",
        holder.empty() ? "no worker (it waits for one to take it over)"
                       : holder,
        ", not ", member_id));
  }
  return absl::OkStatus();
}

absl::Status ValidateEvaluation(const v1::CompleteTaskRequest& request) {
  if (request.test_examples() < 0 || request.test_correct() < 0 ||
      request.test_correct() > request.test_examples()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "test_correct ", request.test_correct(), " and test_examples ",
        request.test_examples(), "; allowed: 0 <= correct <= examples"));
  }
  if (request.score_hist_pos_size() != request.score_hist_neg_size() ||
      (request.score_hist_pos_size() != 0 &&
       request.score_hist_pos_size() != kAucBins)) {
    return absl::InvalidArgumentError(
        absl::StrCat("score_hist_pos has ", request.score_hist_pos_size(),
                     " bins and score_hist_neg ", request.score_hist_neg_size(),
                     "; allowed: both empty or both ", kAucBins));
  }
  if (request.rounds_size() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rounds: ", request.rounds_size(), " entries; allowed: at most 1000"));
  }
  for (const v1::RoundEvaluation& e : request.rounds()) {
    if (e.round() < 1 || e.round() > 1000 || e.test_examples() < 0 ||
        e.test_correct() < 0 || e.test_correct() > e.test_examples() ||
        e.clients_size() > 4096) {
      return absl::InvalidArgumentError(absl::StrCat(
          "rounds: round ", e.round(), " with test_correct ", e.test_correct(),
          " of test_examples ", e.test_examples(), " and ", e.clients_size(),
          " clients; allowed: round in [1, 1000], 0 <= correct <= examples, "
          "at most 4096 clients"));
    }
  }
  for (int i = 0; i < request.members_size(); ++i) {
    const v1::MemberEvaluation& m = request.members(i);
    if (m.test_correct() < 0 || m.test_correct() > request.test_examples() ||
        !(m.weight() >= 0 && m.weight() <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "members[", i, "]: test_correct ", m.test_correct(), ", weight ",
          m.weight(), "; allowed: 0 <= correct <= test_examples ",
          request.test_examples(), ", weight in [0, 1]"));
    }
  }
  for (int b = 0; b < request.score_hist_pos_size(); ++b) {
    if (request.score_hist_pos(b) < 0 || request.score_hist_neg(b) < 0) {
      return absl::InvalidArgumentError(absl::StrCat(
          "score histogram bin ", b, " is negative; allowed: counts >= 0"));
    }
  }
  return absl::OkStatus();
}

TaskReports::TaskReports(int ranks)
    : progress_(ranks), completed_(ranks), done_(ranks, false) {}

void TaskReports::SaveTo(v1::StoredJob* stored) const {
  for (const auto& p : progress_) *stored->add_progress() = p;
  for (const auto& c : completed_) *stored->add_completed() = c;
  for (bool d : done_) stored->add_done(d);
  for (const auto& [name, ranks] : barriers_) {
    v1::StoredJob::Barrier* b = stored->add_barriers();
    b->set_name(name);
    for (int rank : ranks) b->add_ranks(rank);
  }
}

TaskReports TaskReports::Restore(const v1::StoredJob& stored) {
  TaskReports t;
  t.progress_.assign(stored.progress().begin(), stored.progress().end());
  t.completed_.assign(stored.completed().begin(), stored.completed().end());
  t.done_.assign(stored.done().begin(), stored.done().end());
  // A stored job is ours, but sizes that disagree must not index out of
  // range: every per-rank list takes the job's rank count.
  const size_t ranks = stored.job().worker_ids_size();
  if (t.progress_.size() != ranks || t.completed_.size() != ranks ||
      t.done_.size() != ranks) {
    return stored.job().state() == v1::PENDING ? TaskReports()
                                                : TaskReports(ranks);
  }
  for (const v1::StoredJob::Barrier& b : stored.barriers()) {
    t.barriers_[b.name()].insert(b.ranks().begin(), b.ranks().end());
  }
  return t;
}

v1::JobProgress TaskReports::AddProgress(
    const v1::ReportProgressRequest& request, int batch_size) {
  progress_[request.rank()] = request;
  return AggregateProgress(progress_, batch_size);
}

bool TaskReports::Arrive(const std::string& name, int rank) {
  return barriers_[name].insert(rank).second;
}

bool TaskReports::AllArrived(const std::string& name) const {
  auto it = barriers_.find(name);
  const size_t arrived = it == barriers_.end() ? 0 : it->second.size();
  return arrived == done_.size();
}

std::vector<int> TaskReports::Missing(const std::string& name) const {
  auto it = barriers_.find(name);
  std::vector<int> missing;
  for (int rank = 0; rank < static_cast<int>(done_.size()); ++rank) {
    if (it == barriers_.end() || !it->second.count(rank)) {
      missing.push_back(rank);
    }
  }
  return missing;
}

bool TaskReports::Complete(const v1::CompleteTaskRequest& request) {
  completed_[request.rank()] = request;
  done_[request.rank()] = true;
  return std::find(done_.begin(), done_.end(), false) == done_.end();
}

v1::JobResult TaskReports::Result() const {
  return CombineEvaluations(completed_);
}

}  // namespace ps::coordinator
