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

// One server, table "t" of 100 values.
v1::PartitionMap OneServer() {
  std::vector<v1::ServerEndpoint> servers(1);
  servers[0].set_address("a:1");
  std::vector<v1::TableDef> tables(1);
  tables[0].set_name("t");
  tables[0].set_size(100);
  auto map = BuildPartitionMap(1, servers, tables);
  EXPECT_TRUE(map.ok());
  return *map;
}

std::vector<int64_t> ChunkSizes(const std::vector<Chunk>& plan) {
  std::vector<int64_t> sizes;
  for (const Chunk& c : plan) sizes.push_back(c.values);
  return sizes;
}

TEST(ChunkPlanTest, TaperCutsTheLastChunkInHalvesDownToTheMinimum) {
  // 100 values in chunks of 40: 40, 40, 20; the last 20 with a minimum of 4
  // becomes 10, 5, 5 (5 < 2 * 4 ends the halving).
  auto plan = PlanChunks(OneServer(), {{"t", 0, 100, 3}}, 40, 4);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(ChunkSizes(*plan), (std::vector<int64_t>{40, 40, 10, 5, 5}));
  // Every value once, in order, with its buffer offset.
  int64_t next = 0;
  for (const Chunk& c : *plan) {
    for (const RoutedSlice& p : c.pieces) {
      EXPECT_EQ(p.offset, next);
      EXPECT_EQ(p.buffer_offset, next + 3);
      next += p.count;
    }
  }
  EXPECT_EQ(next, 100);
}

TEST(ChunkPlanTest, TaperSplitsPiecesAcrossTheSmallerChunks) {
  // Three refs of 7 share one chunk of 21; halving it to 10, 5, 3, 3 cuts
  // the pieces at 10, 15 and 18.
  auto plan = PlanChunks(
      OneServer(), {{"t", 0, 7, 0}, {"t", 50, 7, 7}, {"t", 90, 7, 14}}, 100, 3);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_EQ(ChunkSizes(*plan), (std::vector<int64_t>{10, 5, 3, 3}));
  std::vector<int64_t> buffer;  // buffer offsets of every value, in order
  for (const Chunk& c : *plan) {
    int64_t sum = 0;
    for (const RoutedSlice& p : c.pieces) {
      sum += p.count;
      for (int64_t i = 0; i < p.count; ++i) {
        buffer.push_back(p.buffer_offset + i);
        // The table offset moves with the buffer offset.
        const int64_t table = p.offset + i;
        EXPECT_EQ(table, buffer.back() < 7    ? buffer.back()
                         : buffer.back() < 14 ? 50 + buffer.back() - 7
                                              : 90 + buffer.back() - 14);
      }
    }
    EXPECT_EQ(sum, c.values);
  }
  std::vector<int64_t> expected(21);
  for (int64_t i = 0; i < 21; ++i) expected[i] = i;
  EXPECT_EQ(buffer, expected);
}

TEST(ChunkPlanTest, TaperLeavesSmallLastChunksAndEveryServerGetsItsOwn) {
  // 17 values per server in chunks of 8: 8, 8, 1; 1 < 2 * 4 stays.
  auto small = PlanChunks(TwoServers(), {{"big", 49983, 34, 0}}, 8, 4);
  ASSERT_TRUE(small.ok()) << small.status();
  EXPECT_EQ(ChunkSizes(*small), (std::vector<int64_t>{8, 8, 8, 8, 1, 1}));
  // 20 per server in chunks of 16: each server's last 4 becomes 2, 2;
  // the servers still alternate.
  auto both = PlanChunks(TwoServers(), {{"big", 49980, 40, 0}}, 16, 2);
  ASSERT_TRUE(both.ok()) << both.status();
  EXPECT_EQ(ChunkSizes(*both), (std::vector<int64_t>{16, 16, 2, 2, 2, 2}));
  for (size_t i = 0; i < both->size(); ++i) {
    EXPECT_EQ((*both)[i].server_index, static_cast<int>(i % 2));
  }
  EXPECT_EQ(PlanChunks(TwoServers(), {{"big", 0, 1, 0}}, 8, -1).status().code(),
            absl::StatusCode::kInvalidArgument);
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

TEST(ChunkValuesTest, SplitsOverEveryConnectionWithinBounds) {
  const int64_t kMb = 1 << 20;
  // 1 MB to one server of two connections: two requests of 512 KB.
  EXPECT_EQ(ChunkValues({{"w", 0, kMb / 4, 0}}, 1, 2, 2 * kMb), kMb / 8);
  // 1 MB to two servers: not below kMinSplitChunkBytes.
  EXPECT_EQ(ChunkValues({{"w", 0, kMb / 4, 0}}, 2, 2, 2 * kMb),
            kMinSplitChunkBytes / 4);
  // 64 MB: at most chunk_bytes.
  EXPECT_EQ(ChunkValues({{"w", 0, 16 * kMb, 0}}, 1, 2, 2 * kMb), kMb / 2);
  // chunk_bytes below the minimum split wins.
  EXPECT_EQ(ChunkValues({{"w", 0, kMb, 0}}, 1, 1, 1024), 256);
}

}  // namespace
}  // namespace ps::client
