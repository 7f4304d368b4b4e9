#include "coordinator/job_manager.h"

#include <algorithm>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/job_spec.h"
#include "common/job_state.h"
#include "common/job_token.h"
#include "common/logging.h"
#include "common/model_layout.h"
#include "common/partition.h"
#include "coordinator/job_history.h"
#include "coordinator/job_placement.h"

namespace ps::coordinator {
namespace {

// What group g holds, for messages: its dense ranges and sparse partitions.
std::string GroupPieces(const v1::PartitionMap& map, int g) {
  std::vector<std::string> pieces;
  for (const v1::DenseRange& r : map.ranges()) {
    if (r.server_index() != g) continue;
    pieces.push_back(absl::StrCat(r.table(), "[", r.begin(), ", ", r.end(), ")"));
  }
  int partitions = 0;
  for (int s : map.partition_servers()) partitions += s == g;
  if (partitions > 0) {
    pieces.push_back(absl::StrCat(partitions, " of ", map.sparse_partitions(),
                                  " sparse partitions"));
  }
  return pieces.empty() ? "nothing" : absl::StrJoin(pieces, ", ");
}

}  // namespace

JobManager::JobManager(Membership* members, ServerControl* servers, Clock clock,
                       JobManagerOptions options)
    : members_(members),
      servers_(servers),
      clock_(std::move(clock)),
      options_(options) {}

int64_t JobManager::NowMs() const { return absl::ToUnixMillis(clock_()); }

// ---- Jobs: submit, look up, cancel, watch; the state machine ----

absl::StatusOr<std::string> JobManager::Submit(const v1::JobSpec& spec,
                                               const std::string& owner) {
  ClusterLimits limits{
      .live_workers = static_cast<int>(members_->Live(v1::WORKER).size()),
      .live_servers = static_cast<int>(members_->Live(v1::SERVER).size())};
  absl::Status s = ValidateJobSpecForCluster(spec, limits);
  if (!s.ok()) return s;
  absl::MutexLock lock(&mu_);
  const int64_t n = next_job_++;
  Record& r = jobs_[n];
  r.number = n;
  r.job.set_id(absl::StrCat("job-", n));
  *r.job.mutable_spec() = spec;
  if (r.job.spec().training().report_every_steps() == 0) {
    r.job.mutable_spec()->mutable_training()->set_report_every_steps(20);
  }
  r.job.set_state(v1::PENDING);
  r.job.set_reason("queued");
  r.job.set_submit_time_ms(NowMs());
  r.job.set_owner(owner);
  if (options_.job_tokens) {
    absl::StatusOr<std::string> key = NewJobKey();
    if (!key.ok()) {
      jobs_.erase(n);
      return key.status();
    }
    r.job_key = *std::move(key);
  }
  if (!Save(r)) {
    jobs_.erase(n);
    return absl::UnavailableError(
        "the coordinator could not store the job (see its log); try again");
  }
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

absl::StatusOr<v1::JobHistory> JobManager::History(const std::string& job_id,
                                                   int max_points) const {
  absl::ReaderMutexLock lock(&mu_);
  const Record* r = FindConst(job_id);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("unknown job '", job_id, "'"));
  }
  v1::JobHistory history = Thin(r->history, max_points);
  history.set_job_id(r->job.id());
  return history;
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
    QueueSeal(r);
    kept_.push_back(job.id());
    while (static_cast<int>(kept_.size()) > options_.keep_succeeded_tables) {
      absl::StatusOr<Record*> old = Find(kept_.front());
      if (old.ok()) {
        QueueDrop(*old, ServersOfJob((*old)->job));
        Save(**old);
      }
      kept_.pop_front();
    }
  } else if (job.partition_map().servers_size() > 0) {
    QueueDrop(r, ServersOfJob(job));
  }
  if (job.progress().step() > 0) {
    RecordProgress(job.progress(), clock_(), &r->history);
  }
  Changed(r);
  Logger("jobs")->info("{} {}: {}", job.id(), v1::JobState_Name(state), reason);
}

// ---- Worker side: tasks, progress, barriers, completion ----

