#include "coordinator/job_manager.h"

#include <algorithm>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/job_spec.h"
#include "common/job_state.h"
#include "common/logging.h"
#include "common/model_layout.h"
#include "common/partition.h"
#include "coordinator/job_progress.h"

namespace ps::coordinator {
namespace {

std::vector<v1::ServerEndpoint> ServersOf(const v1::Job& job) {
  return {job.partition_map().servers().begin(),
          job.partition_map().servers().end()};
}

}  // namespace

JobManager::JobManager(Membership* members, ServerControl* servers, Clock clock,
                       JobManagerOptions options)
    : members_(members),
      servers_(servers),
      clock_(std::move(clock)),
      options_(options) {}

int64_t JobManager::NowMs() const { return absl::ToUnixMillis(clock_()); }

absl::StatusOr<std::string> JobManager::Submit(const v1::JobSpec& spec) {
  ClusterLimits limits{
      .live_workers = static_cast<int>(members_->Live(v1::WORKER).size()),
      .live_servers = static_cast<int>(members_->Live(v1::SERVER).size())};
  absl::Status s = ValidateJobSpecForCluster(spec, limits);
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  const int64_t n = next_job_++;
  Record& r = jobs_[n];
  r.job.set_id(absl::StrCat("job-", n));
  *r.job.mutable_spec() = spec;
  if (r.job.spec().training().report_every_steps() == 0) {
    r.job.mutable_spec()->mutable_training()->set_report_every_steps(20);
  }
  r.job.set_state(v1::PENDING);
  r.job.set_reason("queued");
  r.job.set_submit_time_ms(NowMs());
  Logger("jobs")->info("{} submitted: {}", r.job.id(), spec.name());
  return r.job.id();
}

const JobManager::Record* JobManager::FindConst(
    const std::string& job_id) const {
  int64_t n = 0;
  if (!absl::StartsWith(job_id, "job-") ||
      !absl::SimpleAtoi(job_id.substr(4), &n)) {
    return nullptr;
  }
  auto it = jobs_.find(n);
  return it == jobs_.end() ? nullptr : &it->second;
}

absl::StatusOr<JobManager::Record*> JobManager::Find(
    const std::string& job_id) {
  const Record* r = FindConst(job_id);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("unknown job '", job_id, "'"));
  }
  return const_cast<Record*>(r);
}

absl::StatusOr<v1::Job> JobManager::Get(const std::string& job_id) const {
  absl::ReaderMutexLock lock(&mu_);
  const Record* r = FindConst(job_id);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("unknown job '", job_id, "'"));
  }
  return r->job;
}

std::vector<v1::Job> JobManager::List() const {
  std::vector<v1::Job> out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [n, r] : jobs_) out.push_back(r.job);
  return out;
}

absl::StatusOr<v1::JobState> JobManager::Cancel(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Record*> r = Find(job_id);
  if (!r.ok()) return r.status();
  if (!IsFinal((*r)->job.state()))
    Finish(*r, v1::CANCELLED, "cancelled by user");
  return (*r)->job.state();
}

absl::StatusOr<std::pair<v1::Job, int64_t>> JobManager::WaitForChange(
    const std::string& job_id, int64_t seen, absl::Duration timeout) const {
  absl::ReaderMutexLock lock(&mu_);
  const Record* r = FindConst(job_id);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("unknown job '", job_id, "'"));
  }
  auto changed = [r, seen] { return r->version != seen; };
  mu_.AwaitWithTimeout(absl::Condition(&changed), timeout);
  return std::make_pair(r->job, r->version);
}

void JobManager::Finish(Record* r, v1::JobState state,
                        const std::string& reason) {
  v1::Job& job = r->job;
  job.set_state(state);
  job.set_reason(reason);
  job.set_end_time_ms(NowMs());
  for (const std::string& w : job.worker_ids()) {
    auto it = busy_.find(w);
    if (it != busy_.end() && it->second == job.id()) busy_.erase(it);
  }
  if (state == v1::SUCCEEDED) {
    kept_.push_back(job.id());
    while (static_cast<int>(kept_.size()) > options_.keep_succeeded_tables) {
      const Record* old = FindConst(kept_.front());
      if (old != nullptr)
        drops_.push_back({ServersOf(old->job), old->job.id()});
      kept_.pop_front();
    }
  } else if (job.partition_map().servers_size() > 0) {
    drops_.push_back({ServersOf(job), job.id()});
  }
  Changed(r);
  Logger("jobs")->info("{} {}: {}", job.id(), v1::JobState_Name(state), reason);
}

void JobManager::FillHeartbeat(const std::string& member_id,
                               v1::HeartbeatResponse* response) const {
  absl::ReaderMutexLock lock(&mu_);
  auto last = last_job_.find(member_id);
  if (last == last_job_.end()) return;
  const Record* r = FindConst(last->second);
  if (r == nullptr) return;
  if (r->job.state() == v1::CANCELLED || r->job.state() == v1::FAILED) {
    response->add_cancelled_job_ids(r->job.id());
    return;
  }
  if (r->job.state() != v1::RUNNING) return;
  for (int rank = 0; rank < r->job.worker_ids_size(); ++rank) {
    if (r->job.worker_ids(rank) != member_id) continue;
    v1::Task* task = response->mutable_task();
    task->set_job_id(r->job.id());
    task->set_rank(rank);
    task->set_num_workers(r->job.worker_ids_size());
    *task->mutable_spec() = r->job.spec();
    *task->mutable_partition_map() = r->job.partition_map();
  }
}

std::string JobManager::JobOfMember(const std::string& member_id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = busy_.find(member_id);
  if (it != busy_.end()) return it->second;
  for (const auto& [n, r] : jobs_) {
    if (IsFinal(r.job.state())) continue;
    for (const auto& s : r.job.partition_map().servers()) {
      if (s.member_id() == member_id) return r.job.id();
    }
  }
  return "";
}

}  // namespace ps::coordinator
