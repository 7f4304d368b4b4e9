// Jobs: the queue, each job's state machine, the workers assigned to it and
// the tables it owns on the servers. Knows nothing of gRPC; servers are
// reached through ServerControl and time comes from an injected clock.
//
// State machine:
//   PENDING --Tick: enough idle workers, tables created--> RUNNING
//   PENDING --pending_timeout, or table creation failed--> FAILED
//   RUNNING --every rank completed--> SUCCEEDED
//   RUNNING --a rank failed--> FAILED
//   RUNNING --a worker of an unfinished rank lost its lease--> RUNNING with
//     the rank vacant; an idle worker takes it over (rank_handover.h), or,
//     after worker_replace_timeout, FAILED naming the rank
//   RUNNING --a server it uses died--> RUNNING at a new epoch, each group
//     the server was in going on with its other replicas (a backup promoted
//     where it led); FAILED when a group had no other replica left
//   PENDING/RUNNING --Cancel--> CANCELLED
// A job that ends FAILED or CANCELLED has its tables dropped; a SUCCEEDED
// job keeps them (for export) until it is one of more than
// keep_succeeded_tables newer successes.
//
// Where the parts live: placing a pending job on workers and servers, and
// the CreateTables requests, are pure functions (job_placement.h); what a
// running job's ranks report is kept by TaskReports (task_reports.h); this
// class holds the jobs, their state machine, the waits, and the periodic
// work that calls the servers.
//
// Durability: with JobManagerOptions::store, every change of a job is stored
// (whole, with what its ranks reported) before the call that made it
// returns, and so are the job and epoch counters; Restore() brings it all
// back in a restarted coordinator (job_manager_state.cc): running jobs go on
// at their epoch, barriers keep their arrivals, queued jobs stay queued, and
// ids and epochs never repeat.
//
// Thread-safe. Blocking calls (Barrier, WaitForChange) wait with a deadline.
// No lock is held while calling ServerControl.
#ifndef PS_COORDINATOR_JOB_MANAGER_H_
#define PS_COORDINATOR_JOB_MANAGER_H_

#include <deque>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "coordinator/membership.h"
#include "coordinator/rank_handover.h"
#include "coordinator/server_control.h"
#include "coordinator/state_store.h"
#include "coordinator/task_reports.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::coordinator {

// How long the coordinator waits for a server reported unreachable.
inline constexpr absl::Duration kProbeTimeout = absl::Seconds(1);

struct JobManagerOptions {
  // Barrier wait when the request does not give one.
  absl::Duration barrier_timeout = absl::Minutes(10);
  // A job still PENDING after this long fails, naming what it waited for.
  absl::Duration pending_timeout = absl::Minutes(10);
  // Tables of this many most recent SUCCEEDED jobs stay on the servers.
  int keep_succeeded_tables = 8;
  // How long a running job's rank whose worker was lost waits for another
  // worker to take it over before the job fails.
  absl::Duration worker_replace_timeout = absl::Seconds(60);
  // ServersUnreachable declares a server that does not answer the probe
  // dead; false: reports are ignored and leases alone decide.
  bool act_on_reports = true;
  // Where jobs and counters are stored (not owned; must outlive the
  // manager); null: in memory only, lost with the process.
  StateStore* store = nullptr;
  // Give each job a key and its workers tokens signed with it
  // (common/job_token.h); servers then check every pull and push. On when
  // the cluster runs TLS.
  bool job_tokens = false;
  // How long a token is good for; workers get a fresh one with every
  // heartbeat, so this bounds how long a coordinator outage may last
  // before their pulls and pushes are refused.
  absl::Duration token_ttl = absl::Hours(1);
};

// Events JobManager counts as it goes, since the process started (for
// coordinator/coordinator_metrics.h).
struct JobEventCounts {
  // A server of a running job died and the job went on at a new epoch.
  int64_t server_failovers = 0;
  // Groups whose backup took over from a dead primary.
  int64_t primaries_promoted = 0;
  // Ranks of a lost worker taken over by another worker.
  int64_t ranks_handed_over = 0;
  // Groups copied to a new backup (HealReplicas), and copies abandoned.
  int64_t groups_re_replicated = 0;
  int64_t re_replications_failed = 0;
  int64_t checkpoints_written = 0;
  int64_t checkpoints_failed = 0;
  // Attempts queued to resume from a checkpoint (ResumeJob, or by itself).
  int64_t jobs_resumed = 0;
};