void JobManager::FillHeartbeat(const std::string& member_id,
                               v1::HeartbeatResponse* response) const {
  absl::ReaderMutexLock lock(&mu_);
  auto last = last_job_.find(member_id);
  if (last == last_job_.end()) return;
  const Record* r = FindConst(last->second);
  if (r == nullptr) return;
  // A job queued again (resumed) stops its earlier attempt's tasks too.
  if (r->job.state() == v1::CANCELLED || r->job.state() == v1::FAILED ||
      (r->job.state() == v1::PENDING && r->job.attempt() > 0)) {
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
    if (rank < r->job.push_worker_ids_size()) {
      task->set_push_worker_id(r->job.push_worker_ids(rank));
    }
    task->set_resume_step(
        std::max(r->job.resume_step(), r->handovers.ResumeStep(rank)));
    task->set_attempt(r->job.attempt());
    if (!r->job_key.empty()) {
      v1::JobTokenClaims claims;
      claims.set_rank(rank);
      claims.set_worker_id(task->push_worker_id().empty()
                               ? member_id
                               : task->push_worker_id());
      task->set_job_token(MintToken(*r, std::move(claims)));
    }
  }
}

std::string JobManager::MintToken(const Record& r,
                                  v1::JobTokenClaims claims) const {
  claims.set_job_id(r.job.id());
  claims.set_attempt(r.job.attempt());
  // Real time, not clock_: servers check the expiry against theirs.
  claims.set_expires_unix_ms(
      absl::ToUnixMillis(absl::Now() + options_.token_ttl));
  return MintJobToken(claims, r.job_key);
}

absl::StatusOr<v1::GetJobTokenResponse> JobManager::ReadToken(
    const std::string& job_id) const {
  absl::ReaderMutexLock lock(&mu_);
  const Record* r = FindConst(job_id);
  if (r == nullptr) {
    return absl::NotFoundError(absl::StrCat("no job ", job_id));
  }
  if (r->job_key.empty()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job_id, " has no token key: the cluster runs without TLS "
        "and its servers check no tokens"));
  }
  v1::JobTokenClaims claims;
  claims.set_rank(-1);
  claims.set_read_only(true);
  v1::GetJobTokenResponse out;
  out.set_token(MintToken(*r, claims));
  out.set_expires_unix_ms(absl::ToUnixMillis(absl::Now() + options_.token_ttl));
  return out;
}

std::string JobManager::JobKey(const std::string& job_id) const {
  absl::ReaderMutexLock lock(&mu_);
  const Record* r = FindConst(job_id);
  return r == nullptr ? "" : r->job_key;
}

std::string JobManager::JobOfMember(const std::string& member_id) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = busy_.find(member_id);
  if (it != busy_.end()) return it->second;
  for (const auto& [n, r] : jobs_) {
    if (IsFinal(r.job.state())) continue;
    for (const auto& s : ServersOfJob(r.job)) {
      if (s.member_id() == member_id) return r.job.id();
    }
  }
  return "";
}

absl::StatusOr<JobManager::Record*> JobManager::FindRunningRank(
    const std::string& job_id, int rank, const std::string& member_id) {
  absl::StatusOr<Record*> r = Find(job_id);
  if (!r.ok()) return r.status();
  if (absl::Status s = CheckRunningRank((*r)->job, rank, member_id); !s.ok()) {
    return s;
  }
  return *r;
}

absl::Status JobManager::ReportProgress(
    const v1::ReportProgressRequest& request) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Record*> r =
      FindRunningRank(request.job_id(), request.rank(), request.member_id());
  if (!r.ok()) return r.status();
  *(*r)->job.mutable_progress() = (*r)->tasks.AddProgress(
      request, (*r)->job.spec().training().batch_size());
  RecordProgress((*r)->job.progress(), clock_(), &(*r)->history);
  ProgressChanged(*r);
  return absl::OkStatus();
}

