#include "worker/task/task_slot.h"

#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "worker/task/fake_task_coordinator.h"
#include "worker/task/memory_param_stores.h"
#include "worker/task/task_test_data.h"

namespace ps::worker {
namespace {

constexpr absl::Duration kWait = absl::Seconds(30);

v1::HeartbeatResponse WithTask(const v1::Task& task) {
  v1::HeartbeatResponse r;
  *r.mutable_task() = task;
  return r;
}

class TaskSlotTest : public ::testing::Test {
 protected:
  TaskSlotTest() : slot_(ComputeOptions{.device = Device::kCpu}, &stores_) {
    slot_.SetCoordinator([] { return std::string("worker-1"); }, &coordinator_);
  }

  // Sends `heartbeat` until `n` tasks completed: the slot starts a task only
  // once the one before has finished.
  bool HeartbeatUntilCompleted(const v1::HeartbeatResponse& heartbeat,
                               size_t n) {
    const absl::Time deadline = absl::Now() + kWait;
    while (absl::Now() < deadline) {
      slot_.OnHeartbeat(heartbeat);
      if (coordinator_.AwaitCompleted(n, absl::Milliseconds(20))) return true;
    }
    return false;
  }

  FakeTaskCoordinator coordinator_;
  MemoryParamStores stores_;
  TaskSlot slot_;
};

TEST_F(TaskSlotTest, HeartbeatWithATaskStartsIt) {
  slot_.OnHeartbeat(WithTask(MnistTask("job-1")));
  ASSERT_TRUE(coordinator_.AwaitCompleted(1, kWait));
  const v1::CompleteTaskRequest done = coordinator_.completed()[0];
  EXPECT_EQ(done.job_id(), "job-1");
  EXPECT_EQ(done.member_id(), "worker-1");
  EXPECT_FALSE(done.failed());
}

TEST_F(TaskSlotTest, NoTaskStartsBeforeTheCoordinatorIsSet) {
  TaskSlot slot(ComputeOptions{.device = Device::kCpu}, &stores_);
  slot.OnHeartbeat(WithTask(MnistTask("early")));
  slot.Shutdown();
  EXPECT_EQ(stores_.connections(), 0);
}

TEST_F(TaskSlotTest, SameJobNeverRunsTwice) {
  const v1::HeartbeatResponse heartbeat = WithTask(MissingDataTask("job-1"));
  slot_.OnHeartbeat(heartbeat);  // starts the task
  slot_.OnHeartbeat(heartbeat);  // while it runs or after: nothing new
  ASSERT_TRUE(coordinator_.AwaitCompleted(1, kWait));
  for (int i = 0; i < 5; ++i) slot_.OnHeartbeat(heartbeat);
  // A different job does start, so the slot was free to run one.
  ASSERT_TRUE(HeartbeatUntilCompleted(WithTask(MissingDataTask("job-2")), 2));
  const std::vector<v1::CompleteTaskRequest> done = coordinator_.completed();
  ASSERT_EQ(done.size(), 2u);
  EXPECT_EQ(done[0].job_id(), "job-1");
  EXPECT_EQ(done[1].job_id(), "job-2");
}

TEST_F(TaskSlotTest, CancelledJobIdRaisesTheRunningTasksFlag) {
  coordinator_.BarrierNeverCompletes();  // the task waits for other ranks
  slot_.OnHeartbeat(WithTask(MnistTask("job-1")));
  ASSERT_TRUE(coordinator_.AwaitBarrier(kWait));
  v1::HeartbeatResponse cancel;
  cancel.add_cancelled_job_ids("job-1");
  slot_.OnHeartbeat(cancel);
  // Once the cancelled task has stopped, the slot starts the next job.
  ASSERT_TRUE(HeartbeatUntilCompleted(WithTask(MissingDataTask("job-2")), 1));
  const std::vector<v1::CompleteTaskRequest> done = coordinator_.completed();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].job_id(), "job-2");  // job-1 reported nothing
}

TEST_F(TaskSlotTest, RegisteringAgainStopsTheTaskAndMayTakeTheRankAgain) {
  absl::Mutex mu;
  std::string member = "worker-1";
  TaskSlot slot(ComputeOptions{.device = Device::kCpu}, &stores_);
  slot.SetCoordinator(
      [&] {
        absl::MutexLock lock(&mu);
        return member;
      },
      &coordinator_);
  coordinator_.BarrierNeverCompletes();
  slot.OnHeartbeat(WithTask(MnistTask("job-1")));
  ASSERT_TRUE(coordinator_.AwaitBarrier(kWait));
  {
    absl::MutexLock lock(&mu);
    member = "worker-7";  // declared dead, registered again
  }
  // The old task stops (it reports nothing); the same job's rank, now given
  // to the new id, runs once it has.
  const v1::HeartbeatResponse again = WithTask(MissingDataTask("job-1"));
  const absl::Time deadline = absl::Now() + kWait;
  while (!coordinator_.AwaitCompleted(1, absl::Milliseconds(20)) &&
         absl::Now() < deadline) {
    slot.OnHeartbeat(again);
  }
  const std::vector<v1::CompleteTaskRequest> done = coordinator_.completed();
  ASSERT_EQ(done.size(), 1u);
  EXPECT_EQ(done[0].job_id(), "job-1");
  EXPECT_EQ(done[0].member_id(), "worker-7");
  EXPECT_TRUE(done[0].failed());  // MissingDataTask's reason
}

TEST_F(TaskSlotTest, ShutdownCancelsAndJoinsTheRunningTask) {
  coordinator_.BarrierNeverCompletes();
  slot_.OnHeartbeat(WithTask(MnistTask("job-1")));
  ASSERT_TRUE(coordinator_.AwaitBarrier(kWait));
  slot_.Shutdown();  // returns only once the task thread has ended
  EXPECT_TRUE(coordinator_.completed().empty());
  // A shut-down slot starts nothing.
  slot_.OnHeartbeat(WithTask(MissingDataTask("job-2")));
  EXPECT_FALSE(coordinator_.AwaitCompleted(1, absl::Milliseconds(200)));
}

}  // namespace
}  // namespace ps::worker
