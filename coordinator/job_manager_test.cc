#include "coordinator/job_manager.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <set>
#include <thread>

#include "common/job_spec.h"
#include "common/job_token.h"
#include "gtest/gtest.h"

namespace ps::coordinator {
namespace {

// Records calls; fails CreateTables for the servers named in `fail`.
class FakeServerControl : public ServerControl {
 public:
  absl::Status CreateTables(const v1::ServerEndpoint& server,
                            const v1::CreateTablesRequest& request) override {
    absl::MutexLock lock(&mu);
    ++entered;
    mu.Await(absl::Condition(
        +[](bool* hold) { return !*hold; }, &hold));
    if (fail.count(server.member_id())) {
      return absl::UnavailableError("creating tables on " + server.member_id());
    }
    created.insert(server.member_id() + "/" + request.job_id());
    last_create = request;
    return absl::OkStatus();
  }
  absl::Status DropTables(const v1::ServerEndpoint& server,
                          const std::string& job_id) override {
    absl::MutexLock lock(&mu);
    dropped.insert(server.member_id() + "/" + job_id);
    return absl::OkStatus();
  }
  absl::Status SealTables(const v1::ServerEndpoint& server,
                          const v1::SealTablesRequest& request) override {
    absl::MutexLock lock(&mu);
    sealed.insert(server.member_id() + "/" + request.job_id());
    return absl::OkStatus();
  }
  absl::Mutex mu;
  bool hold = false;  // CreateTables waits while set (an unanswering server)
  int entered = 0;    // CreateTables calls begun
  std::set<std::string> fail;
  // Servers are called at once, in no particular order.
  std::set<std::string> created, dropped, sealed;
  v1::CreateTablesRequest last_create;
};

class JobManagerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    data_dir_ = std::string(std::getenv("TEST_TMPDIR")) + "/data";
    std::filesystem::create_directories(data_dir_);
    v1::JobSpec probe;
    probe.mutable_data()->set_dataset(v1::FASHION_MNIST);
    for (const std::string& f : DataFiles(probe)) {
      std::ofstream(data_dir_ + "/" + f) << "x";
    }
    for (int i = 0; i < 2; ++i) {
      for (auto [role, ids] : {std::pair{v1::SERVER, &servers_},
                               std::pair{v1::WORKER, &workers_}}) {
        Registration r = *members_.Register(
            role, absl::StrCat("127.0.0.1:", role == v1::SERVER ? 1 : 2, i));
        ids->push_back(r.id);
        incarnations_[r.id] = r.incarnation;
      }
    }
  }

  v1::JobSpec Spec(int workers) {
    v1::JobSpec spec;
    spec.mutable_model()->set_type(v1::SOFTMAX);
    spec.mutable_data()->set_dataset(v1::FASHION_MNIST);
    spec.mutable_data()->set_dir(data_dir_);
    spec.mutable_optimizer()->set_type(v1::SGD);
    spec.mutable_optimizer()->set_learning_rate(0.1f);
    spec.mutable_training()->set_epochs(1);
    spec.mutable_training()->set_batch_size(32);
    spec.mutable_cluster()->set_num_workers(workers);
    return spec;
  }

  // Submits and ticks until RUNNING.
  std::string Run(int workers) {
    absl::StatusOr<std::string> id = jobs_.Submit(Spec(workers));
    EXPECT_TRUE(id.ok()) << id.status();
    jobs_.Tick();
    EXPECT_EQ(jobs_.Get(*id)->state(), v1::RUNNING) << jobs_.Get(*id)->reason();
    return *id;
  }

  void Heartbeat() {
    for (const auto& id : servers_) ASSERT_TRUE(Heartbeat(id).ok());
    for (const auto& id : workers_) ASSERT_TRUE(Heartbeat(id).ok());
  }
  absl::Status Heartbeat(const std::string& id) {
    return members_.Heartbeat(id, incarnations_[id]);
  }

  v1::CompleteTaskRequest Done(const std::string& job, int rank, int correct) {
    v1::CompleteTaskRequest c;
    c.set_job_id(job);
    c.set_rank(rank);
    c.set_member_id(jobs_.Get(job)->worker_ids(rank));
    c.set_test_examples(100);
    c.set_test_correct(correct);
    c.set_test_loss_sum(50);
    return c;
  }

