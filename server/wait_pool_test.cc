#include "server/wait_pool.h"

#include <atomic>

#include "absl/synchronization/notification.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"

namespace ps::server {
namespace {

TEST(WaitPoolTest, BlockedTasksNeverHoldBackOthers) {
  constexpr int kTasks = 16;
  std::atomic<int> started{0};
  absl::Notification all_started;
  {
    WaitPool pool;
    for (int i = 0; i < kTasks; ++i) {
      // Each task blocks until every task has started: with any fewer
      // threads than tasks this would never finish.
      pool.Run([&] {
        if (++started == kTasks) all_started.Notify();
        all_started.WaitForNotification();
      });
    }
    EXPECT_TRUE(all_started.WaitForNotificationWithTimeout(absl::Seconds(10)));
    EXPECT_EQ(pool.threads(), kTasks);
  }
}

TEST(WaitPoolTest, IdleThreadsAreReused) {
  WaitPool pool;
  for (int i = 0; i < 3; ++i) {
    absl::Notification done;
    pool.Run([&done] { done.Notify(); });
    done.WaitForNotification();
    absl::SleepFor(absl::Milliseconds(50));  // the thread goes back to idle
  }
  EXPECT_EQ(pool.threads(), 1);
}

TEST(WaitPoolTest, DestructorRunsEveryTaskHandedOver) {
  std::atomic<int> ran{0};
  {
    WaitPool pool;
    for (int i = 0; i < 8; ++i) {
      pool.Run([&ran] {
        absl::SleepFor(absl::Milliseconds(5));
        ++ran;
      });
    }
  }
  EXPECT_EQ(ran.load(), 8);
}

}  // namespace
}  // namespace ps::server