absl::Status JobManager::Barrier(const v1::BarrierRequest& request) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Record*> found =
      FindRunningRank(request.job_id(), request.rank(), "");
  if (!found.ok()) return found.status();
  Record* r = *found;
  // Workers ask again every second while they wait: only a new arrival is a
  // change (each change is sent to every WatchJob stream).
  if (r->tasks.Arrive(request.name(), request.rank())) Changed(r);
  auto done = [r, &request] {
    return r->tasks.AllArrived(request.name()) || r->job.state() != v1::RUNNING;
  };
  const absl::Duration timeout = request.timeout_ms() > 0
                                     ? absl::Milliseconds(request.timeout_ms())
                                     : options_.barrier_timeout;
  if (!mu_.AwaitWithTimeout(absl::Condition(&done), timeout)) {
    return BarrierTimedOut(request, *r, timeout);
  }
  if (r->job.state() != v1::RUNNING) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", request.job_id(), " is ",
                     v1::JobState_Name(r->job.state()), ": ", r->job.reason()));
  }
  return absl::OkStatus();
}

absl::Status JobManager::BarrierTimedOut(const v1::BarrierRequest& request,
                                         const Record& r,
                                         absl::Duration timeout) const {
  std::vector<std::string> missing;
  for (int rank : r.tasks.Missing(request.name())) {
    missing.push_back(absl::StrCat(rank, " (", r.job.worker_ids(rank), ")"));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("barrier '", request.name(), "' of ", request.job_id(),
                   " timed out after ", absl::FormatDuration(timeout),
                   "; missing ranks: ", absl::StrJoin(missing, ", ")));
}

absl::Status JobManager::CompleteTask(const v1::CompleteTaskRequest& request) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Record*> found =
      FindRunningRank(request.job_id(), request.rank(), request.member_id());
  if (!found.ok()) return found.status();
  Record* r = *found;
  if (request.attempt() != r->job.attempt()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "completion of attempt ", request.attempt(), " of ", request.job_id(),
        "; the job is at attempt ", r->job.attempt()));
  }
  if (request.failed()) {
    Finish(r, v1::FAILED,
           absl::StrCat("rank ", request.rank(), " (", request.member_id(),
                        ") failed: ", request.reason()));
    return absl::OkStatus();
  }
  if (absl::Status s = ValidateEvaluation(request); !s.ok()) return s;
  if (!r->tasks.Complete(request)) {
    Changed(r);
    return absl::OkStatus();
  }
  v1::JobResult result = r->tasks.Result();
  result.set_train_seconds((NowMs() - r->job.start_time_ms()) / 1000.0);
  *r->job.mutable_result() = result;
  Finish(r, v1::SUCCEEDED,
         IsSparseModel(r->job.spec().model().type())
             ? absl::StrCat("test AUC ", result.test_auc())
             : absl::StrCat("test accuracy ", result.test_accuracy()));
  return absl::OkStatus();
}

// ---- Periodic work: lease expiry, starting pending jobs, dropping the
// tables of ended jobs ----

void JobManager::ExpireLeases() {
  FailJobsOf(members_->Expire());
  FillVacantRanks();
  SaveProgress();
}

void JobManager::RunServerWork() {
  // Drops first: after a restart, a job that was creating its tables has
  // them dropped before it is placed again.
  RunDrops();
  RunSeals();
  StartNextPending();
}

void JobManager::Tick() {
  ExpireLeases();
  RunReplicaUpdates();
  RunServerWork();
}

void JobManager::FailJobsOf(const std::vector<MemberInfo>& dead) {
  if (dead.empty()) return;
  absl::MutexLock lock(&mu_);
  for (const MemberInfo& m : dead) FailJobsOfMember(m);
}

void JobManager::FailJobsOfMember(const MemberInfo& m) {
  Logger("jobs")->warn("{} at {} lost its lease", m.id, m.address);
  for (auto& [n, r] : jobs_) {
    // A PENDING job with a partition map is creating its tables.
    const bool placed = r.job.state() == v1::PENDING &&
                        r.job.partition_map().servers_size() > 0;
    if (r.job.state() != v1::RUNNING && !placed) continue;
    // A running job's rank goes to another worker (worker replacement).
    if (r.job.state() == v1::RUNNING && VacateRank(&r, m)) continue;
    if (r.job.state() == v1::RUNNING && m.role == v1::SERVER &&
        HoldsAGroup(r.job.partition_map(), m.id)) {
      FailOver(&r, m);
      continue;
    }
    std::string role;
    for (int rank = 0; rank < r.job.worker_ids_size(); ++rank) {
      if (r.job.worker_ids(rank) == m.id) role = absl::StrCat("rank ", rank);
    }
    for (const auto& s : r.job.partition_map().servers()) {
      if (s.member_id() == m.id) role = "a parameter server of the job";
    }
    if (role.empty()) continue;
    Finish(&r, v1::FAILED,
           absl::StrCat(m.id, " (", role, ", ", m.address,
                        ") sent no heartbeat within its lease of ",
                        absl::FormatDuration(members_->lease()),
                        ": presumed dead"));
  }
}

