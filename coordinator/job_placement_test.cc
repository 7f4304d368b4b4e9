#include "coordinator/job_placement.h"

#include "common/partition.h"
#include "gtest/gtest.h"

namespace ps::coordinator {
namespace {

v1::JobSpec Spec(int workers, int servers) {
  v1::JobSpec spec;
  spec.mutable_model()->set_type(v1::SOFTMAX);
  spec.mutable_data()->set_dataset(v1::FASHION_MNIST);
  spec.mutable_optimizer()->set_type(v1::SGD);
  spec.mutable_optimizer()->set_learning_rate(0.1f);
  spec.mutable_training()->set_consistency(v1::SSP);
  spec.mutable_training()->set_staleness(3);
  spec.mutable_cluster()->set_num_workers(workers);
  spec.mutable_cluster()->set_num_servers(servers);
  return spec;
}

std::vector<MemberInfo> Servers(int n) {
  std::vector<MemberInfo> out(n);
  for (int i = 0; i < n; ++i) {
    out[i].id = "s" + std::to_string(i);
    out[i].address = "127.0.0.1:1" + std::to_string(i);
  }
  return out;
}

TEST(WhatJobWaitsForTest, EmptyWhenWorkersAndServersSuffice) {
  EXPECT_EQ(WhatJobWaitsFor(Spec(2, 2), 2, 3), "");
  EXPECT_EQ(WhatJobWaitsFor(Spec(2, 0), 3, 1), "");
}

TEST(WhatJobWaitsForTest, NamesWhatIsMissing) {
  EXPECT_EQ(WhatJobWaitsFor(Spec(2, 1), 1, 1),
            "waiting for 2 idle workers (1 idle) and 1 live servers (1 live)");
  EXPECT_EQ(WhatJobWaitsFor(Spec(1, 3), 1, 2),
            "waiting for 1 idle workers (1 idle) and 3 live servers (2 live)");
  // Every live server is wanted when num_servers is 0, at least one.
  EXPECT_EQ(WhatJobWaitsFor(Spec(1, 0), 1, 0),
            "waiting for 1 idle workers (1 idle) and 1 live servers (0 live)");
}

TEST(PlaceJobTest, TakesTheFirstIdleWorkersAndServersAndAnEpoch) {
  uint64_t epoch = 7;
  absl::StatusOr<Placement> p =
      PlaceJob(Spec(2, 2), {"w0", "w1", "w2"}, Servers(3), &epoch);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->worker_ids, (std::vector<std::string>{"w0", "w1"}));
  EXPECT_EQ(p->partition_map.epoch(), 7u);
  EXPECT_EQ(epoch, 8u);
  ASSERT_EQ(p->partition_map.servers_size(), 2);
  EXPECT_EQ(p->partition_map.servers(1).member_id(), "s1");
  EXPECT_EQ(p->partition_map.servers(1).address(), "127.0.0.1:11");
}

TEST(PlaceJobTest, ModelWithoutTablesFailsAndKeepsTheEpoch) {
  v1::JobSpec spec = Spec(1, 1);
  spec.mutable_model()->clear_type();
  uint64_t epoch = 7;
  absl::StatusOr<Placement> p = PlaceJob(spec, {"w0"}, Servers(1), &epoch);
  EXPECT_FALSE(p.ok());
  EXPECT_EQ(epoch, 7u);
}

TEST(CreateTablesRequestsTest, EachReplicaGetsItsGroupAndTheJobsSettings) {
  uint64_t epoch = 4;
  absl::StatusOr<Placement> p =
      PlaceJob(Spec(2, 2), {"w0", "w1"}, Servers(2), &epoch);
  ASSERT_TRUE(p.ok()) << p.status();
  // Two servers: two copies by default, in a ring.
  ASSERT_EQ(p->partition_map.replicas(), 2);
  ASSERT_EQ(p->partition_map.groups_size(), 2);
  for (int g = 0; g < 2; ++g) {
    const v1::ReplicaGroup& group = p->partition_map.groups(g);
    ASSERT_EQ(group.replicas_size(), 2);
    EXPECT_EQ(group.replicas(0).member_id(),
              p->partition_map.servers(g).member_id());
    EXPECT_EQ(group.replicas(1).member_id(),
              p->partition_map.servers((g + 1) % 2).member_id());
  }
  v1::Job job;
  job.set_id("job-3");
  *job.mutable_spec() = Spec(2, 2);
  *job.mutable_partition_map() = p->partition_map;
  for (const std::string& w : p->worker_ids) job.add_worker_ids(w);
  const std::vector<TableCreation> requests = CreateTablesRequests(job);
  ASSERT_EQ(requests.size(), 4u);  // 2 groups x 2 replicas
  for (int i = 0; i < 4; ++i) {
    const v1::CreateTablesRequest& r = requests[i].request;
    const int g = i / 2;
    EXPECT_EQ(r.group(), g);
    EXPECT_EQ(r.role(), i % 2 == 0 ? v1::PRIMARY : v1::BACKUP);
    EXPECT_EQ(r.backups_size(), i % 2 == 0 ? 1 : 0);
    EXPECT_EQ(requests[i].server.member_id(),
              p->partition_map.servers((g + i % 2) % 2).member_id());
    EXPECT_EQ(r.job_id(), "job-3");
    EXPECT_EQ(r.epoch(), 4u);
    EXPECT_EQ(r.consistency(), v1::SSP);
    EXPECT_EQ(r.staleness(), 3);
    ASSERT_EQ(r.worker_ids_size(), 2);
    EXPECT_EQ(r.worker_ids(1), "w1");
    EXPECT_EQ(r.tables_size(), p->partition_map.tables_size());
    EXPECT_EQ(r.ranges_size(),
              static_cast<int>(RangesOf(p->partition_map, g).size()));
  }
}

TEST(PlaceReplicaGroupsTest, ReplicasAreCappedAndOneServerKeepsOneCopy) {
  v1::JobSpec spec = Spec(1, 1);
  EXPECT_EQ(WantedReplicas(spec, 1), 1);
  EXPECT_EQ(WantedReplicas(spec, 3), 2);
  spec.mutable_cluster()->set_replicas(3);
  EXPECT_EQ(WantedReplicas(spec, 3), 3);
  EXPECT_EQ(WantedReplicas(spec, 2), 2);
  spec.mutable_cluster()->set_replicas(1);
  EXPECT_EQ(WantedReplicas(spec, 4), 1);
}

}  // namespace
}  // namespace ps::coordinator