class JobManager {
 public:
  JobManager(Membership* members, ServerControl* servers, Clock clock,
             JobManagerOptions options = {});

  // Takes the jobs and counters a StateStore kept (Open's StoredState).
  // Running jobs go on; a job that was creating its tables goes back to the
  // queue (its tables are dropped first); drops not yet done are done. Call
  // once, before serving and before the periodic work starts.
  void Restore(const StoredState& state);

  // Validates against the cluster; returns the new job's id. UNAVAILABLE
  // when the job could not be stored (nothing was queued).
  // `owner`: the submitter's certificate name (Job.owner; "" without TLS).
  absl::StatusOr<std::string> Submit(const v1::JobSpec& spec,
                                     const std::string& owner = "");
  // A read-only data-plane token for the job (psctl export), good for
  // token_ttl. FAILED_PRECONDITION when the job has no key (no tokens).
  absl::StatusOr<v1::GetJobTokenResponse> ReadToken(
      const std::string& job_id) const;
  absl::StatusOr<v1::Job> Get(const std::string& job_id) const;
  // The job's recorded training curves (job_history.h), thinned to
  // `max_points` (0: all). NOT_FOUND for an unknown job.
  absl::StatusOr<v1::JobHistory> History(const std::string& job_id,
                                         int max_points) const;
  std::vector<v1::Job> List() const;
  absl::StatusOr<v1::JobState> Cancel(const std::string& job_id);
  // Waits up to `timeout` for the job to change after version `seen`;
  // returns the job and its version (unchanged when the wait timed out).
  absl::StatusOr<std::pair<v1::Job, int64_t>> WaitForChange(
      const std::string& job_id, int64_t seen, absl::Duration timeout) const;

  // Worker side.
  void FillHeartbeat(const std::string& member_id,
                     v1::HeartbeatResponse* response) const;
  absl::Status ReportProgress(const v1::ReportProgressRequest& request);
  absl::Status Barrier(const v1::BarrierRequest& request);
  absl::Status CompleteTask(const v1::CompleteTaskRequest& request);

  // The job a member works for, or "".
  std::string JobOfMember(const std::string& member_id) const;

  JobEventCounts EventCounts() const;

  // Periodic work, in two parts that run on threads of their own, so that
  // lease expiry never waits on an RPC (a server that does not answer holds
  // up only the table calls, for their deadline):
  //   ExpireLeases: fail the jobs that use members whose lease ran out
  //     (jobs still creating their tables too), except that a running
  //     job's rank whose worker was lost is handed to an idle worker
  //     (FillVacantRanks). No RPC; quick.
  //   RunServerWork: start the oldest pending job if it fits (creating its
  //     tables on all its servers at once), and drop the tables of ended
  //     jobs (on all servers at once). Blocks for up to one ServerControl
  //     deadline.
  // Tick() runs both, one after the other (for tests and simple loops).
  void ExpireLeases();
  void RunServerWork();
  void Tick();

