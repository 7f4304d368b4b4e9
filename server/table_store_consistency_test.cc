// TableStore under BSP and SSP: when pushes are applied and pulls answered.
#include <limits>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gtest/gtest.h"
#include "server/table_store.h"
#include "server/test_jobs.h"

namespace ps::server {
namespace {

absl::Status Push(TableStore& store, const std::string& worker, int64_t clock,
                  float g, uint64_t seq) {
  v1::PushRequest p = PushToW(worker, clock, g, seq);
  bool dup;
  return store.Push(p, &dup);
}

absl::StatusOr<std::pair<float, int64_t>> Pull(const TableStore& store,
                                               int64_t clock,
                                               absl::Duration wait) {
  v1::PullRequest p = PullOfW(clock);
  v1::PullResponse r;
  absl::Status st = store.Pull(p, absl::Now() + wait, &r);
  if (!st.ok()) return st;
  return std::make_pair(FirstValue(r), r.staleness());
}

TEST(TableStoreConsistencyTest, BspAppliesMeanOnceEveryWorkerPushed) {
  TableStore store;
  ASSERT_TRUE(store.CreateTables(CreateTwoWorkerJob(v1::BSP, 0)).ok());
  ASSERT_TRUE(Push(store, "a", 0, 1.0f, 1).ok());
  EXPECT_EQ(Pull(store, 0, absl::ZeroDuration())->first,
            0.0f);  // not applied yet
  EXPECT_EQ(Pull(store, 1, absl::Milliseconds(20)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(Push(store, "b", 0, 3.0f, 1).ok());
  auto after = Pull(store, 1, absl::Seconds(1));
  ASSERT_TRUE(after.ok());
  EXPECT_EQ(after->first, -2.0f);  // lr 1 * mean(1, 3)
  EXPECT_EQ(after->second, 0);
}

TEST(TableStoreConsistencyTest, BspPullAtNextClockWaitsForSlowWorker) {
  TableStore store;
  ASSERT_TRUE(store.CreateTables(CreateTwoWorkerJob(v1::BSP, 0)).ok());
  ASSERT_TRUE(Push(store, "a", 0, 2.0f, 1).ok());
  std::thread slow([&] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(Push(store, "b", 0, 2.0f, 1).ok());
  });
  auto r = Pull(store, 1, absl::Seconds(5));
  slow.join();
  ASSERT_TRUE(r.ok()) << r.status();
  EXPECT_EQ(r->first, -2.0f);
}

TEST(TableStoreConsistencyTest, SspAppliesAtOnceAndBoundsStaleness) {
  TableStore store;
  ASSERT_TRUE(store.CreateTables(CreateTwoWorkerJob(v1::SSP, 1)).ok());
  ASSERT_TRUE(Push(store, "a", 0, 1.0f, 1).ok());
  EXPECT_EQ(Pull(store, 1, absl::ZeroDuration())->first, -1.0f);  // applied
  ASSERT_TRUE(Push(store, "a", 1, 1.0f, 2).ok());
  auto blocked = Pull(store, 2, absl::Milliseconds(20));
  EXPECT_EQ(blocked.status().code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_NE(blocked.status().message().find("b (rank 1) at clock 0"),
            std::string::npos);
  ASSERT_TRUE(Push(store, "b", 0, 1.0f, 1).ok());
  auto ok = Pull(store, 2, absl::Seconds(1));
  ASSERT_TRUE(ok.ok());
  EXPECT_EQ(ok->second, 1);
  EXPECT_EQ(store.JobStats()[0].max_staleness(), 1);
}

TEST(TableStoreConsistencyTest, OutOfOrderOrUnknownWorkerPushIsRejected) {
  TableStore store;
  ASSERT_TRUE(store.CreateTables(CreateTwoWorkerJob(v1::SSP, 1)).ok());
  EXPECT_EQ(Push(store, "a", 3, 1.0f, 1).code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(Push(store, "zed", 0, 1.0f, 1).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Pull(store, 0, absl::ZeroDuration())->first, 0.0f);
}

// The clock gate computes clock - staleness and clock - the slowest
// worker's clock; at INT64_MIN that overflowed (undefined behaviour found
// with the pull_request fuzz target). A negative clock is refused first.
TEST(TableStoreConsistencyTest, NegativePullClockIsInvalidArgument) {
  for (v1::Consistency mode : {v1::ASP, v1::SSP, v1::BSP}) {
    TableStore store;
    ASSERT_TRUE(
        store.CreateTables(CreateTwoWorkerJob(mode, mode == v1::SSP ? 1 : 0))
            .ok());
    for (int64_t clock : {int64_t{-1}, std::numeric_limits<int64_t>::min()}) {
      absl::StatusOr<PullPlan> plan = store.PlanPull(PullOfW(clock));
      EXPECT_EQ(plan.status().code(), absl::StatusCode::kInvalidArgument)
          << clock;
      EXPECT_NE(plan.status().message().find(absl::StrCat("clock: ", clock)),
                std::string::npos)
          << plan.status();
      EXPECT_NE(plan.status().message().find("allowed: >= 0"),
                std::string::npos)
          << plan.status();
    }
    EXPECT_TRUE(store.PlanPull(PullOfW(0)).ok());
  }
}

TEST(TableStoreConsistencyTest, DropWakesWaitingPull) {
  TableStore store;
  ASSERT_TRUE(store.CreateTables(CreateTwoWorkerJob(v1::BSP, 0)).ok());
  std::thread dropper([&] {
    absl::SleepFor(absl::Milliseconds(50));
    ASSERT_TRUE(store.DropTables("j").ok());
  });
  auto r = Pull(store, 1, absl::Seconds(5));
  dropper.join();
  EXPECT_EQ(r.status().code(), absl::StatusCode::kAborted);
}

}  // namespace
}  // namespace ps::server
