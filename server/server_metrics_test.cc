#include "server/server_metrics.h"

#include <map>
#include <string>

#include "common/metrics_testing.h"
#include "gtest/gtest.h"
#include "server/test_jobs.h"

namespace ps::server {
namespace {

using Labels = std::map<std::string, std::string>;

v1::PushRequest SparsePush(const std::string& job, const std::string& table,
                           const std::vector<uint64_t>& keys, int dim) {
  v1::PushRequest p;
  p.set_job_id(job);
  p.set_epoch(1);
  v1::SparseSlice* s = p.add_sparse();
  s->set_table(table);
  s->set_keys(static_cast<int64_t>(keys.size()));
  p.set_keys(std::string(reinterpret_cast<const char*>(keys.data()),
                         keys.size() * sizeof(uint64_t)));
  p.set_values(std::string(keys.size() * dim * sizeof(float), '\0'));
  return p;
}

TEST(ServerMetricsTest, TablesAndJobsAreReadFromTheStoreWhenScraped) {
  Metrics metrics;
  TableStore store;
  ServerMetrics server_metrics(&metrics, &store);
  ASSERT_TRUE(store.CreateTables(CreateOneTableJob("dense", 100)).ok());
  ASSERT_TRUE(store.CreateTables(CreateSparseJob("sparse", "emb", 4)).ok());
  bool duplicate = false;
  ASSERT_TRUE(
      store.Push(PushAllOfW("dense", RampGradient(100)), &duplicate).ok());
  ASSERT_TRUE(
      store.Push(SparsePush("sparse", "emb", {1, 2, 3}, 4), &duplicate).ok());

  const Labels dense_w = {{"job_id", "dense"}, {"table", "w"}};
  const Labels sparse_emb = {{"job_id", "sparse"}, {"table", "emb"}};
  EXPECT_EQ(MetricValue(metrics, "ps_server_table_values", dense_w), 100);
  EXPECT_GE(MetricValue(metrics, "ps_server_table_bytes", dense_w), 400);
  EXPECT_EQ(MetricValue(metrics, "ps_server_table_rows", dense_w),
            -1);  // dense
  EXPECT_EQ(MetricValue(metrics, "ps_server_table_rows", sparse_emb), 3);
  EXPECT_EQ(MetricValue(metrics, "ps_server_table_values", sparse_emb), 12);
  EXPECT_EQ(MetricValue(metrics, "ps_server_job_pushes_applied_total",
                        {{"job_id", "dense"}}),
            1);
  EXPECT_EQ(MetricValue(metrics, "ps_server_groups",
                        {{"job_id", "dense"}, {"role", "PRIMARY"}}),
            1);

  // A job's series go away with its tables.
  ASSERT_TRUE(store.DropTables("dense").ok());
  EXPECT_EQ(MetricValue(metrics, "ps_server_table_values", dense_w), -1);
  EXPECT_EQ(MetricValue(metrics, "ps_server_job_pushes_applied_total",
                        {{"job_id", "dense"}}),
            -1);
  EXPECT_EQ(MetricValue(metrics, "ps_server_table_rows", sparse_emb), 3);
}

TEST(ServerMetricsTest, EventsAreRecorded) {
  Metrics metrics;
  TableStore store;
  ServerMetrics m(&metrics, &store);
  m.PushApplied(0.001);
  m.PullAnswered(0.5, 2);
  m.PullAnswered(0.1, -1);  // failed: no staleness
  m.Forwarded(2, /*ok=*/true);
  m.Forwarded(2, /*ok=*/false);
  m.GroupCopied(1000);
  m.CheckpointWritten(500);
  EXPECT_EQ(MetricValue(metrics, "ps_server_push_apply_seconds"), 1);
  EXPECT_EQ(MetricValue(metrics, "ps_server_pull_wait_seconds"), 2);
  EXPECT_EQ(MetricValue(metrics, "ps_server_pull_staleness"), 1);
  EXPECT_EQ(MetricValue(metrics, "ps_server_forwarded_pushes_total"), 4);
  EXPECT_EQ(MetricValue(metrics, "ps_server_forward_failures_total"), 1);
  EXPECT_EQ(MetricValue(metrics, "ps_server_group_copy_bytes_total"), 1000);
  EXPECT_EQ(MetricValue(metrics, "ps_server_checkpoint_bytes_total"), 500);
}

}  // namespace
}  // namespace ps::server
