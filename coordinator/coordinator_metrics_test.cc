#include "coordinator/coordinator_metrics.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <string>

#include "common/job_spec.h"
#include "common/metrics_testing.h"
#include "gtest/gtest.h"

namespace ps::coordinator {
namespace {

using Labels = std::map<std::string, std::string>;

// Tables are created and dropped without a word.
class AgreeableServers : public ServerControl {
 public:
  absl::Status CreateTables(const v1::ServerEndpoint&,
                            const v1::CreateTablesRequest&) override {
    return absl::OkStatus();
  }
  absl::Status DropTables(const v1::ServerEndpoint&,
                          const std::string&) override {
    return absl::OkStatus();
  }
};

class CoordinatorMetricsTest : public ::testing::Test {
 protected:
  // A softmax job of one worker over (fake) data files.
  v1::JobSpec Spec() {
    const std::string dir = std::string(std::getenv("TEST_TMPDIR")) + "/data";
    std::filesystem::create_directories(dir);
    v1::JobSpec spec;
    spec.mutable_model()->set_type(v1::SOFTMAX);
    spec.mutable_data()->set_dataset(v1::FASHION_MNIST);
    spec.mutable_data()->set_dir(dir);
    for (const std::string& f : DataFiles(spec)) {
      std::ofstream(dir + "/" + f) << "x";
    }
    spec.mutable_optimizer()->set_type(v1::SGD);
    spec.mutable_optimizer()->set_learning_rate(0.1f);
    spec.mutable_training()->set_epochs(1);
    spec.mutable_training()->set_batch_size(32);
    spec.mutable_cluster()->set_num_workers(1);
    return spec;
  }

  absl::Time now_ = absl::FromUnixSeconds(1000);
  Clock clock_ = [this] { return now_; };
  Membership members_{absl::Seconds(3), clock_};
  AgreeableServers servers_;
  JobManager jobs_{&members_, &servers_, clock_};
  Metrics metrics_;
  CoordinatorMetrics coordinator_metrics_{&metrics_, &members_, &jobs_, clock_};
};

TEST_F(CoordinatorMetricsTest, MembersByRoleAndStateWithHeartbeatAges) {
  auto server = members_.Register(v1::SERVER, "127.0.0.1:1");
  auto worker = members_.Register(v1::WORKER, "127.0.0.1:2");
  ASSERT_TRUE(server.ok() && worker.ok());
  now_ += absl::Seconds(2);
  ASSERT_TRUE(members_.Heartbeat(server->id, server->incarnation).ok());
  now_ += absl::Seconds(2);  // the worker's lease has run out
  members_.Expire();
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_members",
                        {{"role", "SERVER"}, {"state", "ALIVE"}}),
            1);
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_members",
                        {{"role", "WORKER"}, {"state", "DEAD"}}),
            1);
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_members",
                        {{"role", "WORKER"}, {"state", "ALIVE"}}),
            0);
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_member_heartbeat_age_seconds",
                        {{"member", server->id}, {"role", "SERVER"}}),
            2);
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_member_heartbeat_age_seconds",
                        {{"member", worker->id}, {"role", "WORKER"}}),
            -1);  // dead: no lease to watch
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_lease_seconds"), 3);
}

TEST_F(CoordinatorMetricsTest, RunningJobsProgressUntilTheyEnd) {
  ASSERT_TRUE(members_.Register(v1::SERVER, "127.0.0.1:1").ok());
  ASSERT_TRUE(members_.Register(v1::WORKER, "127.0.0.1:2").ok());
  absl::StatusOr<std::string> id = jobs_.Submit(Spec());
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(
      MetricValue(metrics_, "ps_coordinator_jobs", {{"state", "PENDING"}}), 1);
  jobs_.Tick();
  ASSERT_EQ(jobs_.Get(*id)->state(), v1::RUNNING);
  v1::ReportProgressRequest p;
  p.set_job_id(*id);
  p.set_member_id(jobs_.Get(*id)->worker_ids(0));
  p.set_step(40);
  p.set_total_steps(100);
  p.set_loss(0.5);
  p.set_accuracy(0.75);
  p.set_examples_per_sec(1000);
  ASSERT_TRUE(jobs_.ReportProgress(p).ok());
  const Labels job = {{"job_id", *id}};
  EXPECT_EQ(
      MetricValue(metrics_, "ps_coordinator_jobs", {{"state", "RUNNING"}}), 1);
  EXPECT_EQ(
      MetricValue(metrics_, "ps_coordinator_jobs", {{"state", "PENDING"}}), 0);
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_job_steps", job), 40);
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_job_total_steps", job), 100);
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_job_loss", job), 0.5);
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_job_accuracy", job), 0.75);
  EXPECT_EQ(
      MetricValue(metrics_, "ps_coordinator_job_examples_per_second", job),
      1000);
  ASSERT_TRUE(jobs_.Cancel(*id).ok());
  EXPECT_EQ(
      MetricValue(metrics_, "ps_coordinator_jobs", {{"state", "CANCELLED"}}),
      1);
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_job_steps", job), -1);
}

TEST_F(CoordinatorMetricsTest, EventCountersStartAtZero) {
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_server_failovers_total"), 0);
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_checkpoints_total",
                        {{"result", "ok"}}),
            0);
  EXPECT_EQ(MetricValue(metrics_, "ps_coordinator_re_replications_total",
                        {{"result", "failed"}}),
            0);
}

}  // namespace
}  // namespace ps::coordinator
