#include "coordinator/job_progress.h"

#include "common/auc.h"
#include "gtest/gtest.h"

namespace ps::coordinator {
namespace {

v1::ReportProgressRequest Report(int64_t step, int32_t epoch, double loss,
                                 double eps) {
  v1::ReportProgressRequest r;
  r.set_step(step);
  r.set_total_steps(100);
  r.set_epoch(epoch);
  r.set_loss(loss);
  r.set_accuracy(0.5);
  r.set_examples_per_sec(eps);
  return r;
}

TEST(JobProgressTest, SumsStepsAveragesLossAndEstimatesEta) {
  v1::ReportProgressRequest stale = Report(60, 3, 0.5, 300);
  stale.set_max_staleness(2);
  v1::JobProgress p = AggregateProgress({Report(40, 2, 1.0, 100), stale}, 10);
  EXPECT_EQ(p.max_staleness(), 2);
  EXPECT_EQ(p.step(), 100);
  EXPECT_EQ(p.total_steps(), 200);
  EXPECT_EQ(p.epoch(), 2);
  EXPECT_DOUBLE_EQ(p.loss(), 0.75);
  EXPECT_DOUBLE_EQ(p.examples_per_sec(), 400);
  EXPECT_DOUBLE_EQ(p.eta_seconds(), 100 / 40.0);  // 40 steps/s
}

TEST(JobProgressTest, SilentRanksDoNotDiluteLoss) {
  v1::JobProgress p = AggregateProgress({Report(10, 1, 2.0, 10), {}}, 1);
  EXPECT_DOUBLE_EQ(p.loss(), 2.0);
  EXPECT_EQ(p.epoch(), 0);
}

TEST(JobProgressTest, CombinesEvaluationsOverAllRanks) {
  v1::CompleteTaskRequest a, b;
  a.set_test_examples(600);
  a.set_test_correct(500);
  a.set_test_loss_sum(60);
  b.set_test_examples(400);
  b.set_test_correct(350);
  b.set_test_loss_sum(20);
  v1::JobResult r = CombineEvaluations({a, b});
  EXPECT_EQ(r.test_examples(), 1000);
  EXPECT_DOUBLE_EQ(r.test_accuracy(), 0.85);
  EXPECT_DOUBLE_EQ(r.test_loss(), 0.08);
}

v1::MemberEvaluation Member(int64_t correct, double loss, double weight) {
  v1::MemberEvaluation m;
  m.set_test_correct(correct);
  m.set_test_loss_sum(loss);
  m.set_weight(weight);
  return m;
}

// Each member's figures add up over the ranks' test shards like the
// ensemble's own.
TEST(CombineEvaluationsTest, SumsEachEnsembleMemberOverRanks) {
  v1::CompleteTaskRequest a, b;
  a.set_test_examples(600);
  a.set_test_correct(540);
  b.set_test_examples(400);
  b.set_test_correct(350);
  *a.add_members() = Member(500, 60, 0.25);
  *a.add_members() = Member(530, 30, 0.75);
  *b.add_members() = Member(300, 40, 0.25);
  *b.add_members() = Member(340, 20, 0.75);
  v1::JobResult r = CombineEvaluations({a, b});
  EXPECT_DOUBLE_EQ(r.test_accuracy(), 0.89);
  ASSERT_EQ(r.members_size(), 2);
  EXPECT_EQ(r.members(0).index(), 0);
  EXPECT_DOUBLE_EQ(r.members(0).test_accuracy(), 0.8);
  EXPECT_DOUBLE_EQ(r.members(0).test_loss(), 0.1);
  EXPECT_DOUBLE_EQ(r.members(0).weight(), 0.25);
  EXPECT_EQ(r.members(1).index(), 1);
  EXPECT_DOUBLE_EQ(r.members(1).test_accuracy(), 0.87);
  EXPECT_DOUBLE_EQ(r.members(1).test_loss(), 0.05);
  EXPECT_DOUBLE_EQ(r.members(1).weight(), 0.75);
}

TEST(CombineEvaluationsTest, SingleModelHasNoMembers) {
  v1::CompleteTaskRequest a;
  a.set_test_examples(10);
  EXPECT_EQ(CombineEvaluations({a}).members_size(), 0);
}

TEST(CombineEvaluationsTest, MergesScoreHistogramsIntoOneAuc) {
  // Rank 0 holds the positives, rank 1 the negatives: only the merged
  // histograms can rank them against each other.
  v1::CompleteTaskRequest a, b;
  a.set_test_examples(2);
  b.set_test_examples(2);
  for (int i = 0; i < kAucBins; ++i) {
    a.add_score_hist_pos(i == kAucBins - 1 ? 2 : 0);
    a.add_score_hist_neg(0);
    b.add_score_hist_pos(0);
    b.add_score_hist_neg(i == 0 ? 2 : 0);
  }
  v1::JobResult r = CombineEvaluations({a, b});
  EXPECT_DOUBLE_EQ(r.test_auc(), 1.0);
}

TEST(CombineEvaluationsTest, SumsEachRoundOverRanks) {
  v1::CompleteTaskRequest a, b;
  for (int round : {2, 1}) {  // any order in; ascending out
    v1::RoundEvaluation& e = *a.add_rounds();
    e.set_round(round);
    e.set_test_examples(100);
    e.set_test_correct(round == 1 ? 50 : 70);
    e.set_test_loss_sum(100);
    e.add_clients(1);
  }
  v1::RoundEvaluation& e = *b.add_rounds();
  e.set_round(1);
  e.set_test_examples(300);
  e.set_test_correct(250);
  e.set_test_loss_sum(100);
  e.add_clients(1);
  v1::JobResult r = CombineEvaluations({a, b});
  ASSERT_EQ(r.rounds_size(), 2);
  EXPECT_EQ(r.rounds(0).round(), 1);
  EXPECT_DOUBLE_EQ(r.rounds(0).test_accuracy(), 0.75);
  EXPECT_DOUBLE_EQ(r.rounds(0).test_loss(), 0.5);
  EXPECT_EQ(r.rounds(0).clients_size(), 1);
  EXPECT_EQ(r.rounds(1).round(), 2);
  EXPECT_DOUBLE_EQ(r.rounds(1).test_accuracy(), 0.7);
}

}  // namespace
}  // namespace ps::coordinator
