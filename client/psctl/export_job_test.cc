// ExportJob against two real in-process servers: dense tables pulled,
// sparse tables scanned from every server.
#include <cstdlib>
#include <memory>
#include <numeric>
#include <vector>

#include "client/in_process_servers.h"
#include "client/ps_client.h"
#include "client/psctl/export.h"
#include "common/partition.h"
#include "gtest/gtest.h"

namespace ps::client {
namespace {

constexpr char kJob[] = "job-1";

class ExportJobTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto servers = InProcessServers::Start(2);
    ASSERT_TRUE(servers.ok()) << servers.status();
    servers_ = *std::move(servers);
    tables_ = {TestTable("wide", 0, 1), TestTable("embed", 0, 4),
               TestTable("bias", 1, 0), TestTable("big", 40000, 0)};
    auto map = servers_->CreateJob(kJob, 3, tables_);
    ASSERT_TRUE(map.ok()) << map.status();
    map_ = *map;
  }

  std::unique_ptr<InProcessServers> servers_;
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