void JobManager::FailOver(Record* r, const MemberInfo& dead) {
  v1::PartitionMap map = r->job.partition_map();
  std::vector<std::string> lost;
  std::vector<std::string> promoted;
  for (int g = 0; g < map.groups_size(); ++g) {
    auto* replicas = map.mutable_groups(g)->mutable_replicas();
    std::vector<std::string> had;
    for (const v1::ServerEndpoint& e : *replicas) {
      had.push_back(absl::StrCat(e.member_id(), " at ", e.address()));
    }
    const bool led = !replicas->empty() && (*replicas)[0].member_id() == dead.id;
    for (int k = 0; k < replicas->size(); ++k) {
      if ((*replicas)[k].member_id() != dead.id) continue;
      replicas->erase(replicas->begin() + k);
      if (led && replicas->size() > 1) {
        // Only the promoted backup surely holds every push the dead primary
        // forwarded; the others may lack its last (unacknowledged) ones and
        // could not follow the new primary's order. They get a fresh copy
        // (HealReplicas).
        replicas->DeleteSubrange(1, replicas->size() - 1);
      }
      if (replicas->empty()) {
        lost.push_back(absl::StrCat("group ", g, " (", GroupPieces(map, g),
                                    ") lost every replica: ",
                                    absl::StrJoin(had, ", ")));
      } else if (led) {
        promoted.push_back(absl::StrCat("group ", g, " -> ",
                                        (*replicas)[0].member_id()));
      }
      break;
    }
  }
  if (!lost.empty()) {
    const std::string why =
        absl::StrCat("parameter server ", dead.id, " at ", dead.address,
                     " died and ", absl::StrJoin(lost, "; "));
    if (!ResumeByItself(r, why)) Finish(r, v1::FAILED, why);
    return;
  }
  map.set_epoch(next_epoch_++);
  *r->job.mutable_partition_map() = map;
  Changed(r);
  ++events_.server_failovers;
  events_.primaries_promoted += static_cast<int64_t>(promoted.size());
  Logger("jobs")->warn(
      "{}: server {} at {} is gone; epoch {}; {}", r->job.id(), dead.id,
      dead.address, map.epoch(),
      promoted.empty() ? std::string("it led no group")
                       : absl::StrCat("new primaries: ",
                                      absl::StrJoin(promoted, ", ")));
  QueueReplicaUpdates(*r);
}

void JobManager::QueueReplicaUpdates(const Record& r) {
  const v1::PartitionMap& map = r.job.partition_map();
  for (int g = 0; g < map.groups_size(); ++g) {
    const v1::ReplicaGroup& group = map.groups(g);
    for (int k = 0; k < group.replicas_size(); ++k) {
      ReplicaUpdate& u = replica_updates_.emplace_back();
      u.server = group.replicas(k);
      u.request.set_job_id(r.job.id());
      u.request.set_epoch(map.epoch());
      u.request.set_group(g);
      u.request.set_role(k == 0 ? v1::PRIMARY : v1::BACKUP);
      if (k == 0) {
        for (int b = 1; b < group.replicas_size(); ++b) {
          *u.request.add_backups() = group.replicas(b);
        }
      }
    }
  }
}