  // Servers of `job_id` that `reporter` could not reach: each is probed
  // (ServerControl::Probe, kProbeTimeout), and one that does not answer is
  // declared dead now, as if its lease had lapsed, and the groups it was in
  // fail over (RunReplicaUpdates is called before returning). Returns the
  // ids among `server_ids` that are dead, now or before.
  std::vector<std::string> ServersUnreachable(
      const std::string& job_id, const std::string& reporter,
      const std::vector<std::string>& server_ids);
  // Sends the SetReplicas calls that failovers queued, all at once; a call
  // that fails is queued again while its server lives. Run by its own
  // loop, and at once after a failover found by a report.
  void RunReplicaUpdates();
  // Checkpoints and resume (job_manager_checkpoint.cc; docs/design.md,
  // "Checkpoints").
  //
  // Checkpoint: a checkpoint of a RUNNING job with training.checkpoint.dir,
  // now: picks a step C a little ahead of every rank, has each group's
  // primary write its state at the cut where every rank has finished C
  // steps (WriteCheckpoint; asked again further ahead when a rank was
  // already past it), then writes the manifest last and records the
  // checkpoint on the job (keeping the spec's `keep` newest, deleting the
  // others). Blocks for the whole checkpoint. FAILED_PRECONDITION: not
  // running, no checkpoint dir, or one being taken already.
  absl::StatusOr<v1::CheckpointInfo> Checkpoint(const std::string& job_id);
  // The checkpoints that are due (every_steps, every_seconds), one job per
  // call. Run by its own loop.
  void RunCheckpoints();
  // Runs a FAILED or CANCELLED job again from a checkpoint (request.from, or
  // its newest): the manifest is read and checked (its job, its tables
  // against the job's, every file present with its size), then the job is
  // queued as a new attempt; when it starts, every replica loads its group
  // from the files (re-partitioned when the server count differs) and each
  // rank resumes at the checkpoint's step. Errors name the file and what is
  // wrong; the job is left as it was.
  absl::StatusOr<v1::ResumeJobResponse> Resume(
      const v1::ResumeJobRequest& request);

  // Restores the replicas failovers took away: copies one group that has
  // fewer than the job's replicas to a live server that does not hold it
  // (CopyGroup, while the job trains), then adds it to the group at a new
  // epoch. One copy per call; blocks for the copy. Run by its own loop.
  void HealReplicas();

 private:
  struct Record {
    int64_t number = 0;  // the N of "job-N"
    v1::Job job;
    int64_t version = 0;
    TaskReports tasks;  // sized when the job starts RUNNING
    RankHandovers handovers;
    // Servers still to drop the job's tables (stored, so that a restart
    // does the drop a crash interrupted).
    std::vector<v1::ServerEndpoint> drop_on;
    std::string job_key;  // signs its tokens; new for each attempt
    v1::JobHistory history;  // its curves, across attempts (job_history.h)
    bool checkpointing = false;  // a Checkpoint() is under way
    absl::Time last_checkpoint;  // or when the job started running
    absl::Time retry_checkpoint;  // after a failed one: not before
    // A progress report changed the job since it was last stored.
    mutable bool unsaved_progress = false;
    mutable absl::Time saved;  // when Save() last stored it
  };
  // Queues *r again as a new attempt that resumes from the checkpoint in
  // `dir` at `step` with the manifest's push worker ids; `servers` > 0
  // overrides the spec's server count.
  void Requeue(Record* r, const std::string& dir, int64_t step,
               const std::vector<std::string>& push_worker_ids, int servers,
               const std::string& why) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // FailOver's way out when a group lost every replica: resumes from the
  // newest checkpoint when there is one (at most kMaxAutoResumes times).
  bool ResumeByItself(Record* r, const std::string& why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Checkpoint()'s work with no lock held: the group files at `step` (further
  // ahead, by `ahead` doubling, when a rank was past it), then the manifest.
  absl::StatusOr<v1::CheckpointInfo> WriteCheckpointAt(const v1::Job& job,
                                                       int64_t step,
                                                       int64_t ahead);
  // After CreateAllTables, for a resumed job: every replica loads its group.
  absl::Status LoadCheckpoint(const v1::Job& job);
  // The step a checkpoint of *r should cut at, `ahead` steps past the
  // furthest rank's report, capped at a rank's last step.
  int64_t CutStep(const Record& r, int64_t ahead) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);

