#include "client/psctl/format.h"

#include "gmock/gmock.h"
#include "absl/strings/str_split.h"
#include "gtest/gtest.h"

namespace ps::client {
namespace {

using ::testing::HasSubstr;
using ::testing::Not;

TEST(FormatTest, ClockFormatsMinutesAndHours) {
  EXPECT_EQ(Clock(0), "0:00");
  EXPECT_EQ(Clock(125), "2:05");
  EXPECT_EQ(Clock(3725), "1:02:05");
  EXPECT_EQ(Clock(-1), "-");
}

TEST(FormatTest, ProgressLineShowsStepLossAccuracyThroughputEta) {
  v1::Job job;
  job.set_id("job-3");
  job.set_state(v1::RUNNING);
  job.mutable_spec()->mutable_training()->set_epochs(5);
  v1::JobProgress* p = job.mutable_progress();
  p->set_epoch(2);
  p->set_step(1200);
  p->set_total_steps(4690);
  p->set_loss(0.41234);
  p->set_accuracy(0.852);
  p->set_examples_per_sec(12345);
  p->set_eta_seconds(72);
  EXPECT_EQ(ProgressLine(job),
            "job-3 RUNNING epoch 2/5 step 1200/4690 loss 0.4123 acc 85.2% "
            "12345 ex/s ETA 1:12");
}

TEST(FormatTest, PendingShowsWhatItWaitsFor) {
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::PENDING);
  job.set_reason("waiting for 2 idle workers (1 idle)");
  EXPECT_EQ(ProgressLine(job),
            "job-1 PENDING (waiting for 2 idle workers (1 idle))");
}

TEST(FormatTest, DetailsShowReasonAndResult) {
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::FAILED);
  job.set_reason("worker-3 lost its lease");
  EXPECT_NE(JobDetails(job).find("reason:   worker-3 lost its lease"),
            std::string::npos);
  job.mutable_spec()->mutable_training()->set_consistency(v1::SSP);
  job.mutable_spec()->mutable_training()->set_staleness(2);
  job.mutable_progress()->set_max_staleness(2);
  EXPECT_NE(JobDetails(job).find("sync:     SSP(2), max staleness 2"),
            std::string::npos)
      << JobDetails(job);
  job.set_state(v1::SUCCEEDED);
  job.mutable_result()->set_test_accuracy(0.8612);
  EXPECT_NE(JobDetails(job).find("test accuracy 86.12%"), std::string::npos);
}

TEST(FormatTest, FederatedJobShowsItsModeAndEveryRound) {
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::SUCCEEDED);
  v1::TrainingSpec& t = *job.mutable_spec()->mutable_training();
  t.set_epochs(2);
  t.mutable_federated()->set_client_fraction(0.4f);
  t.mutable_federated()->set_local_epochs(3);
  for (int r : {1, 2}) {
    v1::RoundResult& round = *job.mutable_result()->add_rounds();
    round.set_round(r);
    round.set_test_accuracy(r == 1 ? 0.5 : 0.625);
    round.set_test_loss(1.25);
    round.add_clients(0);
    round.add_clients(3);
  }
  const std::string out = JobDetails(job);
  EXPECT_NE(out.find("mode:     FedAvg, 2 rounds, 40% of the workers a round, "
                     "3 local epochs"),
            std::string::npos)
      << out;
  EXPECT_NE(out.find("    2    62.50%    1.2500  0 3"), std::string::npos)
      << out;
}

TEST(FormatTest, TablesShowSparseRowsAndSkipRangesHeldElsewhere) {
  ServerTables a;
  a.member_id = "server-1";
  v1::TableStatus* wide = a.response.add_tables();
  wide->set_job_id("job-1");
  wide->set_table("wide");
  wide->set_kind(v1::SPARSE);
  wide->set_rows(5968);
  wide->set_values(5968);
  wide->set_bytes(47744);
  wide->set_raw_bytes(47744 / 2);
  v1::TableStatus* bias = a.response.add_tables();
  bias->set_job_id("job-1");
  bias->set_table("bias");
  bias->set_values(0);  // held by another server
  ServerTables b;
  b.member_id = "server-2";
  b.status = absl::UnavailableError("connection refused");
  const std::string out = TablesTable({a, b}, "job-1");
  EXPECT_THAT(out, HasSubstr("wide"));
  EXPECT_THAT(out, HasSubstr("5968"));
  EXPECT_THAT(out, HasSubstr("2.00"));
  EXPECT_THAT(out, Not(HasSubstr("bias")));
  EXPECT_THAT(out, HasSubstr("server-2  no answer: connection refused"));
  EXPECT_EQ(TablesTable({a}, "job-2").find("wide"), std::string::npos);
}

