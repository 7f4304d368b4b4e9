#include "coordinator/rank_handover.h"

#include "gtest/gtest.h"

namespace ps::coordinator {
namespace {

const absl::Time kStart = absl::FromUnixSeconds(1000);

MemberInfo Worker(const std::string& id) {
  return MemberInfo{.id = id, .role = v1::WORKER, .address = "10.0.0.9:4"};
}

TEST(RankHandoversTest, RanksAreFilledOldestFirstAndResumeWhereTold) {
  RankHandovers h;
  EXPECT_FALSE(h.HasVacancy());
  EXPECT_EQ(h.ResumeStep(1), 0);
  h.Vacate(1, Worker("worker-2"), kStart);
  h.Vacate(0, Worker("worker-1"), kStart + absl::Seconds(1));
  EXPECT_EQ(h.vacancies(), 2);
  EXPECT_EQ(h.OldestRank(), 1);
  const VacantRank first = h.Fill(40);
  EXPECT_EQ(first.rank, 1);
  EXPECT_EQ(first.lost_id, "worker-2");
  EXPECT_EQ(h.ResumeStep(1), 40);
  EXPECT_EQ(h.OldestRank(), 0);
  EXPECT_EQ(h.Fill(7).rank, 0);
  EXPECT_FALSE(h.HasVacancy());
  EXPECT_EQ(h.ResumeStep(0), 7);
}

TEST(RankHandoversTest, OverdueOnlyAfterTheTimeoutAndNamesRankAndWorker) {
  RankHandovers h;
  h.Vacate(3, Worker("worker-5"), kStart);
  // Vacated again (a second report of the same loss): the first counts.
  h.Vacate(3, Worker("worker-5"), kStart + absl::Seconds(30));
  EXPECT_EQ(h.vacancies(), 1);
  EXPECT_EQ(h.Overdue(kStart + absl::Seconds(60), absl::Seconds(60)), nullptr);
  const VacantRank* late =
      h.Overdue(kStart + absl::Seconds(61), absl::Seconds(60));
  ASSERT_NE(late, nullptr);
  const std::string reason = NoReplacementReason(*late, absl::Seconds(60));
  EXPECT_NE(reason.find("rank 3 lost its worker worker-5 at 10.0.0.9:4"),
            std::string::npos)
      << reason;
  EXPECT_NE(reason.find("within 1m"), std::string::npos) << reason;
}

TEST(RankHandoversTest, WaitingNamesEveryVacantRank) {
  RankHandovers h;
  h.Vacate(0, Worker("worker-1"), kStart);
  h.Vacate(2, Worker("worker-3"), kStart);
  const std::string waiting = h.Waiting(absl::Seconds(60));
  EXPECT_NE(waiting.find("rank 0 lost worker-1"), std::string::npos);
  EXPECT_NE(waiting.find("rank 2 lost worker-3"), std::string::npos);
  EXPECT_NE(waiting.find("waiting up to 1m"), std::string::npos) << waiting;
}

}  // namespace
}  // namespace ps::coordinator
