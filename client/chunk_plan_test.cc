#include "client/chunk_plan.h"

#include "gtest/gtest.h"

namespace ps::client {
namespace {

v1::PartitionMap TwoServers() {
  std::vector<v1::ServerEndpoint> servers(2);
  servers[0].set_address("a:1");
  servers[1].set_address("b:1");
  std::vector<v1::TableDef> tables(3);
  tables[0].set_name("big");
  tables[0].set_size(100000);  // [0, 50000) on 0, [50000, 100000) on 1
  tables[1].set_name("s1");
  tables[1].set_size(10);
  tables[2].set_name("s2");
  tables[2].set_size(20);
  auto map = BuildPartitionMap(1, servers, tables);
  EXPECT_TRUE(map.ok());
  return *map;
}

TEST(ChunkPlanTest, SmallRefsShareOneChunkPerServer) {
  auto plan =
      PlanChunks(TwoServers(), {{"s1", 0, 10, 0}, {"s2", 0, 20, 10}}, 1 << 20);
  ASSERT_TRUE(plan.ok()) << plan.status();
  int64_t total = 0;
  for (const Chunk& c : *plan) total += c.values;
  EXPECT_EQ(total, 30);
  // The two small tables land on different servers (least loaded first).
  EXPECT_LE(plan->size(), 2u);
}

TEST(ChunkPlanTest, ManySmallSlicesOfOneServerPackIntoOneChunk) {
  std::vector<TableRef> refs;
  for (int i = 0; i < 100; ++i) refs.push_back({"big", i * 10, 5, i * 5});
  auto plan = PlanChunks(TwoServers(), refs, 1 << 20);
  ASSERT_TRUE(plan.ok());
  ASSERT_EQ(plan->size(), 1u);
  EXPECT_EQ((*plan)[0].pieces.size(), 100u);
  EXPECT_EQ((*plan)[0].values, 500);
}

TEST(ChunkPlanTest, LargeRefIsSplitIntoBoundedInterleavedChunks) {
  auto plan = PlanChunks(TwoServers(), {{"big", 0, 100000, 7}}, 16384);
  ASSERT_TRUE(plan.ok());
  // 50000 values per server: chunks of 16384, 16384, 16384, 848.
  ASSERT_EQ(plan->size(), 8u);
  for (size_t i = 0; i < plan->size(); ++i) {
    const Chunk& c = (*plan)[i];
    EXPECT_EQ(c.server_index, static_cast<int>(i % 2));
    EXPECT_LE(c.values, 16384);
    for (const RoutedSlice& p : c.pieces) {
      EXPECT_EQ(p.buffer_offset, p.offset + 7);  // buffer follows the table
    }
  }
  EXPECT_EQ((*plan)[6].values, 848);
  EXPECT_EQ((*plan)[1].pieces[0].offset, 50000);
}

TEST(ChunkPlanTest, ZeroCountRefsAreSkipped) {
  auto plan = PlanChunks(TwoServers(), {{"big", 0, 0, 0}}, 100);
  ASSERT_TRUE(plan.ok());
  EXPECT_TRUE(plan->empty());
}

TEST(ChunkPlanTest, BadRefsAreRejected) {
  const v1::PartitionMap map = TwoServers();
  EXPECT_EQ(PlanChunks(map, {{"nope", 0, 1, 0}}, 100).status().code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(PlanChunks(map, {{"s1", 5, 6, 0}}, 100).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(PlanChunks(map, {{"s1", -1, 2, 0}}, 100).status().code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(PlanChunks(map, {{"s1", 0, -1, 0}}, 100).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanChunks(map, {{"s1", 0, 1, -1}}, 100).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PlanChunks(map, {{"s1", 0, 1, 0}}, 0).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps::client
