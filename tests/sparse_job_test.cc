// End-to-end sparse models: SPARSE_LR and WIDE_DEEP jobs over synthetic
// flights on real ps_coordinator, ps_server and ps_worker processes, with
// sparse rows spread over two servers by virtual partition.
#include "tests/cluster_fixture.h"

#include <algorithm>

#include "client/psctl/export.h"
#include "common/rpc.h"
#include "common/status.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::testing {
namespace {

// Every server's status rows for `job_id`'s table `table`.
std::vector<v1::TableStatus> TableStatuses(client::LocalCluster* cluster,
                                           const std::string& job_id,
                                           const std::string& table) {
  std::vector<v1::TableStatus> out;
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
  v1::GetClusterResponse members;
  EXPECT_TRUE(cluster->coordinator()->GetCluster(&ctx, {}, &members).ok());
  for (const v1::Member& m : members.members()) {
    if (m.role() != v1::SERVER) continue;
    auto stub = v1::ParameterServer::NewStub(MakeChannel(m.address()));
    grpc::ClientContext sctx;
    sctx.set_deadline(DeadlineIn(absl::Seconds(10)));
    v1::ServerStatusResponse status;
    EXPECT_TRUE(stub->ServerStatus(&sctx, {}, &status).ok());
    // Each group's copy on its primary (every server also backs up
    // another server's group).
    std::vector<int> led;
    for (const v1::JobServerStats& j : status.jobs()) {
      if (j.job_id() == job_id && j.role() == v1::PRIMARY) {
        led.push_back(j.group());
      }
    }
    for (const v1::TableStatus& t : status.tables()) {
      if (t.job_id() == job_id && t.table() == table &&
          std::find(led.begin(), led.end(), t.group()) != led.end()) {
        out.push_back(t);
      }
    }
  }
  return out;
}

TEST_F(ClusterTest, SparseLogisticRegressionLearnsAndSpreadsRows) {
  StartCluster(/*servers=*/2, /*workers=*/2);
  std::string id = Submit(FlightsSpec(v1::SPARSE_LR, /*workers=*/2, /*epochs=*/2));
  v1::Job job = WaitForEnd(id, absl::Seconds(120));
  ASSERT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
  EXPECT_EQ(job.result().test_examples(), 4000);
  // A constant predictor scores 0.5; the synthetic rule allows about 0.85.
  EXPECT_GT(job.result().test_auc(), 0.78);
  EXPECT_LT(job.result().test_loss(), 0.62);
  EXPECT_EQ(job.progress().step(), job.progress().total_steps());

  // Both servers hold some of the rows, and every row has dim 1.
  std::vector<v1::TableStatus> wide = TableStatuses(cluster_.get(), id, "wide");
  ASSERT_EQ(wide.size(), 2u);
  int64_t rows = 0;
  for (const v1::TableStatus& t : wide) {
    EXPECT_EQ(t.kind(), v1::SPARSE);
    EXPECT_GT(t.rows(), 0);
    EXPECT_EQ(t.values(), t.rows());
    EXPECT_GT(t.bytes(), 0);
    rows += t.rows();
  }
  // 6 features over 8 airports, 24 hours, 7 weekdays and 8 distances hold
  // at most 8 + 8 + 56 + 24 + 7 + 8 = 111 distinct values.
  EXPECT_GT(rows, 40);
  EXPECT_LE(rows, 111);

  // The export holds every row the servers hold, and the bias.
  const std::string path = work_dir_ + "/flights.psx";
  absl::Status s = client::ExportJob(job, path);
  ASSERT_TRUE(s.ok()) << s;
  auto tables = client::ReadExport(path);
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 2u);
  EXPECT_EQ((*tables)[0].name, "wide");
  EXPECT_EQ(static_cast<int64_t>((*tables)[0].keys.size()), rows);
  EXPECT_EQ((*tables)[1].name, "bias");
  EXPECT_EQ((*tables)[1].values.size(), 1u);
}

TEST_F(ClusterTest, SparseLogisticRegressionUnderBspSucceeds) {
  StartCluster(/*servers=*/2, /*workers=*/2);
  v1::JobSpec spec = FlightsSpec(v1::SPARSE_LR, 2, 1);
  spec.mutable_training()->set_consistency(v1::BSP);
  v1::Job job = WaitForEnd(Submit(spec), absl::Seconds(120));
  ASSERT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
  EXPECT_EQ(job.progress().max_staleness(), 0);
  EXPECT_GT(job.result().test_auc(), 0.75);
}

TEST_F(ClusterTest, WideAndDeepLearns) {
  StartCluster(/*servers=*/2, /*workers=*/1);
  std::string id = Submit(FlightsSpec(v1::WIDE_DEEP, /*workers=*/1, /*epochs=*/2));
  v1::Job job = WaitForEnd(id, absl::Seconds(120));
  ASSERT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
  EXPECT_GT(job.result().test_auc(), 0.78);
  std::vector<v1::TableStatus> embed = TableStatuses(cluster_.get(), id, "embed");
  ASSERT_EQ(embed.size(), 2u);
  for (const v1::TableStatus& t : embed) EXPECT_EQ(t.values(), 4 * t.rows());
}

TEST_F(ClusterTest, SparseSpecErrorsNameTheField) {
  StartCluster(1, 1);
  v1::JobSpec spec = FlightsSpec(v1::SPARSE_LR, 1, 1);
  spec.mutable_data()->set_dataset(v1::FASHION_MNIST);
  absl::Status s = SubmitStatus(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("data.dataset"), std::string::npos) << s;

  spec = FlightsSpec(v1::SPARSE_LR, 1, 1);
  spec.mutable_data()->set_dir(data_dir_ + "/nowhere");
  s = SubmitStatus(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find("train.psf"), std::string::npos) << s;

  spec = FlightsSpec(v1::WIDE_DEEP, 1, 1);
  spec.mutable_model()->set_embedding_dim(1000);
  s = SubmitStatus(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("model.embeddingDim: 1000"), std::string::npos) << s;
}

}  // namespace
}  // namespace ps::testing
