// When pulls are answered, and on which thread: at once, after a wait on a
// thread of their own, refused beyond the cap, or ended by their deadline
// or their caller giving up. No gRPC server.
#include "server/pull_scheduler.h"

#include <atomic>
#include <memory>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/test_jobs.h"

namespace ps::server {
namespace {

using ::testing::HasSubstr;

// What one pull was answered, and on which thread.
struct Outcome {
  absl::Notification done;
  absl::StatusOr<int64_t> staleness = absl::UnknownError("not answered");
  std::thread::id thread;
};

class PullSchedulerTest : public ::testing::Test {
 protected:
  void Create(v1::Consistency mode) {
    ASSERT_TRUE(store_.CreateTables(CreateTwoWorkerJob(mode, 0)).ok());
  }
  void Push(const std::string& worker, int64_t clock) {
    bool duplicate = false;
    ASSERT_TRUE(
        store_.Push(PushToW(worker, clock, 1.0f, clock + 1), &duplicate).ok());
  }
  // Schedules a pull at `clock` that records its answer in *out.
  void Schedule(PullScheduler& pulls, int64_t clock, absl::Duration timeout,
                Outcome* out, std::atomic<bool>* cancelled = nullptr) {
    absl::StatusOr<PullPlan> plan = store_.PlanPull(PullOfW(clock));
    ASSERT_TRUE(plan.ok()) << plan.status();
    pulls.Schedule(
        *std::move(plan), absl::Now() + timeout,
        [cancelled] { return cancelled != nullptr && cancelled->load(); },
        [out](const PullPlan&, absl::StatusOr<int64_t> staleness) {
          out->staleness = std::move(staleness);
          out->thread = std::this_thread::get_id();
          out->done.Notify();
        });
  }

  TableStore store_;
};

TEST_F(PullSchedulerTest, ReadablePullIsAnsweredOnTheCallingThread) {
  Create(v1::ASP);
  PullScheduler pulls;
  Outcome out;
  Schedule(pulls, 5, absl::Seconds(10), &out);
  ASSERT_TRUE(out.done.HasBeenNotified());
  EXPECT_TRUE(out.staleness.ok()) << out.staleness.status();
  EXPECT_EQ(out.thread, std::this_thread::get_id());
  EXPECT_EQ(pulls.waiting(), 0);
}

TEST_F(PullSchedulerTest, WaitingPullIsAnsweredOnAnotherThreadOnceReadable) {
  Create(v1::BSP);
  PullScheduler pulls;
  Outcome out;
  Schedule(pulls, 1, absl::Seconds(20), &out);
  EXPECT_FALSE(out.done.HasBeenNotified());
  EXPECT_EQ(pulls.waiting(), 1);
  Push("a", 0);
  Push("b", 0);
  ASSERT_TRUE(out.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_TRUE(out.staleness.ok()) << out.staleness.status();
  EXPECT_NE(out.thread, std::this_thread::get_id());
}

TEST_F(PullSchedulerTest, PullsBeyondTheCapAreRefusedAtOnce) {
  Create(v1::BSP);
  PullScheduler pulls({.max_waiting_pulls = 2});
  std::vector<Outcome> waiting(2);
  for (Outcome& out : waiting) Schedule(pulls, 1, absl::Seconds(20), &out);
  Outcome refused;
  Schedule(pulls, 1, absl::Seconds(20), &refused);
  ASSERT_TRUE(refused.done.HasBeenNotified());
  EXPECT_EQ(refused.staleness.status().code(),
            absl::StatusCode::kResourceExhausted);
  EXPECT_THAT(refused.staleness.status().message(),
              HasSubstr("more than 2 pulls"));
  EXPECT_EQ(pulls.waiting(), 2);
  Push("a", 0);
  Push("b", 0);
  for (Outcome& out : waiting) {
    ASSERT_TRUE(out.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
    EXPECT_TRUE(out.staleness.ok()) << out.staleness.status();
  }
}

TEST_F(PullSchedulerTest, WaitEndsAtTheDeadlineAndFreesItsPlace) {
  Create(v1::BSP);
  PullScheduler pulls({.max_waiting_pulls = 1});
  Outcome first;
  Schedule(pulls, 1, absl::Milliseconds(50), &first);
  ASSERT_TRUE(first.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(first.staleness.status().code(),
            absl::StatusCode::kDeadlineExceeded);
  // The count drops just after the answer.
  const absl::Time give_up = absl::Now() + absl::Seconds(10);
  while (pulls.waiting() != 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(1));
  }
  Outcome second;
  Schedule(pulls, 1, absl::Milliseconds(50), &second);
  ASSERT_TRUE(second.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(second.staleness.status().code(),
            absl::StatusCode::kDeadlineExceeded);
}

TEST_F(PullSchedulerTest, MaxWaitBoundsAFarDeadline) {
  Create(v1::BSP);
  PullScheduler pulls({.max_wait = absl::Milliseconds(50)});
  Outcome out;
  Schedule(pulls, 1, absl::Hours(1), &out);
  ASSERT_TRUE(out.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(out.staleness.status().code(), absl::StatusCode::kDeadlineExceeded);
}

TEST_F(PullSchedulerTest, CancelledCallerEndsTheWaitWithinACheckInterval) {
  Create(v1::BSP);
  PullScheduler pulls({.cancel_check_interval = absl::Milliseconds(20)});
  Outcome out;
  std::atomic<bool> cancelled{false};
  Schedule(pulls, 1, absl::Hours(1), &out, &cancelled);
  absl::SleepFor(absl::Milliseconds(50));
  EXPECT_FALSE(out.done.HasBeenNotified());
  cancelled = true;
  ASSERT_TRUE(out.done.WaitForNotificationWithTimeout(absl::Seconds(10)));
  EXPECT_EQ(out.staleness.status().code(), absl::StatusCode::kCancelled);
}

TEST_F(PullSchedulerTest, DestructionAnswersEveryWaitingPull) {
  Create(v1::BSP);
  Outcome out;
  std::atomic<bool> cancelled{false};
  {
    PullScheduler pulls({.cancel_check_interval = absl::Milliseconds(20)});
    Schedule(pulls, 1, absl::Hours(1), &out, &cancelled);
    cancelled = true;  // as a server shutting down cancels its calls
  }
  EXPECT_TRUE(out.done.HasBeenNotified());
}

}  // namespace
}  // namespace ps::server
