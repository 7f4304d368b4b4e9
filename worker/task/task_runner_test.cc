#include "worker/task/task_runner.h"

#include <atomic>

#include "gtest/gtest.h"
#include "worker/task/fake_task_coordinator.h"
#include "worker/task/memory_param_stores.h"
#include "worker/task/task_test_data.h"

namespace ps::worker {
namespace {

class TaskRunnerTest : public ::testing::Test {
 protected:
  absl::Status Run(const v1::Task& task) {
    return RunTask(task,
                   {.member_id = "worker-1",
                    .coordinator = &coordinator_,
                    .stores = &stores_},
                   &cancelled_);
  }

  FakeTaskCoordinator coordinator_;
  MemoryParamStores stores_;
  std::atomic<bool> cancelled_{false};
};

TEST_F(TaskRunnerTest, CompletedDenseTaskReportsItsEvaluation) {
  ASSERT_TRUE(Run(MnistTask("mnist")).ok());
  ASSERT_EQ(coordinator_.completed().size(), 1u);
  const v1::CompleteTaskRequest done = coordinator_.completed()[0];
  EXPECT_EQ(done.member_id(), "worker-1");
  EXPECT_EQ(done.job_id(), "mnist");
  EXPECT_FALSE(done.failed());
  EXPECT_EQ(done.train_examples(), 200);
  EXPECT_EQ(done.test_examples(), 100);
  EXPECT_GT(done.test_correct(), 50);  // the classes are easy to tell apart
}

TEST_F(TaskRunnerTest, FederatedTaskReportsEveryRoundsEvaluation) {
  v1::Task task = MnistTask("fedavg");
  v1::JobSpec& spec = *task.mutable_spec();
  spec.mutable_optimizer()->set_type(v1::SGD);
  spec.mutable_optimizer()->set_learning_rate(0.1f);
  spec.mutable_data()->set_shard(v1::DataSpec::BY_LABEL);
  spec.mutable_training()->set_consistency(v1::BSP);
  spec.mutable_training()->set_epochs(3);  // rounds
  spec.mutable_training()->set_report_every_steps(1);
  spec.mutable_training()->mutable_federated()->set_client_fraction(1);
  spec.mutable_training()->mutable_federated()->set_local_epochs(2);
  ASSERT_TRUE(Run(task).ok());
  ASSERT_EQ(coordinator_.completed().size(), 1u);
  const v1::CompleteTaskRequest done = coordinator_.completed()[0];
  EXPECT_FALSE(done.failed()) << done.reason();
  EXPECT_EQ(done.train_examples(), 3 * 2 * 200);
  ASSERT_EQ(done.rounds_size(), 3);
  for (int r = 0; r < 3; ++r) {
    EXPECT_EQ(done.rounds(r).round(), r + 1);
    EXPECT_EQ(done.rounds(r).test_examples(), 100);
    EXPECT_EQ(done.rounds(r).clients_size(), 1);
  }
  EXPECT_EQ(done.rounds(2).test_correct(), done.test_correct());
  EXPECT_EQ(stores_.pushed_clocks(), (std::vector<int64_t>{0, 1, 2}));
  ASSERT_FALSE(coordinator_.progress().empty());
  EXPECT_EQ(coordinator_.progress().back().total_steps(), 3);
}

TEST_F(TaskRunnerTest, AveragingTaskPushesOncePerRound) {
  v1::Task task = MnistTask("local-sgd");
  v1::JobSpec& spec = *task.mutable_spec();
  spec.mutable_optimizer()->set_learning_rate(0.1f);
  spec.mutable_training()->set_consistency(v1::BSP);
  spec.mutable_training()->mutable_averaging()->set_local_steps(3);
  ASSERT_TRUE(Run(task).ok());
  ASSERT_EQ(coordinator_.completed().size(), 1u);
  EXPECT_FALSE(coordinator_.completed()[0].failed());
  EXPECT_EQ(coordinator_.completed()[0].test_examples(), 100);
  // 7 steps in rounds of 3, 3 and 1.
  EXPECT_EQ(stores_.pushed_clocks(), (std::vector<int64_t>{0, 1, 2}));
}

TEST_F(TaskRunnerTest, CompletedSparseTaskReportsItsScoreHistogram) {
  ASSERT_TRUE(Run(FlightsTask("flights")).ok());
  ASSERT_EQ(coordinator_.completed().size(), 1u);
  const v1::CompleteTaskRequest done = coordinator_.completed()[0];
  EXPECT_FALSE(done.failed());
  EXPECT_EQ(done.train_examples(), 500);
  EXPECT_EQ(done.test_examples(), 200);
  int64_t scored = 0;
  for (int64_t n : done.score_hist_pos()) scored += n;
  for (int64_t n : done.score_hist_neg()) scored += n;
  EXPECT_EQ(scored, 200);
}

TEST_F(TaskRunnerTest, ProgressReportsAreRecordedAsMetrics) {
  Metrics metrics;
  WorkerMetrics worker_metrics(&metrics);
  ASSERT_TRUE(RunTask(MnistTask("metered"),
                      {.member_id = "worker-1",
                       .coordinator = &coordinator_,
                       .stores = &stores_,
                       .metrics = &worker_metrics},
                      &cancelled_)
                  .ok());
  const std::string text = metrics.Text();
  EXPECT_NE(text.find("ps_worker_steps_total{job_id=\"metered\"} 7"),
            std::string::npos)
      << text;
  EXPECT_NE(text.find("ps_worker_examples_total{job_id=\"metered\"} 200"),
            std::string::npos)
      << text;
}

TEST_F(TaskRunnerTest, ProgressIsReportedEveryFewStepsAndAfterTheLast) {
  ASSERT_TRUE(Run(MnistTask("progress")).ok());
  std::vector<int64_t> steps;
  for (const v1::ReportProgressRequest& p : coordinator_.progress()) {
    EXPECT_EQ(p.member_id(), "worker-1");
    EXPECT_EQ(p.total_steps(), 7);
    steps.push_back(p.step());
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{2, 4, 6, 7}));
}

// A rank taken over from a lost worker starts at the task's resume step,
// pushes under the rank's original worker id and reports its steps counted
// from the start of training.
TEST_F(TaskRunnerTest, TakenOverRankResumesAtItsStepUnderTheRanksWorkerId) {
  v1::Task task = MnistTask("resumed");
  task.set_push_worker_id("worker-0");
  task.set_resume_step(3);
  ASSERT_TRUE(Run(task).ok());
  EXPECT_EQ(stores_.worker_ids(), std::vector<std::string>{"worker-0"});
  EXPECT_EQ(stores_.pushed_clocks(), (std::vector<int64_t>{3, 4, 5, 6}));
  std::vector<int64_t> steps;
  for (const v1::ReportProgressRequest& p : coordinator_.progress()) {
    EXPECT_EQ(p.member_id(), "worker-1");
    steps.push_back(p.step());
  }
  EXPECT_EQ(steps, (std::vector<int64_t>{4, 6, 7}));
  ASSERT_EQ(coordinator_.completed().size(), 1u);
  EXPECT_EQ(coordinator_.completed()[0].member_id(), "worker-1");
  EXPECT_FALSE(coordinator_.completed()[0].failed());
}

TEST_F(TaskRunnerTest, ResumeStepPastTheLastStepFailsTheTask) {
  v1::Task task = MnistTask("too-far");
  task.set_resume_step(8);
  EXPECT_EQ(Run(task).code(), absl::StatusCode::kInvalidArgument);
  ASSERT_EQ(coordinator_.completed().size(), 1u);
  EXPECT_TRUE(coordinator_.completed()[0].failed());
}

TEST_F(TaskRunnerTest, TrainedBarrierIsAskedInSlicesUntilTheOthersArrive) {
  coordinator_.QueueBarrierAnswer(absl::DeadlineExceededError("rank 1"));
  coordinator_.QueueBarrierAnswer(absl::DeadlineExceededError("rank 1"));
  ASSERT_TRUE(Run(MnistTask("barrier")).ok());
  const std::vector<v1::BarrierRequest> barriers = coordinator_.barriers();
  ASSERT_EQ(barriers.size(), 3u);
  for (const v1::BarrierRequest& b : barriers) {
    EXPECT_EQ(b.name(), "trained");
    EXPECT_EQ(b.job_id(), "barrier");
    EXPECT_GE(b.timeout_ms(), 1);
    EXPECT_LE(b.timeout_ms(), 1000);
  }
  ASSERT_EQ(coordinator_.completed().size(), 1u);
  EXPECT_FALSE(coordinator_.completed()[0].failed());
}

// A barrier that runs out says how long the task waited in all, not how
// long its last slice was.
TEST_F(TaskRunnerTest, BarrierTimeoutNamesTheWholeWait) {
  for (int i = 0; i < 3; ++i) {
    coordinator_.QueueBarrierAnswer(absl::DeadlineExceededError(
        "barrier 'trained' timed out after 1ms; missing ranks: 1"));
  }
  const absl::Status outcome =
      RunTask(MnistTask("late"),
              {.member_id = "worker-1",
               .coordinator = &coordinator_,
               .stores = &stores_,
               .barrier_timeout = absl::Milliseconds(1)},
              &cancelled_);
  EXPECT_EQ(outcome.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(outcome.message().find("waited 1ms at the trained barrier"),
            std::string::npos)
      << outcome;
  EXPECT_NE(outcome.message().find("missing ranks: 1"), std::string::npos);
  ASSERT_EQ(coordinator_.completed().size(), 1u);
  EXPECT_TRUE(coordinator_.completed()[0].failed());
}

TEST_F(TaskRunnerTest, FailedTaskReportsFailedWithItsReason) {
  const absl::Status outcome = Run(MissingDataTask("missing"));
  EXPECT_EQ(outcome.code(), absl::StatusCode::kNotFound);
  ASSERT_EQ(coordinator_.completed().size(), 1u);
  const v1::CompleteTaskRequest done = coordinator_.completed()[0];
  EXPECT_TRUE(done.failed());
  EXPECT_NE(done.reason().find("/nonexistent/missing"), std::string::npos)
      << done.reason();
  EXPECT_EQ(stores_.connections(), 0);
}

TEST_F(TaskRunnerTest, BarrierThatFailsFailsTheTask) {
  coordinator_.QueueBarrierAnswer(absl::UnavailableError("coordinator gone"));
  EXPECT_EQ(Run(MnistTask("unavailable")).code(),
            absl::StatusCode::kUnavailable);
  ASSERT_EQ(coordinator_.completed().size(), 1u);
  EXPECT_TRUE(coordinator_.completed()[0].failed());
}

TEST_F(TaskRunnerTest, CancelledTaskReportsNothing) {
  cancelled_ = true;
  EXPECT_EQ(Run(MnistTask("cancelled")).code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(coordinator_.completed().empty());
  EXPECT_TRUE(coordinator_.progress().empty());
}

TEST_F(TaskRunnerTest, JobEndedAtTheCoordinatorReportsNothing) {
  coordinator_.SetProgressAnswer(absl::CancelledError("job is CANCELLED"));
  EXPECT_EQ(Run(FlightsTask("ended")).code(), absl::StatusCode::kCancelled);
  EXPECT_EQ(coordinator_.progress().size(), 1u);
  EXPECT_TRUE(coordinator_.barriers().empty());
  EXPECT_TRUE(coordinator_.completed().empty());
}

TEST_F(TaskRunnerTest, EnsembleTaskReportsEveryMemberAndTheMixture) {
  v1::Task task = MnistTask("ensemble");
  v1::EnsembleSpec* e =
      task.mutable_spec()->mutable_model()->mutable_ensemble();
  e->add_members();
  e->add_members()->set_seed(11);
  e->set_holdout_fraction(0.2f);
  ASSERT_TRUE(Run(task).ok());
  ASSERT_EQ(coordinator_.completed().size(), 1u);
  const v1::CompleteTaskRequest done = coordinator_.completed()[0];
  EXPECT_FALSE(done.failed()) << done.reason();
  EXPECT_EQ(done.train_examples(), 160);  // 40 of 200 held out
  EXPECT_EQ(done.test_examples(), 100);
  ASSERT_EQ(done.members_size(), 2);
  EXPECT_NEAR(done.members(0).weight() + done.members(1).weight(), 1.0, 1e-9);
  for (const v1::MemberEvaluation& m : done.members()) {
    EXPECT_GT(m.test_correct(), 50);
  }
}


}  // namespace
}  // namespace ps::worker
