// ExportJob against two real in-process servers: dense tables pulled,
// sparse tables scanned from every server.
#include <cstdlib>
#include <memory>
#include <numeric>
#include <vector>

#include "client/ps_client.h"
#include "client/psctl/export.h"
#include "common/partition.h"
#include "common/rpc.h"
#include "gtest/gtest.h"
#include "server/ps_service.h"
#include "server/table_store.h"

namespace ps::client {
namespace {

constexpr char kJob[] = "job-1";

v1::TableDef Table(const std::string& name, int64_t size, int dim) {
  v1::TableDef t;
  t.set_name(name);
  t.set_size(size);
  t.mutable_init()->set_kind(v1::Initializer::UNIFORM);
  t.mutable_init()->set_scale(1);
  t.mutable_init()->set_seed(5);
  t.mutable_optimizer()->set_type(v1::SGD);
  t.mutable_optimizer()->set_learning_rate(1);
  if (dim > 0) {
    t.set_kind(v1::SPARSE);
    t.set_dim(dim);
  }
  return t;
}

class ExportJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<v1::ServerEndpoint> endpoints;
    for (int i = 0; i < 2; ++i) {
      stores_.push_back(std::make_unique<server::TableStore>());
      services_.push_back(
          std::make_unique<server::PsService>(stores_.back().get()));
      auto running = StartServer("127.0.0.1", 0, {services_.back().get()});
      ASSERT_TRUE(running.ok()) << running.status();
      endpoints.emplace_back().set_member_id("s-" + std::to_string(i));
      endpoints.back().set_address(running->address);
      servers_.push_back(std::move(running->server));
    }
    tables_ = {Table("wide", 0, 1), Table("embed", 0, 4), Table("bias", 1, 0),
               Table("big", 40000, 0)};
    auto map = BuildPartitionMap(3, endpoints, tables_);
    ASSERT_TRUE(map.ok()) << map.status();
    map_ = *map;
    for (int i = 0; i < 2; ++i) {
      v1::CreateTablesRequest request;
      request.set_job_id(kJob);
      request.set_epoch(map_.epoch());
      for (const auto& t : tables_) *request.add_tables() = t;
      for (const auto& r : RangesOf(map_, i)) *request.add_ranges() = r;
      request.set_sparse_partitions(map_.sparse_partitions());
      for (uint32_t p : PartitionsOf(map_, i)) request.add_owned_partitions(p);
      absl::Status s = stores_[i]->CreateTables(request);
      ASSERT_TRUE(s.ok()) << s;
    }
  }

  void TearDown() override {
    for (auto& s : servers_) s->Shutdown(DeadlineIn(absl::Seconds(1)));
  }

  std::vector<std::unique_ptr<server::TableStore>> stores_;
  std::vector<std::unique_ptr<server::PsService>> services_;
  std::vector<std::unique_ptr<grpc::Server>> servers_;
  std::vector<v1::TableDef> tables_;
  v1::PartitionMap map_;
};

TEST_F(ExportJobTest, ScansEverySparseRowFromEveryServer) {
  auto client = PsClient::Create(kJob, map_, {.worker_id = "w0"});
  ASSERT_TRUE(client.ok()) << client.status();
  std::vector<uint64_t> keys(300);
  std::iota(keys.begin(), keys.end(), 5000);
  const std::vector<TableRef> dense_refs = {{"bias", 0, 1, 0},
                                            {"big", 0, 40000, 1}};
  std::vector<float> dense(40001), embed(keys.size() * 4);
  ASSERT_TRUE((*client)
                  ->Pull(dense_refs, dense.data(),
                         {{"embed", keys, embed.data()}}, 0, nullptr)
                  .ok());
  v1::Job job;
  job.set_id(kJob);
  *job.mutable_partition_map() = map_;
  const std::string path = std::string(std::getenv("TEST_TMPDIR")) + "/job.psx";
  absl::Status s = ExportJob(job, path);
  ASSERT_TRUE(s.ok()) << s;
  auto tables = ReadExport(path);
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), tables_.size());
  const ExportedTable& e = (*tables)[1];
  ASSERT_EQ(e.name, "embed");
  ASSERT_TRUE(e.sparse);
  EXPECT_EQ(e.keys, keys);  // ascending, each once, from both servers
  EXPECT_EQ(e.values, embed);
  EXPECT_TRUE((*tables)[0].keys.empty());  // "wide" was never touched
  EXPECT_EQ((*tables)[2].values,
            std::vector<float>(dense.begin(), dense.begin() + 1));
  EXPECT_EQ((*tables)[3].values,
            std::vector<float>(dense.begin() + 1, dense.end()));
}

}  // namespace
}  // namespace ps::client
