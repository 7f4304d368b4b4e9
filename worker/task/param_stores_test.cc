// ServerParamStores against real in-process servers: a BSP pull that times
// out waiting for another rank is sent again within the wait limit.
#include "worker/task/param_stores.h"

#include <thread>

#include "absl/time/clock.h"
#include "client/in_process_servers.h"
#include "gtest/gtest.h"

namespace ps::worker {
namespace {

constexpr char kJob[] = "job-1";
constexpr int64_t kValues = 4;

class ServerParamStoresTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto servers = client::InProcessServers::Start(1);
    ASSERT_TRUE(servers.ok()) << servers.status();
    servers_ = *std::move(servers);
    v1::TableDef table;
    table.set_name("w");
    table.set_size(kValues);
    table.mutable_init()->set_kind(v1::Initializer::ZEROS);
    table.mutable_optimizer()->set_type(v1::SGD);
    table.mutable_optimizer()->set_learning_rate(1);
    // The whole table on the one server.
    v1::PartitionMap map;
    map.set_epoch(1);
    *map.add_servers() = servers_->endpoints()[0];
    *map.add_tables() = table;
    v1::DenseRange* range = map.add_ranges();
    range->set_table("w");
    range->set_end(kValues);
    v1::CreateTablesRequest request;
    request.set_job_id(kJob);
    request.set_consistency(v1::BSP);
    request.add_worker_ids("w0");
    request.add_worker_ids("w1");
    *request.add_tables() = table;
    ASSERT_TRUE(servers_->CreateTables(request, map).ok());
    task_.set_job_id(kJob);
    task_.set_num_workers(2);
    task_.mutable_spec()->mutable_training()->set_consistency(v1::BSP);
    *task_.mutable_partition_map() = map;
  }

  std::unique_ptr<ParamStore> Connect(ServerParamStores* stores,
                                      const std::string& worker_id) {
    auto store = stores->ConnectDense(task_, worker_id, kValues, nullptr);
    EXPECT_TRUE(store.ok()) << store.status();
    return store.ok() ? *std::move(store) : nullptr;
  }

  std::unique_ptr<client::InProcessServers> servers_;
  v1::Task task_;
  const std::vector<float> grads_ = std::vector<float>(kValues, 1.0f);
};

// The other rank's worker was lost and its replacement pushes late: the
// pull outlives several RPC deadlines and reads the step's mean.
TEST_F(ServerParamStoresTest, BspPullWaitsPastRpcDeadlinesForALateRank) {
  ServerParamStores stores({.pull_wait_limit = absl::Seconds(20),
                            .rpc_timeout = absl::Milliseconds(200)});
  std::unique_ptr<ParamStore> early = Connect(&stores, "w0");
  std::unique_ptr<ParamStore> late = Connect(&stores, "w1");
  ASSERT_TRUE(early->Push(grads_.data(), 0).ok());
  std::thread other([&] {
    absl::SleepFor(absl::Seconds(1));  // the simulated late rank, not a wait
    EXPECT_TRUE(late->Push(grads_.data(), 0).ok());
  });
  std::vector<float> params(kValues, -9.0f);
  const absl::Time start = absl::Now();
  absl::StatusOr<int64_t> pulled = early->Pull(params.data(), 1);
  const absl::Duration took = absl::Now() - start;
  other.join();
  ASSERT_TRUE(pulled.ok()) << pulled.status();
  EXPECT_GE(took, absl::Milliseconds(900));
  EXPECT_EQ(params, std::vector<float>(kValues, -1.0f));
}

TEST_F(ServerParamStoresTest, BspPullGivesUpAfterTheWaitLimit) {
  ServerParamStores stores({.pull_wait_limit = absl::Milliseconds(500),
                            .rpc_timeout = absl::Milliseconds(200)});
  std::unique_ptr<ParamStore> store = Connect(&stores, "w0");
  ASSERT_TRUE(store->Push(grads_.data(), 0).ok());
  std::vector<float> params(kValues);
  const absl::Time start = absl::Now();
  absl::StatusOr<int64_t> pulled = store->Pull(params.data(), 1);
  EXPECT_EQ(pulled.status().code(), absl::StatusCode::kDeadlineExceeded)
      << pulled.status();
  EXPECT_NE(pulled.status().message().find("waited 500ms"), std::string::npos)
      << pulled.status();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

}  // namespace
}  // namespace ps::worker
