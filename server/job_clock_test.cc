#include "server/job_clock.h"

#include <thread>

#include "gtest/gtest.h"

namespace ps::server {
namespace {

const std::vector<std::string> kWorkers = {"w0", "w1"};

// Finishes `clock` for `worker` in one push.
bool Finish(JobClock& c, const std::string& worker, int64_t clock) {
  bool all = false;
  EXPECT_TRUE(c.RecordPush(worker, clock, 1, &all).ok());
  return all;
}

absl::Time Soon() { return absl::Now() + absl::Milliseconds(50); }

TEST(JobClockTest, AspNeverWaitsButMeasuresStaleness) {
  JobClock c(v1::ASP, 0, kWorkers);
  Finish(c, "w0", 0);
  Finish(c, "w0", 1);
  auto staleness = c.AwaitPull(2, Soon());
  ASSERT_TRUE(staleness.ok());
  EXPECT_EQ(*staleness, 2);  // w1 has finished nothing
  EXPECT_EQ(c.stats().max_staleness, 2);
  EXPECT_EQ(c.stats().waited, 0);
}

TEST(JobClockTest, SspPullWaitsForSlowestWithinBound) {
  JobClock c(v1::SSP, 1, kWorkers);
  Finish(c, "w0", 0);
  Finish(c, "w0", 1);
  EXPECT_EQ(*c.AwaitPull(1, Soon()), 1);  // needs min >= 0: fine
  auto blocked = c.AwaitPull(2, Soon());  // needs min >= 1: w1 is at 0
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(blocked.status().message().find("w1 (rank 1) at clock 0"),
            std::string::npos)
      << blocked.status();
  std::thread slow([&] {
    absl::SleepFor(absl::Milliseconds(20));
    Finish(c, "w1", 0);
  });
  auto released = c.AwaitPull(2, absl::Now() + absl::Seconds(5));
  slow.join();
  ASSERT_TRUE(released.ok());
  EXPECT_EQ(*released, 1);
  EXPECT_LE(c.stats().max_staleness, 1);
  EXPECT_GE(c.stats().waited, 1);
}

TEST(JobClockTest, BspGatesOnPublishedClock) {
  JobClock c(v1::BSP, 5, kWorkers);  // staleness is ignored under BSP
  EXPECT_FALSE(Finish(c, "w0", 0));
  EXPECT_TRUE(Finish(c, "w1", 0));  // every worker finished clock 0
  EXPECT_EQ(c.AwaitPull(1, Soon()).status().code(),
            absl::StatusCode::kDeadlineExceeded);  // not yet applied
  c.Published(1);
  EXPECT_EQ(*c.AwaitPull(1, Soon()), 0);
}

TEST(JobClockTest, ClockFinishesAfterAnnouncedPushes) {
  JobClock c(v1::BSP, 0, kWorkers);
  bool all = true;
  ASSERT_TRUE(c.RecordPush("w0", 0, 3, &all).ok());
  ASSERT_TRUE(c.RecordPush("w1", 0, 1, &all).ok());
  ASSERT_TRUE(c.RecordPush("w0", 0, 3, &all).ok());
  EXPECT_FALSE(all);
  ASSERT_TRUE(c.RecordPush("w0", 0, 3, &all).ok());
  EXPECT_TRUE(all);
}

TEST(JobClockTest, BadPushesAreRejected) {
  JobClock c(v1::SSP, 1, kWorkers);
  EXPECT_EQ(c.CheckPush("stranger", 0, 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(c.CheckPush("w0", 0, 0).code(), absl::StatusCode::kInvalidArgument);
  absl::Status ahead = c.CheckPush("w0", 3, 1);
  EXPECT_EQ(ahead.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(ahead.message().find("next clock on this server is 0"),
            std::string::npos);
}

TEST(JobClockTest, CloseWakesWaitersWithAborted) {
  JobClock c(v1::BSP, 0, kWorkers);
  std::thread closer([&] {
    absl::SleepFor(absl::Milliseconds(20));
    c.Close();
  });
  auto r = c.AwaitPull(1, absl::Now() + absl::Seconds(5));
  closer.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
}

TEST(JobClockTest, RestoreReplacesClocksAndWakesWaitingPulls) {
  JobClock c(v1::SSP, 0, kWorkers);
  Finish(c, "w0", 0);
  JobClock::State state = c.Export();
  ASSERT_EQ(state.workers.size(), 2u);
  EXPECT_EQ(state.workers[0].id, "w0");
  EXPECT_EQ(state.workers[0].finished, 1);
  EXPECT_EQ(state.workers[1].finished, 0);

  absl::StatusOr<int64_t> pulled;
  std::thread pull([&] { pulled = c.AwaitPull(2, absl::InfiniteFuture()); });
  state.workers[0].finished = 2;
  state.workers[1].finished = 2;
  state.workers[1].received = 1;
  c.Restore(state);
  pull.join();
  EXPECT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_FALSE(c.CheckPush("w1", 1, 2).ok());
  EXPECT_FALSE(c.CheckPush("w1", 2, 1).ok()) << "already received 1 of 1";
  EXPECT_TRUE(c.CheckPush("w1", 2, 2).ok());
}

}  // namespace
}  // namespace ps::server