  // Moves the clock on past one lease with only `alive` heartbeating, so
  // every other member is declared dead.
  void LetOthersLapse(const std::vector<std::string>& alive) {
    AdvanceBy(absl::Seconds(4), alive);
  }
  // Moves the clock on by `d` in 1 s steps, `alive` heartbeating before
  // each tick.
  void AdvanceBy(absl::Duration d, const std::vector<std::string>& alive) {
    for (absl::Duration done; done < d; done += absl::Seconds(1)) {
      for (const std::string& m : alive) ASSERT_TRUE(Heartbeat(m).ok()) << m;
      now_ += absl::Seconds(1);
      jobs_.Tick();
    }
  }
  std::string RegisterWorker(const std::string& address) {
    Registration r = *members_.Register(v1::WORKER, address);
    incarnations_[r.id] = r.incarnation;
    return r.id;
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  Clock clock_ = [this] { return now_; };
  Membership members_{absl::Seconds(3), clock_};
  FakeServerControl control_;
  JobManager jobs_{&members_,
                   &control_,
                   clock_,
                   {.barrier_timeout = absl::Milliseconds(200),
                    .pending_timeout = absl::Seconds(60),
                    .keep_succeeded_tables = 1,
                    .worker_replace_timeout = absl::Seconds(10)}};
  std::string data_dir_;
  std::vector<std::string> servers_, workers_;
  absl::flat_hash_map<std::string, uint64_t> incarnations_;
};

TEST_F(JobManagerTest, JobRunsToSucceededWithCombinedAccuracy) {
  std::string id = Run(2);
  v1::Job job = *jobs_.Get(id);
  EXPECT_EQ(job.partition_map().servers_size(), 2);
  EXPECT_EQ(control_.created.size(), 2u);
  v1::HeartbeatResponse hb;
  jobs_.FillHeartbeat(job.worker_ids(1), &hb);
  EXPECT_EQ(hb.task().job_id(), id);
  EXPECT_EQ(hb.task().rank(), 1);
  EXPECT_EQ(hb.task().num_workers(), 2);
  ASSERT_TRUE(jobs_.CompleteTask(Done(id, 0, 90)).ok());
  EXPECT_EQ(jobs_.Get(id)->state(), v1::RUNNING);
  ASSERT_TRUE(jobs_.CompleteTask(Done(id, 1, 80)).ok());
  job = *jobs_.Get(id);
  EXPECT_EQ(job.state(), v1::SUCCEEDED);
  EXPECT_DOUBLE_EQ(job.result().test_accuracy(), 0.85);
  EXPECT_EQ(jobs_.JobOfMember(job.worker_ids(0)), "");
}

TEST_F(JobManagerTest, TablesCarryConsistencyAndWorkersByRank) {
  v1::JobSpec spec = Spec(2);
  spec.mutable_training()->set_consistency(v1::SSP);
  spec.mutable_training()->set_staleness(3);
  absl::StatusOr<std::string> id = jobs_.Submit(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  jobs_.Tick();
  v1::Job job = *jobs_.Get(*id);
  const v1::CreateTablesRequest& r = control_.last_create;
  EXPECT_EQ(r.consistency(), v1::SSP);
  EXPECT_EQ(r.staleness(), 3);
  ASSERT_EQ(r.worker_ids_size(), 2);
  EXPECT_EQ(r.worker_ids(0), job.worker_ids(0));
  EXPECT_EQ(r.worker_ids(1), job.worker_ids(1));
  EXPECT_EQ(r.epoch(), job.partition_map().epoch());
}

TEST_F(JobManagerTest, OldSucceededTablesAreDroppedBeyondKeepLimit) {
  std::string first = Run(2);
  ASSERT_TRUE(jobs_.CompleteTask(Done(first, 0, 1)).ok());
  ASSERT_TRUE(jobs_.CompleteTask(Done(first, 1, 1)).ok());
  std::string second = Run(2);
  ASSERT_TRUE(jobs_.CompleteTask(Done(second, 0, 1)).ok());
  ASSERT_TRUE(jobs_.CompleteTask(Done(second, 1, 1)).ok());
  jobs_.Tick();
  EXPECT_EQ(control_.dropped,
            (std::set<std::string>{servers_[0] + "/" + first,
                                   servers_[1] + "/" + first}));
}

TEST_F(JobManagerTest, TooManyWorkersIsRejectedAtSubmit) {
  absl::StatusOr<std::string> id = jobs_.Submit(Spec(3));
  EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(id.status().message().find("cluster.numWorkers: 3"),
            std::string::npos);
}

TEST_F(JobManagerTest, SecondJobWaitsForIdleWorkersThenStarts) {
  std::string first = Run(2);
  absl::StatusOr<std::string> second = jobs_.Submit(Spec(1));
  ASSERT_TRUE(second.ok());
  jobs_.Tick();
  v1::Job waiting = *jobs_.Get(*second);
  EXPECT_EQ(waiting.state(), v1::PENDING);
  EXPECT_NE(waiting.reason().find("0 idle"), std::string::npos)
      << waiting.reason();
  ASSERT_TRUE(jobs_.Cancel(first).ok());
  jobs_.Tick();
  EXPECT_EQ(jobs_.Get(*second)->state(), v1::RUNNING);
}

TEST_F(JobManagerTest, PendingJobFailsAfterPendingTimeout) {
  Run(2);
  absl::StatusOr<std::string> second = jobs_.Submit(Spec(1));
  now_ += absl::Seconds(61);
  Heartbeat();
  jobs_.Tick();
  v1::Job job = *jobs_.Get(*second);
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_NE(job.reason().find("not started within"), std::string::npos);
}

TEST_F(JobManagerTest, DeadWorkerFailsJobWithReasonAndDropsTables) {
  std::string id = Run(2);
  std::string victim = jobs_.Get(id)->worker_ids(1);
  // Its rank waits worker_replace_timeout for a worker; there is none.
  LetOthersLapse({servers_[0], servers_[1], jobs_.Get(id)->worker_ids(0)});
  EXPECT_EQ(jobs_.Get(id)->state(), v1::RUNNING);
  AdvanceBy(absl::Seconds(11),
            {servers_[0], servers_[1], jobs_.Get(id)->worker_ids(0)});
  v1::Job job = *jobs_.Get(id);
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_NE(job.reason().find("rank 1 lost its worker " + victim),
            std::string::npos)
      << job.reason();
  EXPECT_NE(job.reason().find("lease"), std::string::npos);
  EXPECT_NE(job.reason().find("within 10s"), std::string::npos);
  EXPECT_EQ(control_.dropped.size(), 2u);
  v1::HeartbeatResponse hb;
  jobs_.FillHeartbeat(job.worker_ids(0), &hb);
  EXPECT_EQ(hb.cancelled_job_ids(0), id);
  EXPECT_FALSE(hb.has_task());
}

// Lease expiry never waits on a server's RPC: while table creation hangs
// on an unanswering server, a worker that dies still fails its job within
// the lease, and the tables are dropped once creation returns.
TEST_F(JobManagerTest, LeasesExpireWhileTableCreationHangs) {
  {
    absl::MutexLock lock(&control_.mu);
    control_.hold = true;
  }
  absl::StatusOr<std::string> id = jobs_.Submit(Spec(2));
  ASSERT_TRUE(id.ok()) << id.status();
  std::thread server_work([&] { jobs_.RunServerWork(); });
  {
    absl::MutexLock lock(&control_.mu);
    ASSERT_TRUE(control_.mu.AwaitWithTimeout(
        absl::Condition(
            +[](int* entered) { return *entered == 4; }, &control_.entered),
        absl::Seconds(10)))
        << "CreateTables was not called on every replica of both groups at once";
  }
  const std::string victim = jobs_.Get(*id)->worker_ids(1);
  now_ += absl::Seconds(2);
  for (const auto& m :
       {servers_[0], servers_[1], jobs_.Get(*id)->worker_ids(0)}) {
    ASSERT_TRUE(Heartbeat(m).ok());
  }
  now_ += absl::Seconds(2);
  jobs_.ExpireLeases();  // returns while CreateTables still hangs
  v1::Job job = *jobs_.Get(*id);
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_NE(job.reason().find(victim + " (rank 1"), std::string::npos)
      << job.reason();
  {
    absl::MutexLock lock(&control_.mu);
    control_.hold = false;
  }
  server_work.join();
  jobs_.RunServerWork();
  EXPECT_EQ(jobs_.Get(*id)->state(), v1::FAILED);
  absl::MutexLock lock(&control_.mu);
  EXPECT_EQ(control_.dropped.size(), 2u);
}

TEST_F(JobManagerTest, TableCreationFailureFailsJobNamingServer) {
  control_.fail.insert(servers_[1]);
  absl::StatusOr<std::string> id = jobs_.Submit(Spec(1));
  jobs_.Tick();
  v1::Job job = *jobs_.Get(*id);
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_NE(job.reason().find(servers_[1]), std::string::npos);
  jobs_.Tick();
  EXPECT_EQ(control_.dropped.size(), 2u);  // the one created is cleaned up
}

TEST_F(JobManagerTest, BarrierTimeoutNamesMissingRanks) {
  std::string id = Run(2);
  v1::BarrierRequest b;
  b.set_job_id(id);
  b.set_rank(0);
  b.set_name("trained");
  absl::Status s = jobs_.Barrier(b);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(
      s.message().find("missing ranks: 1 (" + jobs_.Get(id)->worker_ids(1)),
      std::string::npos)
      << s;
}

// Workers ask the barrier again every second while they wait; only the
// first arrival changes the job (every change goes to each WatchJob).
TEST_F(JobManagerTest, AskingTheBarrierAgainIsNotAChange) {
  std::string id = Run(2);
  v1::BarrierRequest b;
  b.set_job_id(id);
  b.set_name("trained");
  b.set_rank(0);
  b.set_timeout_ms(1);
  EXPECT_EQ(jobs_.Barrier(b).code(), absl::StatusCode::kDeadlineExceeded);
  auto arrived = jobs_.WaitForChange(id, -1, absl::ZeroDuration());
  ASSERT_TRUE(arrived.ok());
  EXPECT_EQ(jobs_.Barrier(b).code(), absl::StatusCode::kDeadlineExceeded);
  auto again = jobs_.WaitForChange(id, -1, absl::ZeroDuration());
  ASSERT_TRUE(again.ok());
  EXPECT_EQ(again->second, arrived->second);
}

TEST_F(JobManagerTest, BarrierReleasesWhenAllArrive) {
  std::string id = Run(2);
  v1::BarrierRequest b;
  b.set_job_id(id);
  b.set_name("trained");
  b.set_timeout_ms(5000);
  absl::Status other;
  std::thread t([&] {
    v1::BarrierRequest b1 = b;
    b1.set_rank(1);
    other = jobs_.Barrier(b1);
  });
  b.set_rank(0);
  EXPECT_TRUE(jobs_.Barrier(b).ok());
  t.join();
  EXPECT_TRUE(other.ok()) << other;
}

TEST_F(JobManagerTest, CancelUnblocksBarrierAndRejectsProgress) {
  std::string id = Run(2);
  std::thread canceller([&] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(jobs_.Cancel(id).ok());
  });
  v1::BarrierRequest b;
  b.set_job_id(id);
  b.set_rank(0);
  b.set_timeout_ms(5000);
  absl::Status s = jobs_.Barrier(b);
  canceller.join();
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  v1::ReportProgressRequest p;
  p.set_job_id(id);
  EXPECT_EQ(jobs_.ReportProgress(p).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(jobs_.Get(id)->state(), v1::CANCELLED);
}

TEST_F(JobManagerTest, WrongMemberOrRankIsRejected) {
  std::string id = Run(2);
  v1::CompleteTaskRequest c = Done(id, 0, 1);
  c.set_member_id(jobs_.Get(id)->worker_ids(1));
  EXPECT_EQ(jobs_.CompleteTask(c).code(), absl::StatusCode::kPermissionDenied);
  c = Done(id, 0, 1);
  c.set_rank(7);
  EXPECT_EQ(jobs_.CompleteTask(c).code(), absl::StatusCode::kInvalidArgument);
  c = Done(id, 0, 200);
  EXPECT_EQ(jobs_.CompleteTask(c).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(jobs_.Get("job-99").status().code(), absl::StatusCode::kNotFound);
  EXPECT_EQ(jobs_.Get("garbage").status().code(), absl::StatusCode::kNotFound);
}

TEST_F(JobManagerTest, FailedRankFailsJobWithItsReason) {
  std::string id = Run(2);
  v1::CompleteTaskRequest c = Done(id, 1, 0);
  c.set_failed(true);
  c.set_reason("layer sizes do not match data");
  ASSERT_TRUE(jobs_.CompleteTask(c).ok());
  v1::Job job = *jobs_.Get(id);
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_NE(job.reason().find("rank 1"), std::string::npos);
  EXPECT_NE(job.reason().find("layer sizes do not match data"),
            std::string::npos);
}

TEST_F(JobManagerTest, WaitForChangeSeesProgress) {
  std::string id = Run(1);
  auto first = jobs_.WaitForChange(id, -1, absl::Milliseconds(10));
  ASSERT_TRUE(first.ok());
  auto none = jobs_.WaitForChange(id, first->second, absl::Milliseconds(10));
  EXPECT_EQ(none->second, first->second);
  v1::ReportProgressRequest p;
  p.set_job_id(id);
  p.set_member_id(jobs_.Get(id)->worker_ids(0));
  p.set_step(5);
  p.set_total_steps(10);
  ASSERT_TRUE(jobs_.ReportProgress(p).ok());
  auto next = jobs_.WaitForChange(id, first->second, absl::Milliseconds(10));
  EXPECT_GT(next->second, first->second);
  EXPECT_EQ(next->first.progress().step(), 5);
}

// ---- Worker replacement ----

v1::ReportProgressRequest Progress(const v1::Job& job, int rank, int64_t step) {
  v1::ReportProgressRequest p;
  p.set_job_id(job.id());
  p.set_rank(rank);
  p.set_member_id(job.worker_ids(rank));
  p.set_step(step);
  p.set_total_steps(100);
  return p;
}

TEST_F(JobManagerTest, LostWorkersRankGoesToAnIdleWorkerAtItsReportedStep) {
  const std::string id = Run(1);
  const std::string lost = jobs_.Get(id)->worker_ids(0);
  const std::string spare = lost == workers_[0] ? workers_[1] : workers_[0];
  ASSERT_TRUE(jobs_.ReportProgress(Progress(*jobs_.Get(id), 0, 40)).ok());
  LetOthersLapse({servers_[0], servers_[1], spare});
  v1::Job job = *jobs_.Get(id);
  EXPECT_EQ(job.state(), v1::RUNNING);
  EXPECT_EQ(job.worker_ids(0), spare);
  EXPECT_EQ(job.push_worker_ids(0), lost);
  EXPECT_EQ(job.reason(), "");
  EXPECT_EQ(jobs_.JobOfMember(spare), id);
  v1::HeartbeatResponse hb;
  jobs_.FillHeartbeat(spare, &hb);
  EXPECT_EQ(hb.task().job_id(), id);
  EXPECT_EQ(hb.task().rank(), 0);
  EXPECT_EQ(hb.task().push_worker_id(), lost);
  EXPECT_EQ(hb.task().resume_step(), 40);
  EXPECT_EQ(jobs_.EventCounts().ranks_handed_over, 1);
  // The lost worker's reports are refused; the new one's are taken.
  v1::ReportProgressRequest old_report = Progress(job, 0, 45);
  old_report.set_member_id(lost);
  EXPECT_EQ(jobs_.ReportProgress(old_report).code(),
            absl::StatusCode::kPermissionDenied);
  ASSERT_TRUE(jobs_.ReportProgress(Progress(job, 0, 60)).ok());
  ASSERT_TRUE(jobs_.CompleteTask(Done(id, 0, 90)).ok());
  EXPECT_EQ(jobs_.Get(id)->state(), v1::SUCCEEDED);
  EXPECT_TRUE(control_.dropped.empty());
}

TEST_F(JobManagerTest, VacantRankWaitsForAWorkerThatRegistersLater) {
  const std::string id = Run(2);
  const std::string lost = jobs_.Get(id)->worker_ids(1);
  const std::string kept = jobs_.Get(id)->worker_ids(0);
  LetOthersLapse({servers_[0], servers_[1], kept});
  v1::Job job = *jobs_.Get(id);
  EXPECT_EQ(job.state(), v1::RUNNING);
  EXPECT_EQ(job.worker_ids(1), "");
  EXPECT_NE(job.reason().find("rank 1 lost " + lost), std::string::npos)
      << job.reason();
  EXPECT_NE(job.reason().find("waiting up to 10s"), std::string::npos);
  // The rank has no worker: its barrier waits, its reports are refused.
  v1::ReportProgressRequest old_report = Progress(job, 1, 5);
  old_report.set_member_id(lost);
  EXPECT_EQ(jobs_.ReportProgress(old_report).code(),
            absl::StatusCode::kPermissionDenied);
  AdvanceBy(absl::Seconds(5), {servers_[0], servers_[1], kept});
  // The lost worker restarts and registers again, under a new id.
  const std::string back = RegisterWorker("127.0.0.1:21");
  AdvanceBy(absl::Seconds(1), {servers_[0], servers_[1], kept, back});
  job = *jobs_.Get(id);
  EXPECT_EQ(job.state(), v1::RUNNING);
  EXPECT_EQ(job.worker_ids(1), back);
  EXPECT_EQ(job.push_worker_ids(1), lost);
  // Its deadline is gone with the vacancy.
  AdvanceBy(absl::Seconds(10), {servers_[0], servers_[1], kept, back});
  EXPECT_EQ(jobs_.Get(id)->state(), v1::RUNNING);
  ASSERT_TRUE(jobs_.CompleteTask(Done(id, 0, 90)).ok());
  ASSERT_TRUE(jobs_.CompleteTask(Done(id, 1, 80)).ok());
  EXPECT_EQ(jobs_.Get(id)->state(), v1::SUCCEEDED);
}

TEST_F(JobManagerTest, PendingJobDoesNotTakeTheWorkerAVacantRankNeeds) {
  const std::string a = Run(2);
  const std::string lost = jobs_.Get(a)->worker_ids(1);
  const std::string kept = jobs_.Get(a)->worker_ids(0);
  LetOthersLapse({servers_[0], servers_[1], kept});
  absl::StatusOr<std::string> b = jobs_.Submit(Spec(1));
  ASSERT_TRUE(b.ok()) << b.status();
  const std::string fresh = RegisterWorker("127.0.0.1:22");
  jobs_.RunServerWork();  // before the handover: job b must wait
  EXPECT_EQ(jobs_.Get(*b)->state(), v1::PENDING);
  jobs_.ExpireLeases();
  EXPECT_EQ(jobs_.Get(a)->worker_ids(1), fresh);
  EXPECT_EQ(jobs_.Get(*b)->state(), v1::PENDING);
}

TEST_F(JobManagerTest, LosingTheWorkerOfACompletedRankChangesNothing) {
  const std::string id = Run(2);
  const std::string done = jobs_.Get(id)->worker_ids(0);
  const std::string kept = jobs_.Get(id)->worker_ids(1);
  ASSERT_TRUE(jobs_.CompleteTask(Done(id, 0, 90)).ok());
  LetOthersLapse({servers_[0], servers_[1], kept});
  v1::Job job = *jobs_.Get(id);
  EXPECT_EQ(job.state(), v1::RUNNING);
  EXPECT_EQ(job.reason(), "");
  AdvanceBy(absl::Seconds(11), {servers_[0], servers_[1], kept});
  EXPECT_EQ(jobs_.Get(id)->state(), v1::RUNNING);
  ASSERT_TRUE(jobs_.CompleteTask(Done(id, 1, 80)).ok());
  EXPECT_EQ(jobs_.Get(id)->state(), v1::SUCCEEDED);
}

// A server's death moves its groups to their backups at a new epoch, and
// every remaining replica is told (SetReplicas); the job goes on.
TEST_F(JobManagerTest, DeadServerFailsOverToTheBackups) {
  const std::string id = Run(2);
  const v1::Job before = *jobs_.Get(id);
  ASSERT_EQ(before.partition_map().replicas(), 2);
  ASSERT_EQ(before.partition_map().groups_size(), 2);
  const std::string dead = servers_[1];
  LetOthersLapse({servers_[0], before.worker_ids(0), before.worker_ids(1)});
  const v1::Job after = *jobs_.Get(id);
  EXPECT_EQ(after.state(), v1::RUNNING) << after.reason();
  EXPECT_GT(after.partition_map().epoch(), before.partition_map().epoch());
  for (const v1::ReplicaGroup& g : after.partition_map().groups()) {
    ASSERT_EQ(g.replicas_size(), 1);
    EXPECT_EQ(g.replicas(0).member_id(), servers_[0]);
  }
  // The heartbeat's task carries the new map to the workers.
  v1::HeartbeatResponse hb;
  jobs_.FillHeartbeat(after.worker_ids(0), &hb);
  EXPECT_EQ(hb.task().partition_map().epoch(), after.partition_map().epoch());
  EXPECT_EQ(jobs_.EventCounts().server_failovers, 1);
  EXPECT_EQ(jobs_.EventCounts().primaries_promoted, 1);  // it led one group
}

// With one copy, the death of the server that held it fails the job, the
// reason naming the group, what it held and the server.
TEST_F(JobManagerTest, DeadServerWithTheOnlyCopyFailsTheJobNamingIt) {
  v1::JobSpec spec = Spec(2);
  spec.mutable_cluster()->set_replicas(1);
  absl::StatusOr<std::string> id = jobs_.Submit(spec);
  ASSERT_TRUE(id.ok()) << id.status();
  jobs_.Tick();
  const v1::Job job = *jobs_.Get(*id);
  ASSERT_EQ(job.state(), v1::RUNNING) << job.reason();
  LetOthersLapse({servers_[0], job.worker_ids(0), job.worker_ids(1)});
  const v1::Job failed = *jobs_.Get(*id);
  EXPECT_EQ(failed.state(), v1::FAILED);
  EXPECT_NE(failed.reason().find("parameter server " + servers_[1]),
            std::string::npos)
      << failed.reason();
  EXPECT_NE(failed.reason().find("lost every replica"), std::string::npos)
      << failed.reason();
}

// The coordinator's state survives its process: a manager and membership
// built anew on the same store take the running job, its reports, the
// members and the counters back.
TEST_F(JobManagerTest, ProgressBecomesAHistoryThatARestartKeeps) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/hist";
  std::filesystem::remove_all(dir);
  StoredState state;
  auto store = StateStore::Open(dir, &state);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string id;
  {
    Membership members(absl::Seconds(3), clock_, store->get());
    const Registration server = *members.Register(v1::SERVER, "127.0.0.1:90");
    const Registration worker = *members.Register(v1::WORKER, "127.0.0.1:80");
    JobManager jobs(&members, &control_, clock_, {.store = store->get()});
    id = *jobs.Submit(Spec(1));
    jobs.Tick();
    ASSERT_EQ(jobs.Get(id)->state(), v1::RUNNING) << jobs.Get(id)->reason();
    // Four reports a second for five seconds, one point each 250 ms: all.
    for (int step = 1; step <= 20; ++step) {
      v1::ReportProgressRequest p = Progress(*jobs.Get(id), 0, step);
      p.set_loss(100.0 / step);
      ASSERT_TRUE(jobs.ReportProgress(p).ok());
      now_ += absl::Milliseconds(250);
      ASSERT_TRUE(members.Heartbeat(server.id, server.incarnation).ok());
      ASSERT_TRUE(members.Heartbeat(worker.id, worker.incarnation).ok());
      jobs.Tick();  // stores the progress once a second
    }
    EXPECT_EQ(jobs.History(id, 0)->points_size(), 20);
  }
  store->reset();  // the process ends
  store = StateStore::Open(dir, &state);
  ASSERT_TRUE(store.ok()) << store.status();
  Membership members(absl::Seconds(3), clock_, store->get());
  members.Restore(state);
  JobManager jobs(&members, &control_, clock_, {.store = store->get()});
  jobs.Restore(state);
  absl::StatusOr<v1::JobHistory> history = jobs.History(id, 0);
  ASSERT_TRUE(history.ok()) << history.status();
  EXPECT_EQ(history->job_id(), id);
  ASSERT_EQ(history->points_size(), 20);
  EXPECT_EQ(history->points(0).step(), 1);
  EXPECT_EQ(history->points(19).step(), 20);
  for (int i = 1; i < 20; ++i) {
    EXPECT_LT(history->points(i).loss(), history->points(i - 1).loss());
  }
  EXPECT_EQ(jobs.History(id, 2)->points_size(), 2);
  EXPECT_EQ(jobs.History("job-99", 0).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(JobManagerTest, RestoredFromItsStoreTheJobGoesOnAndIdsDoNotRepeat) {
  const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/state";
  std::filesystem::remove_all(dir);
  StoredState state;
  auto store = StateStore::Open(dir, &state);
  ASSERT_TRUE(store.ok()) << store.status();
  std::string id, queued;
  uint64_t epoch = 0;
  std::vector<std::string> servers;
  {
    Membership members(absl::Seconds(3), clock_, store->get());
    for (int i = 0; i < 2; ++i) {
      servers.push_back(
          members.Register(v1::SERVER, absl::StrCat("127.0.0.1:9", i))->id);
      members.Register(v1::WORKER, absl::StrCat("127.0.0.1:8", i)).IgnoreError();
    }
    JobManager jobs(&members, &control_, clock_, {.store = store->get()});
    id = *jobs.Submit(Spec(2));
    jobs.Tick();
    ASSERT_EQ(jobs.Get(id)->state(), v1::RUNNING) << jobs.Get(id)->reason();
    epoch = jobs.Get(id)->partition_map().epoch();
    v1::BarrierRequest arrive;
    arrive.set_job_id(id);
    arrive.set_rank(0);
    arrive.set_name("trained");
    arrive.set_timeout_ms(1);
    EXPECT_EQ(jobs.Barrier(arrive).code(), absl::StatusCode::kDeadlineExceeded);
    queued = *jobs.Submit(Spec(2));  // no idle worker: it waits
    jobs.Tick();
    ASSERT_EQ(jobs.Get(queued)->state(), v1::PENDING);
  }
  store->reset();  // the process ends
  store = StateStore::Open(dir, &state);
  ASSERT_TRUE(store.ok()) << store.status();
  EXPECT_FALSE(state.fresh);
  Membership members(absl::Seconds(3), clock_, store->get());
  members.Restore(state);
  JobManager jobs(&members, &control_, clock_, {.store = store->get()});
  jobs.Restore(state);
  EXPECT_EQ(members.Live(v1::SERVER).size(), 2u);
  EXPECT_EQ(members.Live(v1::SERVER)[0].id, servers[0]);
  const v1::Job job = *jobs.Get(id);
  EXPECT_EQ(job.state(), v1::RUNNING);
  EXPECT_EQ(job.partition_map().epoch(), epoch);
  // Rank 0's arrival was kept: rank 1 alone completes the barrier.
  v1::BarrierRequest arrive;
  arrive.set_job_id(id);
  arrive.set_rank(1);
  arrive.set_name("trained");
  arrive.set_timeout_ms(1);
  EXPECT_TRUE(jobs.Barrier(arrive).ok());
  EXPECT_EQ(jobs.Get(queued)->state(), v1::PENDING);  // still queued
  // New ids and epochs continue from the stored counters.
  const absl::StatusOr<Registration> fresh =
      members.Register(v1::WORKER, "127.0.0.1:7000");
  EXPECT_EQ(fresh->id, "worker-5");
  const std::string next = *jobs.Submit(Spec(1));
  EXPECT_EQ(next, "job-3");
}

}  // namespace
}  // namespace ps::coordinator

namespace ps::coordinator {
namespace {

// With job tokens: the job gets a key, its servers get it with the tables,
// each worker a token with every heartbeat that the key verifies for its
// own worker id only, its owner a reader's token; success seals the tables.
TEST_F(JobManagerTest, TokensOfAJobVerifyWithTheKeyItsServersGet) {
  JobManager tokened(&members_, &control_, clock_,
                     {.job_tokens = true, .token_ttl = absl::Minutes(5)});
  absl::StatusOr<std::string> id = tokened.Submit(Spec(2), "alice");
  ASSERT_TRUE(id.ok()) << id.status();
  tokened.Tick();
  const v1::Job job = *tokened.Get(*id);
  ASSERT_EQ(job.state(), v1::RUNNING) << job.reason();
  EXPECT_EQ(job.owner(), "alice");
  const std::string key = control_.last_create.job_key();
  ASSERT_EQ(key.size(), static_cast<size_t>(kJobKeyBytes));
  v1::HeartbeatResponse hb;
  tokened.FillHeartbeat(job.worker_ids(1), &hb);
  const std::string token = hb.task().job_token();
  const std::string mine = job.push_worker_ids_size() > 1
                               ? job.push_worker_ids(1)
                               : job.worker_ids(1);
  EXPECT_TRUE(CheckJobToken(token, key, {*id, mine, /*write=*/true},
                            absl::Now())
                  .ok());
  EXPECT_EQ(CheckJobToken(token, key, {*id, job.worker_ids(0), true},
                          absl::Now())
                .code(),
            absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(CheckJobToken(token, key, {*id, mine, true},
                          absl::Now() + absl::Minutes(6))
                .code(),
            absl::StatusCode::kUnauthenticated);
  absl::StatusOr<v1::GetJobTokenResponse> reader = tokened.ReadToken(*id);
  ASSERT_TRUE(reader.ok()) << reader.status();
  EXPECT_TRUE(
      CheckJobToken(reader->token(), key, {*id, "", false}, absl::Now()).ok());
  EXPECT_FALSE(
      CheckJobToken(reader->token(), key, {*id, "", true}, absl::Now()).ok());
  for (int rank = 0; rank < 2; ++rank) {
    v1::CompleteTaskRequest done;
    done.set_job_id(*id);
    done.set_rank(rank);
    done.set_member_id(job.worker_ids(rank));
    done.set_test_examples(100);
    done.set_test_correct(90);
    ASSERT_TRUE(tokened.CompleteTask(done).ok());
  }
  ASSERT_EQ(tokened.Get(*id)->state(), v1::SUCCEEDED);
  tokened.Tick();
  EXPECT_EQ(control_.sealed.size(), 2u);
}

TEST_F(JobManagerTest, WithoutTokensThereIsNoKeyAndNoReaderToken) {
  const std::string id = Run(1);
  EXPECT_TRUE(control_.last_create.job_key().empty());
  v1::HeartbeatResponse hb;
  jobs_.FillHeartbeat(jobs_.Get(id)->worker_ids(0), &hb);
  EXPECT_TRUE(hb.task().job_token().empty());
  EXPECT_EQ(jobs_.ReadToken(id).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

}  // namespace
}  // namespace ps::coordinator
