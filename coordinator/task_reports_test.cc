#include "coordinator/task_reports.h"

#include "common/auc.h"
#include "gtest/gtest.h"

namespace ps::coordinator {
namespace {

v1::Job Running(int ranks) {
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::RUNNING);
  for (int r = 0; r < ranks; ++r) job.add_worker_ids("w" + std::to_string(r));
  return job;
}

v1::CompleteTaskRequest Done(int rank, int examples, int correct) {
  v1::CompleteTaskRequest c;
  c.set_rank(rank);
  c.set_test_examples(examples);
  c.set_test_correct(correct);
  return c;
}

TEST(CheckRunningRankTest, AcceptsARankOfARunningJobFromItsMember) {
  EXPECT_TRUE(CheckRunningRank(Running(2), 1, "w1").ok());
  EXPECT_TRUE(CheckRunningRank(Running(2), 1, "").ok());
}

TEST(CheckRunningRankTest, RejectsWithTheMostSpecificCode) {
  v1::Job ended = Running(2);
  ended.set_state(v1::CANCELLED);
  ended.set_reason("cancelled by user");
  absl::Status s = CheckRunningRank(ended, 0, "w0");
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(s.message(), "job job-1 is CANCELLED: cancelled by user");
  s = CheckRunningRank(Running(2), 2, "");
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "rank: 2; allowed: [0, 2)");
  s = CheckRunningRank(Running(2), 0, "w1");
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_EQ(s.message(), "rank 0 of job-1 belongs to w0, not w1");
}

TEST(ValidateEvaluationTest, CountsAndHistogramsMustBeConsistent) {
  EXPECT_TRUE(ValidateEvaluation(Done(0, 10, 10)).ok());
  EXPECT_EQ(ValidateEvaluation(Done(0, 10, 11)).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(ValidateEvaluation(Done(0, -1, 0)).code(),
            absl::StatusCode::kInvalidArgument);
  v1::CompleteTaskRequest c = Done(0, 10, 5);
  c.add_score_hist_pos(1);
  EXPECT_EQ(ValidateEvaluation(c).code(), absl::StatusCode::kInvalidArgument);
  for (int b = 0; b < kAucBins; ++b) c.add_score_hist_neg(0);
  for (int b = 1; b < kAucBins; ++b) c.add_score_hist_pos(0);
  EXPECT_TRUE(ValidateEvaluation(c).ok());
  c.set_score_hist_neg(3, -1);
  EXPECT_EQ(ValidateEvaluation(c).message(),
            "score histogram bin 3 is negative; allowed: counts >= 0");
}

TEST(ValidateEvaluationTest, RoundsMustBeConsistent) {
  v1::CompleteTaskRequest c = Done(0, 10, 5);
  v1::RoundEvaluation& e = *c.add_rounds();
  e.set_round(1);
  e.set_test_examples(10);
  e.set_test_correct(5);
  EXPECT_TRUE(ValidateEvaluation(c).ok());
  e.set_test_correct(11);
  EXPECT_EQ(ValidateEvaluation(c).code(), absl::StatusCode::kInvalidArgument);
  e.set_test_correct(5);
  e.set_round(0);
  absl::Status s = ValidateEvaluation(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("rounds: round 0"), std::string::npos) << s;
}

TEST(TaskReportsTest, BarrierReleasesWhenEveryRankArrivedOnce) {
  TaskReports tasks(3);
  tasks.Arrive("trained", 0);
  tasks.Arrive("trained", 0);
  tasks.Arrive("trained", 2);
  EXPECT_FALSE(tasks.AllArrived("trained"));
  EXPECT_EQ(tasks.Missing("trained"), std::vector<int>{1});
  EXPECT_EQ(tasks.Missing("other"), (std::vector<int>{0, 1, 2}));
  tasks.Arrive("trained", 1);
  EXPECT_TRUE(tasks.AllArrived("trained"));
  EXPECT_FALSE(tasks.AllArrived("other"));
}

TEST(TaskReportsTest, CompletesWhenEveryRankReportedAndCombinesResults) {
  TaskReports tasks(2);
  EXPECT_FALSE(tasks.Complete(Done(1, 100, 80)));
  EXPECT_FALSE(tasks.Complete(Done(1, 100, 80)));  // a repeat is no new rank
  EXPECT_TRUE(tasks.Complete(Done(0, 100, 90)));
  EXPECT_DOUBLE_EQ(tasks.Result().test_accuracy(), 0.85);
}

TEST(TaskReportsTest, ProgressIsAggregatedOverRanks) {
  TaskReports tasks(2);
  v1::ReportProgressRequest p;
  p.set_rank(1);
  p.set_step(5);
  p.set_total_steps(10);
  EXPECT_EQ(tasks.AddProgress(p, /*batch_size=*/32).step(), 5);
  p.set_rank(0);
  p.set_step(3);
  EXPECT_EQ(tasks.AddProgress(p, /*batch_size=*/32).step(), 8);
}

TEST(TaskReportsTest, StoredAndRestoredReportsAnswerAlike) {
  TaskReports reports(3);
  v1::ReportProgressRequest p;
  p.set_rank(1);
  p.set_step(40);
  p.set_total_steps(100);
  reports.AddProgress(p, 32);
  EXPECT_TRUE(reports.Arrive("trained", 0));
  EXPECT_TRUE(reports.Arrive("trained", 2));
  EXPECT_FALSE(reports.Complete(Done(2, 10, 9)));
  v1::StoredJob stored;
  *stored.mutable_job() = Running(3);
  reports.SaveTo(&stored);

  TaskReports back = TaskReports::Restore(stored);
  EXPECT_EQ(back.ReportedStep(1), 40);
  EXPECT_EQ(back.ReportedTotal(1), 100);
  EXPECT_EQ(back.Missing("trained"), std::vector<int>{1});
  EXPECT_TRUE(back.Completed(2));
  EXPECT_FALSE(back.Completed(0));
  EXPECT_FALSE(back.Arrive("trained", 2));  // arrived before the restart
  EXPECT_FALSE(back.Complete(Done(0, 10, 10)));
  EXPECT_TRUE(back.Complete(Done(1, 10, 8)));
  EXPECT_EQ(back.Result().test_examples(), 30);
}

TEST(TaskReportsTest, RestoreOfMismatchedListsSizesThemByRank) {
  v1::StoredJob stored;
  *stored.mutable_job() = Running(2);
  stored.add_done(true);  // one entry for two ranks: not trusted
  TaskReports back = TaskReports::Restore(stored);
  EXPECT_EQ(back.ranks(), 2);
  EXPECT_FALSE(back.Completed(0));
  EXPECT_EQ(back.ReportedStep(1), 0);
}

TEST(ValidateEvaluationTest, EnsembleMembersMustBeConsistent) {
  v1::CompleteTaskRequest c = Done(0, 10, 5);
  v1::MemberEvaluation* m = c.add_members();
  m->set_test_correct(10);
  m->set_weight(0.5);
  EXPECT_TRUE(ValidateEvaluation(c).ok());
  m->set_test_correct(11);
  EXPECT_EQ(ValidateEvaluation(c).code(), absl::StatusCode::kInvalidArgument);
  m->set_test_correct(1);
  m->set_weight(1.5);
  absl::Status s = ValidateEvaluation(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("members[0]"), std::string::npos) << s;
}


}  // namespace
}  // namespace ps::coordinator