void JobManager::HealReplicas() {
  struct Copy {
    v1::Job job;
    int group = 0;
    v1::ServerEndpoint primary, target;
  };
  std::optional<Copy> copy;
  {
    absl::MutexLock lock(&mu_);
    if (clock_() < next_heal_) return;
    const std::vector<MemberInfo> live = members_->Live(v1::SERVER);
    for (auto& [n, r] : jobs_) {
      const v1::PartitionMap& map = r.job.partition_map();
      if (r.job.state() != v1::RUNNING || map.replicas() < 2) continue;
      for (int g = 0; g < map.groups_size() && !copy; ++g) {
        const v1::ReplicaGroup& group = map.groups(g);
        if (group.replicas_size() >= map.replicas() ||
            group.replicas_size() == 0) {
          continue;
        }
        // The live server holding the fewest groups of the job that does
        // not hold this one.
        int best_load = 0;
        const MemberInfo* best = nullptr;
        for (const MemberInfo& m : live) {
          bool holds = false;
          int load = 0;
          for (const v1::ReplicaGroup& o : map.groups()) {
            for (const v1::ServerEndpoint& e : o.replicas()) {
              if (e.member_id() != m.id) continue;
              ++load;
              holds |= &o == &group;
            }
          }
          if (holds) continue;
          if (best == nullptr || load < best_load) {
            best = &m;
            best_load = load;
          }
        }
        if (best == nullptr) continue;
        copy = Copy{r.job, g, group.replicas(0), {}};
        copy->target.set_member_id(best->id);
        copy->target.set_address(best->address);
      }
      if (copy) break;
    }
    if (!copy) return;
    next_heal_ = clock_() + absl::Seconds(1);
  }
  const v1::Job& job = copy->job;
  const uint64_t epoch = job.partition_map().epoch();
  Logger("jobs")->info("{}: copying group {} from {} to {} (epoch {})",
                       job.id(), copy->group, copy->primary.member_id(),
                       copy->target.member_id(), epoch);
  v1::CreateTablesRequest joining = GroupRequest(job, copy->group, v1::JOINING);
  joining.set_job_key(JobKey(job.id()));
  absl::Status s = servers_->CreateTables(copy->target, joining);
  absl::StatusOr<v1::CopyGroupResponse> copied = absl::UnknownError("");
  if (!s.ok()) {
    copied = s;
  } else {
    v1::CopyGroupRequest request;
    request.set_job_id(job.id());
    request.set_epoch(epoch);
    request.set_group(copy->group);
    *request.mutable_target() = copy->target;
    copied = servers_->CopyGroup(copy->primary, request, absl::Minutes(2));
  }
  bool added = false;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<Record*> r = Find(job.id());
    if (copied.ok() && r.ok() && (*r)->job.state() == v1::RUNNING &&
        (*r)->job.partition_map().epoch() == epoch) {
      v1::PartitionMap* map = (*r)->job.mutable_partition_map();
      *map->mutable_groups(copy->group)->add_replicas() = copy->target;
      map->set_epoch(next_epoch_++);
      int short_groups = 0;
      for (const v1::ReplicaGroup& g : map->groups()) {
        short_groups += g.replicas_size() < map->replicas();
      }
      Changed(*r);
      QueueReplicaUpdates(**r);
      Logger("jobs")->info(
          "{}: group {} copied to {} ({} bytes, pushes waited {} us); epoch "
          "{}; {}",
          job.id(), copy->group, copy->target.member_id(),
          copied->snapshot_bytes(), copied->pause_us(), map->epoch(),
          short_groups == 0
              ? std::string("fully replicated")
              : absl::StrCat(short_groups, " groups short of replicas"));
      added = true;
      ++events_.groups_re_replicated;
    } else {
      ++events_.re_replications_failed;
      Logger("jobs")->warn("{}: copy of group {} to {} abandoned: {}",
                           job.id(), copy->group, copy->target.member_id(),
                           copied.ok() ? "the job or its map changed meanwhile"
                                       : copied.status().ToString());
    }
  }
  if (added) {
    RunReplicaUpdates();
  } else {
    servers_->DropGroup(copy->target, job.id(), copy->group).IgnoreError();
  }
}

JobEventCounts JobManager::EventCounts() const {
  absl::MutexLock lock(&mu_);
  return events_;
}