TEST(FormatTest, EnsembleResultShowsEveryMember) {
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::SUCCEEDED);
  v1::ModelSpec* model = job.mutable_spec()->mutable_model();
  model->set_type(v1::MLP);
  job.mutable_spec()->mutable_data()->set_dataset(v1::FASHION_MNIST);
  job.mutable_spec()->mutable_training()->set_seed(7);
  model->mutable_ensemble()->add_members()->add_hidden_sizes(64);
  model->mutable_ensemble()->add_members()->add_hidden_sizes(32);
  job.mutable_result()->set_test_accuracy(0.8712);
  for (int i = 0; i < 2; ++i) {
    v1::MemberResult* m = job.mutable_result()->add_members();
    m->set_index(i);
    m->set_test_accuracy(0.85 + i * 0.01);
    m->set_test_loss(0.4);
    m->set_weight(i == 0 ? 0.25 : 0.75);
  }
  const std::string out = JobDetails(job);
  EXPECT_THAT(out, HasSubstr("test accuracy 87.12%"));
  EXPECT_THAT(out, HasSubstr("member 0: test accuracy 85.00%  test loss "
                             "0.4000  weight 0.250  (784-64-10, seed 7)"));
  EXPECT_THAT(out, HasSubstr("member 1: test accuracy 86.00%"));
  EXPECT_THAT(out, HasSubstr("weight 0.750  (784-32-10, seed 8)"));
}

TEST(FormatTest, SparseModelResultShowsAuc) {
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::SUCCEEDED);
  job.mutable_spec()->mutable_model()->set_type(v1::SPARSE_LR);
  job.mutable_result()->set_test_auc(0.7089);
  job.mutable_result()->set_test_loss(0.4802);
  job.mutable_result()->set_train_examples_per_sec(3000000);
  const std::string out = JobDetails(job);
  EXPECT_THAT(out, HasSubstr("test AUC 0.7089  log-loss 0.4802"));
  EXPECT_THAT(out, HasSubstr("training loop: 3000000 examples/s"));
  EXPECT_THAT(JobTable({job}), HasSubstr("auc 0.7089"));
}

}  // namespace
}  // namespace ps::client

namespace ps::client {
namespace {

TEST(FormatTest, ClusterShowsWhereLiveMembersServeMetrics) {
  v1::GetClusterResponse cluster;
  EXPECT_EQ(MetricsLines(cluster), "");
  cluster.set_metrics_address("127.0.0.1:9000");
  v1::Member* live = cluster.add_members();
  live->set_id("server-1");
  live->set_state(v1::ALIVE);
  live->set_metrics_address("127.0.0.1:9001");
  v1::Member* dead = cluster.add_members();
  dead->set_id("worker-2");
  dead->set_state(v1::DEAD);
  dead->set_metrics_address("127.0.0.1:9002");
  v1::Member* none = cluster.add_members();
  none->set_id("worker-3");
  none->set_state(v1::ALIVE);
  const std::string table = ClusterTable(cluster);
  EXPECT_THAT(table, HasSubstr("metrics (Prometheus):\n"
                               "  coordinator  http://127.0.0.1:9000/metrics\n"
                               "  server-1     http://127.0.0.1:9001/metrics\n"));
  EXPECT_THAT(MetricsLines(cluster), Not(HasSubstr("9002")));
  EXPECT_THAT(MetricsLines(cluster), Not(HasSubstr("worker-3")));
}

TEST(FormatTest, ReplicaLinesSayWhetherEveryGroupHasItsCopies) {
  v1::PartitionMap map;
  map.set_epoch(4);
  map.set_replicas(2);
  for (const char* ids : {"server-1 server-2", "server-2"}) {
    v1::ReplicaGroup* g = map.add_groups();
    for (absl::string_view id : absl::StrSplit(ids, ' ')) {
      g->add_replicas()->set_member_id(std::string(id));
    }
  }
  EXPECT_EQ(ReplicaLines(map),
            "replicas: 2 per group, epoch 4, 1 of 2 groups short of replicas\n"
            "          group 0: server-1, server-2  (primary first)\n"
            "          group 1: server-2  (primary first)\n");
  map.mutable_groups(1)->add_replicas()->set_member_id("server-3");
  EXPECT_NE(ReplicaLines(map).find("fully replicated"), std::string::npos);
  EXPECT_EQ(ReplicaLines(v1::PartitionMap()), "");
}

}  // namespace
}  // namespace ps::client
