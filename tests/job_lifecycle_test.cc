// End-to-end: real ps_coordinator, ps_server and ps_worker processes on
// loopback, driven over gRPC.
#include <filesystem>

#include "absl/strings/str_cat.h"
#include "client/psctl/export.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

TEST_F(ClusterTest, JobRunsToSucceededAndExports) {
  StartCluster(/*servers=*/2, /*workers=*/2);
  std::string id = Submit(Spec(/*workers=*/2, /*epochs=*/2));
  v1::Job job = WaitForEnd(id, absl::Seconds(120));
  ASSERT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
  EXPECT_EQ(job.result().test_examples(), 1000);
  EXPECT_GT(job.result().test_accuracy(), 0.9);
  EXPECT_EQ(job.progress().step(), job.progress().total_steps());
  EXPECT_EQ(job.partition_map().servers_size(), 2);

  const std::string path = work_dir_ + "/model.psx";
  ASSERT_TRUE(client::ExportJob(job, path).ok());
  auto tables = client::ReadExport(path);
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 4u);
  EXPECT_EQ((*tables)[0].name, "layer0.weight");
  EXPECT_EQ((*tables)[0].shape, (std::vector<int64_t>{784, 32}));
  EXPECT_EQ((*tables)[0].values.size(), 784u * 32);
  EXPECT_EQ((*tables)[3].shape, (std::vector<int64_t>{10}));
}

TEST_F(ClusterTest, BadSpecIsRejectedWithItsMessage) {
  StartCluster(1, 1);
  v1::JobSpec spec = Spec(/*workers=*/3, 1);
  absl::Status s = SubmitStatus(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("cluster.numWorkers: 3 but only 1"), std::string::npos) << s;

  spec = Spec(1, 1);
  spec.mutable_optimizer()->set_learning_rate(-1);
  s = SubmitStatus(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("optimizer.learningRate: -1"), std::string::npos) << s;

  spec = Spec(1, 1);
  spec.mutable_data()->set_dir(data_dir_ + "/nowhere");
  s = SubmitStatus(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find(data_dir_ + "/nowhere/train-images-idx3-ubyte.gz"),
            std::string::npos)
      << s;

  spec = Spec(1, 1);
  spec.mutable_model()->set_type(v1::MODEL_TYPE_UNSPECIFIED);
  s = SubmitStatus(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("model.type"), std::string::npos) << s;
}

TEST_F(ClusterTest, CancelStopsTheWorkers) {
  StartCluster(1, 2);
  std::string id = Submit(Spec(2, /*epochs=*/1000));
  WaitFor(id, [](const v1::Job& j) { return j.progress().step() > 10; },
          absl::Seconds(60));
  grpc::ClientContext ctx;
  v1::CancelJobRequest request;
  request.set_job_id(id);
  v1::CancelJobResponse response;
  ASSERT_TRUE(cluster_->coordinator()->CancelJob(&ctx, request, &response).ok());
  EXPECT_EQ(response.state(), v1::CANCELLED);
  // The workers stop their task and take the next job: it can only finish if
  // both are free again.
  std::string next = Submit(Spec(2, 1, /*mlp=*/false));
  v1::Job job = WaitForEnd(next, absl::Seconds(60));
  EXPECT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
  EXPECT_EQ(GetJob(id).state(), v1::CANCELLED);
  EXPECT_EQ(GetJob(id).reason(), "cancelled by user");
}

// No spare worker and (almost) no --worker_replace_timeout: the rank is
// not taken over and the job fails within the lease. The longer waits for
// a replacement are in worker_replacement_test.
TEST_F(ClusterTest, KilledWorkerFailsJobWithinLease) {
  const absl::Duration lease = absl::Seconds(1);
  StartCluster(1, 2, lease, /*spare_workers=*/0,
               /*worker_replace_timeout=*/absl::Milliseconds(1));
  std::string id = Submit(Spec(2, /*epochs=*/1000));
  WaitFor(id, [](const v1::Job& j) { return j.progress().step() > 10; },
          absl::Seconds(60));
  cluster_->worker_process(1)->Kill();
  const absl::Time killed = absl::Now();
  v1::Job job = WaitForEnd(id, absl::Seconds(10));
  const absl::Duration took = absl::Now() - killed;
  ASSERT_EQ(job.state(), v1::FAILED);
  EXPECT_NE(job.reason().find("lease"), std::string::npos) << job.reason();
  EXPECT_NE(job.reason().find("rank"), std::string::npos) << job.reason();
  // Lease plus the coordinator's 50 ms tick and the poll interval.
  EXPECT_LT(took, lease + absl::Seconds(1)) << absl::FormatDuration(took);
}

}  // namespace
}  // namespace ps::testing
