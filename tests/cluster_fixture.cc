#include "tests/cluster_fixture.h"

#include <cstdlib>
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/psctl/export.h"
#include "common/job_state.h"
#include "common/rpc.h"
#include "common/status.h"
#include "tests/synthetic_data.h"

namespace ps::testing {

std::string RunfilesBinDir() {
  const char* srcdir = std::getenv("TEST_SRCDIR");
  const char* workspace = std::getenv("TEST_WORKSPACE");
  return absl::StrCat(srcdir ? srcdir : ".", "/", workspace ? workspace : "pscluster");
}

bool IsFinal(const v1::Job& job) { return ps::IsFinal(job.state()); }

void ClusterTest::StartCluster(int servers, int workers, absl::Duration lease,
                               int spare_workers,
                               absl::Duration worker_replace_timeout) {
  const std::string base = std::getenv("TEST_TMPDIR");
  const std::string name =
      ::testing::UnitTest::GetInstance()->current_test_info()->name();
  work_dir_ = absl::StrCat(base, "/", name, "/logs");
  data_dir_ = absl::StrCat(base, "/", name, "/data");
  std::filesystem::create_directories(work_dir_);
  std::filesystem::create_directories(data_dir_);
  ASSERT_TRUE(WriteSyntheticFashionMnist(data_dir_, 3000, 1000, 7).ok());
  ASSERT_TRUE(WriteSyntheticFlights(data_dir_, 20000, 4000, 7).ok());
  auto cluster = client::LocalCluster::Start(
      {.servers = servers,
       .workers = workers,
       .spare_workers = spare_workers,
       .worker_replace_timeout = worker_replace_timeout,
       .state_dir = state_dir_,
       .bin_dir = RunfilesBinDir(),
       .work_dir = work_dir_,
       .lease = lease,
       .dashboard = dashboard_,
       .metrics = metrics_});
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  cluster_ = *std::move(cluster);
}

v1::JobSpec ClusterTest::Spec(int workers, int epochs, bool mlp) {
  v1::JobSpec spec;
  spec.set_name("test");
  spec.mutable_model()->set_type(mlp ? v1::MLP : v1::SOFTMAX);
  if (mlp) spec.mutable_model()->add_hidden_sizes(32);
  spec.mutable_data()->set_dataset(v1::FASHION_MNIST);
  spec.mutable_data()->set_dir(data_dir_);
  spec.mutable_optimizer()->set_type(v1::SGD);
  spec.mutable_optimizer()->set_learning_rate(0.1f);
  spec.mutable_training()->set_epochs(epochs);
  spec.mutable_training()->set_batch_size(32);
  spec.mutable_training()->set_seed(3);
  spec.mutable_training()->set_report_every_steps(5);
  spec.mutable_cluster()->set_num_workers(workers);
  return spec;
}

v1::JobSpec ClusterTest::FlightsSpec(v1::ModelType type, int workers,
                                     int epochs) {
  v1::JobSpec spec;
  spec.set_name("test-flights");
  spec.mutable_model()->set_type(type);
  spec.mutable_model()->set_hash_bits(16);
  if (type == v1::WIDE_DEEP) {
    spec.mutable_model()->set_embedding_dim(4);
    spec.mutable_model()->add_hidden_sizes(8);
  }
  spec.mutable_data()->set_dataset(v1::FLIGHTS);
  spec.mutable_data()->set_dir(data_dir_);
  spec.mutable_optimizer()->set_type(v1::ADAGRAD);
  spec.mutable_optimizer()->set_learning_rate(0.1f);
  spec.mutable_training()->set_epochs(epochs);
  spec.mutable_training()->set_batch_size(128);
  spec.mutable_training()->set_seed(3);
  spec.mutable_training()->set_report_every_steps(10);
  spec.mutable_cluster()->set_num_workers(workers);
  return spec;
}

absl::Status ClusterTest::SubmitStatus(const v1::JobSpec& spec) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  v1::SubmitJobResponse response;
  return FromGrpcStatus(cluster_->coordinator()->SubmitJob(&ctx, request, &response));
}

std::string ClusterTest::Submit(const v1::JobSpec& spec) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
  v1::SubmitJobRequest request;
  *request.mutable_spec() = spec;
  v1::SubmitJobResponse response;
  grpc::Status s = cluster_->coordinator()->SubmitJob(&ctx, request, &response);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return response.job_id();
}

v1::Job ClusterTest::GetJob(const std::string& id) {
  v1::GetJobRequest request;
  request.set_job_id(id);
  v1::Job job;
  // A coordinator that was just restarted is waited for, not failed on: the
  // first call on the old connection fails UNAVAILABLE.
  const absl::Time deadline = absl::Now() + absl::Seconds(10);
  grpc::Status s;
  do {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
    ctx.set_wait_for_ready(true);
    s = cluster_->coordinator()->GetJob(&ctx, request, &job);
  } while (s.error_code() == grpc::StatusCode::UNAVAILABLE &&
           absl::Now() < deadline);
  EXPECT_TRUE(s.ok()) << s.error_message();
  return job;
}

v1::Job ClusterTest::WaitFor(const std::string& id,
                             const std::function<bool(const v1::Job&)>& done,
                             absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  v1::Job job;
  while (absl::Now() < deadline) {
    job = GetJob(id);
    if (done(job)) return job;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ADD_FAILURE() << "timed out after " << absl::FormatDuration(timeout)
                << " waiting on " << id << "; last seen: " << job.ShortDebugString()
                << "; logs in " << work_dir_;
  return job;
}

v1::Job ClusterTest::WaitForEnd(const std::string& id, absl::Duration timeout) {
  return WaitFor(id, IsFinal, timeout);
}

std::vector<float> ClusterTest::TrainedParams(const v1::Job& job,
                                              const std::string& tag) {
  const std::string path = absl::StrCat(work_dir_, "/", job.id(), tag, ".psx");
  EXPECT_TRUE(client::ExportJob(job, path).ok());
  std::vector<float> out;
  const auto tables = client::ReadExport(path);
  EXPECT_TRUE(tables.ok()) << tables.status();
  if (!tables.ok()) return out;
  for (const auto& t : *tables) {
    out.insert(out.end(), t.values.begin(), t.values.end());
  }
  return out;
}

}  // namespace ps::testing