  absl::StatusOr<Record*> Find(const std::string& job_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  const Record* FindConst(const std::string& job_id) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  absl::StatusOr<Record*> FindRunningRank(const std::string& job_id, int rank,
                                          const std::string& member_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void Finish(Record* r, v1::JobState state, const std::string& reason)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A change of *r: wakes its watchers and stores it (job_manager_state.cc).
  void Changed(Record* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // A progress report: wakes the watchers; stored within kProgressSaveEvery
  // by SaveProgress (a report lost to a crash is superseded by the next).
  void ProgressChanged(Record* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void SaveProgress();
  // Stores *r and the counters; false (logged) when the store failed.
  bool Save(const Record& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues the drop of r's tables on `servers` (stored with the job).
  void QueueDrop(Record* r, std::vector<v1::ServerEndpoint> servers)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Restore() of one stored job.
  void RestoreJob(const v1::StoredJob& stored)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status BarrierTimedOut(const v1::BarrierRequest& request,
                               const Record& r, absl::Duration timeout) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // A SetReplicas call a failover queued.
  struct ReplicaUpdate {
    v1::ServerEndpoint server;
    v1::SetReplicasRequest request;
  };
  void FailJobsOf(const std::vector<MemberInfo>& dead);
  // The groups of `r` go on without server `dead` at a new epoch, or the
  // job fails when a group has no replica left.
  void FailOver(Record* r, const MemberInfo& dead)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Queues SetReplicas for every replica of every group of r's map.
  void QueueReplicaUpdates(const Record& r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void FailJobsOfMember(const MemberInfo& dead)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Worker replacement (job_manager_handover.cc).
  // When `lost` holds a rank of the RUNNING job *r, leaves the rank vacant
  // for another worker (nothing to do for a rank that completed) and
  // returns true: the job goes on. False when it holds none.
  bool VacateRank(Record* r, const MemberInfo& lost)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Hands vacant ranks to idle workers, oldest vacancy first; fails a job
  // whose rank has been vacant for longer than worker_replace_timeout.
  void FillVacantRanks();
  // Removes from *idle as many workers as running jobs have vacant ranks:
  // those go to the running jobs before a pending job may start.
  void ReserveForVacantRanks(std::vector<std::string>* idle) const
      ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Live workers that hold no rank, in membership order.
  std::vector<std::string> IdleWorkers() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Starts the oldest pending job if the cluster has room: places it, then
  // creates its tables with no lock held, then makes it RUNNING.
  void StartNextPending();
  // The oldest pending job, placed and its workers taken; nullopt when
  // there is none or it cannot start (then it waits, or fails).
  std::optional<v1::Job> PlaceNextPending();
  // Records what the pending job waits for, or fails it once it has waited
  // longer than pending_timeout.
  void KeepPending(Record* r, const std::string& waiting)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Makes the placed job RUNNING, or FAILED when `created` failed; nothing
  // when it was cancelled meanwhile.
  void MarkStarted(const v1::Job& job, const absl::Status& created);
  absl::Status CreateAllTables(const v1::Job& job);
  // The key of job `job_id` ("" when none or no such job). Locks mu_.
  std::string JobKey(const std::string& job_id) const;
  // A token for `claims` with the record's key, good for token_ttl.
  std::string MintToken(const Record& r, v1::JobTokenClaims claims) const;
  void RunDrops();
  // Sends the queued seals (a succeeded job's new key to its servers).
  void RunSeals();
  int64_t NowMs() const;

  Membership* const members_;
  ServerControl* const servers_;
  const Clock clock_;
  const JobManagerOptions options_;

  mutable absl::Mutex mu_;
  int64_t next_job_ ABSL_GUARDED_BY(mu_) = 1;
  uint64_t next_epoch_ ABSL_GUARDED_BY(mu_) = 1;
  std::map<int64_t, Record> jobs_ ABSL_GUARDED_BY(mu_);  // by job number
  absl::flat_hash_map<std::string, std::string> busy_
      ABSL_GUARDED_BY(mu_);  // worker id -> job id
  absl::flat_hash_map<std::string, std::string> last_job_
      ABSL_GUARDED_BY(mu_);  // worker id -> latest job id
  std::vector<TableDrop> drops_ ABSL_GUARDED_BY(mu_);
  struct Seal {
    v1::SealTablesRequest request;
    std::vector<v1::ServerEndpoint> servers;
  };
  std::vector<Seal> seals_ ABSL_GUARDED_BY(mu_);
  // Queues a seal of *r's tables (a job that succeeded, its tables kept:
  // only readers' tokens work on them from then). Sent again after a
  // restart, in case it had not reached them.
  void QueueSeal(Record* r) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  std::vector<ReplicaUpdate> replica_updates_ ABSL_GUARDED_BY(mu_);
  absl::Mutex updates_mu_;  // one RunReplicaUpdates at a time, in order
  absl::Time next_heal_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::deque<std::string> kept_ ABSL_GUARDED_BY(mu_);  // succeeded, tables kept
  JobEventCounts events_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_JOB_MANAGER_H_