std::vector<std::string> JobManager::ServersUnreachable(
    const std::string& job_id, const std::string& reporter,
    const std::vector<std::string>& server_ids) {
  std::vector<std::string> dead;
  std::vector<MemberInfo> suspects;
  if (!options_.act_on_reports) return dead;
  for (const std::string& id : server_ids) {
    std::optional<MemberInfo> m = members_->Get(id);
    if (!m.has_value() || !m->alive) {
      dead.push_back(id);
    } else if (m->role == v1::SERVER) {
      suspects.push_back(*m);
    }
  }
  const std::vector<absl::Status> probed =
      RunConcurrently(static_cast<int>(suspects.size()), [&](int i) {
        v1::ServerEndpoint e;
        e.set_member_id(suspects[i].id);
        e.set_address(suspects[i].address);
        return servers_->Probe(e, kProbeTimeout);
      });
  std::vector<MemberInfo> killed;
  for (size_t i = 0; i < suspects.size(); ++i) {
    if (probed[i].ok()) continue;
    Logger("jobs")->warn("{} reported server {} at {} of {} unreachable; it "
                         "does not answer the coordinator either ({}): "
                         "declared dead",
                         reporter.empty() ? "a client" : reporter,
                         suspects[i].id, suspects[i].address, job_id,
                         probed[i].ToString());
    if (std::optional<MemberInfo> m = members_->Kill(suspects[i].id)) {
      killed.push_back(*m);
    }
    dead.push_back(suspects[i].id);
  }
  FailJobsOf(killed);
  if (!killed.empty()) RunReplicaUpdates();
  return dead;
}

void JobManager::RunReplicaUpdates() {
  absl::MutexLock order(&updates_mu_);
  std::vector<ReplicaUpdate> updates;
  {
    absl::MutexLock lock(&mu_);
    updates.swap(replica_updates_);
  }
  if (updates.empty()) return;
  const std::vector<absl::Status> done =
      RunConcurrently(static_cast<int>(updates.size()), [&](int i) {
        return servers_->SetReplicas(updates[i].server, updates[i].request);
      });
  absl::MutexLock lock(&mu_);
  for (size_t i = 0; i < updates.size(); ++i) {
    if (done[i].ok()) continue;
    const ReplicaUpdate& u = updates[i];
    std::optional<MemberInfo> m = members_->Get(u.server.member_id());
    const Record* r = FindConst(u.request.job_id());
    const bool wanted = m.has_value() && m->alive && r != nullptr &&
                        r->job.state() == v1::RUNNING &&
                        r->job.partition_map().epoch() == u.request.epoch();
    Logger("jobs")->warn("{}{}", done[i].ToString(),
                         wanted ? "; trying again" : "");
    if (wanted) replica_updates_.push_back(u);
  }
}

void JobManager::StartNextPending() {
  std::optional<v1::Job> job = PlaceNextPending();
  if (!job.has_value()) return;
  // Table creation talks to the servers: no lock held.
  absl::Status created = CreateAllTables(*job);
  if (created.ok() && !job->resumed_from().empty()) {
    created = LoadCheckpoint(*job);
  }
  MarkStarted(*job, created);
}

std::optional<v1::Job> JobManager::PlaceNextPending() {
  absl::MutexLock lock(&mu_);
  Record* r = nullptr;
  for (auto& [n, rec] : jobs_) {
    if (rec.job.state() == v1::PENDING) {
      r = &rec;
      break;
    }
  }
  if (r == nullptr) return std::nullopt;
  // A job queued again (resumed, or after a restart) waits until its old
  // tables are dropped: a drop that ran after its new tables were created
  // would take them away.
  if (!r->drop_on.empty()) return std::nullopt;
  std::vector<std::string> idle = IdleWorkers();
  ReserveForVacantRanks(&idle);
  const std::vector<MemberInfo> live_servers = members_->Live(v1::SERVER);
  const std::string waiting =
      WhatJobWaitsFor(r->job.spec(), static_cast<int>(idle.size()),
                      static_cast<int>(live_servers.size()));
  if (!waiting.empty()) {
    KeepPending(r, waiting);
    return std::nullopt;
  }
  absl::StatusOr<Placement> placed =
      PlaceJob(r->job.spec(), idle, live_servers, &next_epoch_);
  if (!placed.ok()) {
    Finish(r, v1::FAILED, std::string(placed.status().message()));
    return std::nullopt;
  }
  *r->job.mutable_partition_map() = std::move(placed->partition_map);
  // The servers' name for each rank; a resumed job keeps its checkpoint's.
  const bool named = r->job.push_worker_ids_size() ==
                     static_cast<int>(placed->worker_ids.size());
  if (!named) r->job.clear_push_worker_ids();
  for (const std::string& w : placed->worker_ids) {
    r->job.add_worker_ids(w);
    if (!named) r->job.add_push_worker_ids(w);
    busy_[w] = r->job.id();
    last_job_[w] = r->job.id();
  }
  r->job.set_reason("creating tables");
  Changed(r);  // stored: a restart drops what this creation made
  return r->job;
}

