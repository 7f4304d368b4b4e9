#include "common/partition.h"

#include "gtest/gtest.h"

namespace ps {
namespace {

std::vector<v1::ServerEndpoint> Servers(int n) {
  std::vector<v1::ServerEndpoint> out(n);
  for (int i = 0; i < n; ++i) out[i].set_member_id("s" + std::to_string(i));
  return out;
}

v1::TableDef Table(const std::string& name, int64_t size) {
  v1::TableDef t;
  t.set_name(name);
  t.set_size(size);
  return t;
}

TEST(PartitionTest, LargeTableIsSplitContiguouslyOverAllServers) {
  auto map = BuildPartitionMap(3, Servers(3), {Table("w", 100001)});
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(map->epoch(), 3u);
  ASSERT_EQ(map->ranges_size(), 3);
  int64_t next = 0;
  for (const auto& r : map->ranges()) {
    EXPECT_EQ(r.begin(), next);
    EXPECT_GE(r.end() - r.begin(), 33333);
    next = r.end();
  }
  EXPECT_EQ(next, 100001);
}

TEST(PartitionTest, SmallTablesGoWholeToLeastLoadedServer) {
  auto map = BuildPartitionMap(
      1, Servers(2), {Table("big", 40000), Table("b1", 10), Table("b2", 20)});
  ASSERT_TRUE(map.ok());
  ASSERT_EQ(map->ranges_size(), 4);
  EXPECT_EQ(map->ranges(2).server_index(), 0);
  EXPECT_EQ(map->ranges(3).server_index(), 1);
  EXPECT_EQ(RangesOf(*map, 1).size(), 2u);
}

TEST(PartitionTest, RouteSplitsAcrossServerBoundaries) {
  auto map = BuildPartitionMap(1, Servers(2), {Table("w", 40000)});
  ASSERT_TRUE(map.ok());
  auto routed = Route(*map, "w", 19990, 20, /*buffer_offset=*/100);
  ASSERT_TRUE(routed.ok());
  ASSERT_EQ(routed->size(), 2u);
  EXPECT_EQ((*routed)[0].server_index, 0);
  EXPECT_EQ((*routed)[0].count, 10);
  EXPECT_EQ((*routed)[0].buffer_offset, 100);
  EXPECT_EQ((*routed)[1].server_index, 1);
  EXPECT_EQ((*routed)[1].offset, 20000);
  EXPECT_EQ((*routed)[1].buffer_offset, 110);
}

TEST(PartitionTest, RouteOutsideTableIsOutOfRange) {
  auto map = BuildPartitionMap(1, Servers(2), {Table("w", 10)});
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(Route(*map, "w", 5, 10, 0).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(Route(*map, "nope", 0, 1, 0).status().code(),
            absl::StatusCode::kOutOfRange);
}

TEST(PartitionTest, NoServersIsFailedPrecondition) {
  EXPECT_EQ(BuildPartitionMap(1, {}, {Table("w", 10)}).status().code(),
            absl::StatusCode::kFailedPrecondition);
}

TEST(PartitionTest, SparseTablesGetVirtualPartitionsRoundRobin) {
  v1::TableDef wide;
  wide.set_name("wide");
  wide.set_kind(v1::SPARSE);
  wide.set_dim(1);
  auto map = BuildPartitionMap(1, Servers(3), {wide, Table("bias", 1)});
  ASSERT_TRUE(map.ok()) << map.status();
  EXPECT_EQ(map->tables_size(), 2);
  ASSERT_EQ(map->ranges_size(), 1);  // only the dense table has a range
  EXPECT_EQ(map->ranges(0).table(), "bias");
  ASSERT_EQ(map->sparse_partitions(), kSparsePartitions);
  ASSERT_EQ(map->partition_servers_size(), static_cast<int>(kSparsePartitions));
  size_t owned = 0;
  for (int s = 0; s < 3; ++s) {
    std::vector<uint32_t> parts = PartitionsOf(*map, s);
    EXPECT_NEAR(parts.size(), kSparsePartitions / 3.0, 1.0);
    for (uint32_t p : parts) EXPECT_EQ(map->partition_servers(p), s);
    owned += parts.size();
  }
  EXPECT_EQ(owned, kSparsePartitions);
}

TEST(PartitionTest, DenseOnlyJobHasNoSparsePartitions) {
  auto map = BuildPartitionMap(1, Servers(2), {Table("w", 10)});
  ASSERT_TRUE(map.ok());
  EXPECT_EQ(map->sparse_partitions(), 0u);
  EXPECT_EQ(map->partition_servers_size(), 0);
}

TEST(PartitionTest, SparseTableNeedsARowWidth) {
  v1::TableDef t;
  t.set_name("embed");
  t.set_kind(v1::SPARSE);
  EXPECT_EQ(BuildPartitionMap(1, Servers(1), {t}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps
