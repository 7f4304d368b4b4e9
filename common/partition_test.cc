#include "common/partition.h"

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
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

// A map of three servers: "w" split three ways, "b" whole, sparse "e".
v1::PartitionMap LayoutMap() {
  v1::TableDef e;
  e.set_name("e");
  e.set_kind(v1::SPARSE);
  e.set_dim(2);
  auto map = BuildPartitionMap(
      1, Servers(3), {Table("w", 3 * kMinSplitValues), Table("b", 5), e});
  EXPECT_TRUE(map.ok()) << map.status();
  PlaceReplicaGroups(2, &*map);
  return *map;
}

void ExpectLayoutError(const v1::PartitionMap& map, const std::string& text) {
  absl::Status s = ValidatePartitionLayout(map);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr(text));
}

TEST(PartitionTest, BuiltMapsPassLayoutValidation) {
  EXPECT_TRUE(ValidatePartitionLayout(LayoutMap()).ok());
  auto one = BuildPartitionMap(1, Servers(1), {Table("w", 10)});
  ASSERT_TRUE(one.ok());
  EXPECT_TRUE(ValidatePartitionLayout(*one).ok());
}

TEST(PartitionTest, LayoutValidationNamesTheFlaw) {
  v1::PartitionMap map = LayoutMap();
  map.clear_servers();
  ExpectLayoutError(map, "no servers");

  map = LayoutMap();
  map.mutable_groups()->RemoveLast();
  ExpectLayoutError(map, "2 replica groups for 3 servers");

  map = LayoutMap();
  *map.add_tables() = map.tables(1);
  ExpectLayoutError(map, "table b appears twice");

  map = LayoutMap();
  map.mutable_tables(0)->clear_name();
  ExpectLayoutError(map, "tables[0] has no name");

  map = LayoutMap();
  map.mutable_tables(2)->set_dim(0);
  ExpectLayoutError(map, "SPARSE table e: dim 0");

  map = LayoutMap();
  map.mutable_ranges(0)->set_table("e");
  ExpectLayoutError(map, "no DENSE table of that name");

  map = LayoutMap();
  map.mutable_ranges(3)->set_server_index(3);
  ExpectLayoutError(map, "range b [0, 5): group 3; the map has 3");

  map = LayoutMap();
  map.mutable_ranges(3)->set_end(6);
  ExpectLayoutError(map, "not a non-empty range within [0, 5)");
}

TEST(PartitionTest, LayoutValidationFindsGapsAndOverlaps) {
  v1::PartitionMap map = LayoutMap();
  const int64_t cut = map.ranges(0).end();
  map.mutable_ranges(0)->set_end(cut - 1);
  ExpectLayoutError(
      map, absl::StrCat("table w: no range holds [", cut - 1, ", ", cut, ")"));
  map = LayoutMap();
  map.mutable_ranges(0)->set_end(cut + 2);
  ExpectLayoutError(map, absl::StrCat("table w: ranges overlap in [", cut, ", ",
                                      cut + 2, ")"));
  map = LayoutMap();
  map.mutable_ranges()->RemoveLast();  // "b" has no range left
  ExpectLayoutError(map, "table b: no range holds [0, 5)");
}

TEST(PartitionTest, LayoutValidationChecksSparsePartitions) {
  v1::PartitionMap map = LayoutMap();
  map.mutable_partition_servers()->RemoveLast();
  ExpectLayoutError(map, "4095 partition_servers for 4096");
  map = LayoutMap();
  map.set_partition_servers(7, -1);
  ExpectLayoutError(map, "partition 7: group -1");
  map = LayoutMap();
  map.clear_partition_servers();
  map.set_sparse_partitions(0);
  ExpectLayoutError(map, "sparse tables but no sparse_partitions");
}

}  // namespace
}  // namespace ps