void JobManager::KeepPending(Record* r, const std::string& waiting) {
  if (clock_() - absl::FromUnixMillis(r->job.submit_time_ms()) >
      options_.pending_timeout) {
    Finish(r, v1::FAILED,
           absl::StrCat("not started within ",
                        absl::FormatDuration(options_.pending_timeout), ": ",
                        waiting));
  } else if (r->job.reason() != waiting) {
    r->job.set_reason(waiting);
    Changed(r);
  }
}

void JobManager::MarkStarted(const v1::Job& job, const absl::Status& created) {
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Record*> r = Find(job.id());
  if (!r.ok() || (*r)->job.state() != v1::PENDING) {
    return;  // cancelled meanwhile
  }
  if (!created.ok()) {
    Finish(*r, v1::FAILED, std::string(created.message()));
    return;
  }
  (*r)->tasks = TaskReports(job.worker_ids_size());
  (*r)->last_checkpoint = clock_();
  (*r)->job.set_state(v1::RUNNING);
  (*r)->job.set_reason("");
  (*r)->job.set_start_time_ms(NowMs());
  Changed(*r);
  Logger("jobs")->info("{} RUNNING on workers [{}], {} servers, epoch {}",
                       job.id(), absl::StrJoin(job.worker_ids(), ", "),
                       job.partition_map().servers_size(),
                       job.partition_map().epoch());
}

absl::Status JobManager::CreateAllTables(const v1::Job& job) {
  std::vector<v1::ServerEndpoint> servers;
  std::vector<v1::CreateTablesRequest> requests;
  const std::string key = JobKey(job.id());
  for (TableCreation& c : CreateTablesRequests(job)) {
    c.request.set_job_key(key);
    servers.push_back(std::move(c.server));
    requests.push_back(std::move(c.request));
  }
  return CreateTablesOnAll(*servers_, servers, requests);
}

void JobManager::QueueSeal(Record* r) {
  if (r->job_key.empty() || r->job.partition_map().servers_size() == 0) return;
  Seal seal;
  seal.request.set_job_id(r->job.id());
  seal.servers = ServersOfJob(r->job);
  seals_.push_back(std::move(seal));
}

void JobManager::RunSeals() {
  std::vector<Seal> seals;
  {
    absl::MutexLock lock(&mu_);
    seals.swap(seals_);
  }
  for (const Seal& seal : seals) {
    const std::vector<absl::Status> done = RunConcurrently(
        static_cast<int>(seal.servers.size()), [&](int i) {
          return servers_->SealTables(seal.servers[i], seal.request);
        });
    for (size_t i = 0; i < done.size(); ++i) {
      // A server that lost the tables has nothing to seal.
      if (done[i].ok() || absl::IsNotFound(done[i])) continue;
      Logger("jobs")->warn("{}: sealing its tables on {}: {}",
                           seal.request.job_id(),
                           seal.servers[i].member_id(), done[i].ToString());
    }
  }
}

void JobManager::RunDrops() {
  std::vector<TableDrop> drops;
  {
    absl::MutexLock lock(&mu_);
    drops.swap(drops_);
  }
  if (drops.empty()) return;
  // A dead server has lost the tables anyway; nothing to retry.
  for (const auto& [job_id, status] : DropTablesOnAll(*servers_, drops)) {
    Logger("jobs")->warn("{}: {}", job_id, status.ToString());
  }
  absl::MutexLock lock(&mu_);
  for (const TableDrop& d : drops) {
    absl::StatusOr<Record*> r = Find(d.job_id);
    if (!r.ok()) continue;
    (*r)->drop_on.clear();
    Save(**r);
  }
}

}  // namespace ps::coordinator
