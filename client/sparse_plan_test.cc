#include "client/sparse_plan.h"

#include <cstring>
#include <numeric>
#include <string>
#include <vector>

#include "common/hash.h"
#include "common/partition.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps::client {
namespace {

using ::testing::HasSubstr;

v1::TableDef Table(const std::string& name, v1::TableKind kind, int dim,
                   int64_t size) {
  v1::TableDef t;
  t.set_name(name);
  t.set_kind(kind);
  t.set_dim(dim);
  t.set_size(size);
  return t;
}

class SparsePlanTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::vector<v1::ServerEndpoint> servers(2);
    servers[0].set_address("a:1");
    servers[1].set_address("b:1");
    auto map = BuildPartitionMap(
        3, servers,
        {Table("embed", v1::SPARSE, 4, 0), Table("wide", v1::SPARSE, 1, 0),
         Table("bias", v1::DENSE, 0, 10)});
    ASSERT_TRUE(map.ok()) << map.status();
    map_ = *map;
    keys_.resize(200);
    std::iota(keys_.begin(), keys_.end(), 1000);
  }

  // A chunk of `count` values of "bias" for `server`, at buffer_offset `at`.
  static Chunk BiasChunk(int server, int64_t count, int64_t at) {
    Chunk chunk;
    chunk.server_index = server;
    chunk.values = count;
    chunk.pieces.push_back({server, "bias", 0, count, at});
    return chunk;
  }

  std::vector<SparseKeys> Tables() const {
    return {{&embed_, keys_, true}, {&wide_, keys_, true}};
  }

  v1::PartitionMap map_;
  std::vector<uint64_t> keys_;
  const std::string embed_ = "embed";
  const std::string wide_ = "wide";
};

TEST_F(SparsePlanTest, DimsComeFromTheMap) {
  auto dims = SparseDims(map_, Tables());
  ASSERT_TRUE(dims.ok()) << dims.status();
  EXPECT_EQ(*dims, std::vector<int>({4, 1}));
}

TEST_F(SparsePlanTest, DimsOfUnknownOrDenseTableAreRefused) {
  const std::string unknown = "nope", dense = "bias";
  auto missing = SparseDims(map_, {{&unknown, keys_, true}});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  auto wrong = SparseDims(map_, {{&dense, keys_, true}});
  EXPECT_EQ(wrong.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(wrong.status().message(), HasSubstr("DENSE"));
}

TEST_F(SparsePlanTest, EachKeyGoesToTheServerOfItsPartition) {
  auto routed = RouteSparse(map_, 1 << 20, Tables(), {4, 1});
  ASSERT_TRUE(routed.ok()) << routed.status();
  int64_t rows = 0;
  for (const SparseRequest& r : *routed) {
    for (const uint64_t* key : r.keys) {
      EXPECT_EQ(map_.partition_servers(
                    SparsePartition(*key, map_.sparse_partitions())),
                r.server_index);
    }
    rows += static_cast<int64_t>(r.rows.size());
  }
  EXPECT_EQ(rows, 2 * static_cast<int64_t>(keys_.size()));
}

TEST_F(SparsePlanTest, RequestsStayWithinChunkBytes) {
  const int64_t chunk_bytes = 5 * (4 * 4 + 8);  // five embed rows
  auto routed = RouteSparse(map_, chunk_bytes, Tables(), {4, 1});
  ASSERT_TRUE(routed.ok()) << routed.status();
  EXPECT_GT(routed->size(), 2u * keys_.size() / 5 / 2);
  for (const SparseRequest& r : *routed) EXPECT_LE(r.Bytes(), chunk_bytes);
}

TEST_F(SparsePlanTest, MapWithoutPartitionsIsInvalid) {
  v1::PartitionMap bad = map_;
  bad.clear_partition_servers();
  auto routed = RouteSparse(bad, 1 << 20, Tables(), {4, 1});
  EXPECT_EQ(routed.status().code(), absl::StatusCode::kInvalidArgument);
  auto none = RouteSparse(bad, 1 << 20, {}, {});
  EXPECT_TRUE(none.ok());  // no sparse refs: nothing to route
}

TEST_F(SparsePlanTest, SmallDenseChunksFoldIntoTheirServersFirstRequest) {
  auto routed = RouteSparse(map_, 1 << 20, Tables(), {4, 1});
  ASSERT_TRUE(routed.ok());
  // The second is too big to fold.
  const std::vector<Chunk> chunks = {BiasChunk(1, 10, 0),
                                     BiasChunk(0, 1000, 0)};
  std::vector<bool> folded =
      FoldDenseChunks(chunks, /*max_fold_bytes=*/400, 1 << 20, &*routed);
  EXPECT_EQ(folded, std::vector<bool>({true, false}));
  for (const SparseRequest& r : *routed) {
    if (r.server_index != 1) continue;
    EXPECT_EQ(r.dense_chunks, std::vector<int>({0}));
    EXPECT_EQ(r.dense_values, 10);
    break;
  }
}

TEST(CountPushesPerServerTest, EveryServerHearsOfTheClockWhenAsked) {
  std::vector<Chunk> chunks(3);
  chunks[0].server_index = 0;
  chunks[1].server_index = 0;
  chunks[2].server_index = 1;
  std::vector<SparseRequest> sparse(1);
  sparse[0].server_index = 1;
  EXPECT_EQ(CountPushesPerServer(chunks, {false, false, true}, 3,
                                 /*every_server=*/false, &sparse),
            std::vector<int32_t>({2, 1, 0}));
  EXPECT_EQ(sparse.size(), 1u);
  EXPECT_EQ(CountPushesPerServer(chunks, {false, false, true}, 3,
                                 /*every_server=*/true, &sparse),
            std::vector<int32_t>({2, 1, 1}));
  ASSERT_EQ(sparse.size(), 2u);
  EXPECT_EQ(sparse[1].server_index, 2);
  EXPECT_TRUE(sparse[1].keys.empty());
}

TEST_F(SparsePlanTest, GatheredValuesScatterBackToTheirPlaces) {
  auto routed = RouteSparse(map_, 1 << 20, Tables(), {4, 1});
  ASSERT_TRUE(routed.ok());
  const std::vector<Chunk> chunks = {BiasChunk(0, 10, 3)};
  FoldDenseChunks(chunks, 400, 1 << 20, &*routed);
  const std::vector<SparseKeys> tables = Tables();
  const SparseCall call{&chunks, &tables, {4, 1}};
  std::vector<float> dense(13), embed(keys_.size() * 4), wide(keys_.size());
  std::iota(dense.begin(), dense.end(), 0.5f);
  std::iota(embed.begin(), embed.end(), 100.0f);
  std::iota(wide.begin(), wide.end(), 5000.0f);
  std::vector<float> dense_out(13), embed_out(embed.size()),
      wide_out(wide.size());
  for (const SparseRequest& r : *routed) {
    const std::string values =
        GatherSparseValues(r, call, dense.data(), {embed.data(), wide.data()});
    ASSERT_TRUE(ScatterSparseValues(r, call, values, dense_out.data(),
                                    {embed_out.data(), wide_out.data()})
                    .ok());
    EXPECT_EQ(ScatterSparseValues(r, call, values + "x", dense_out.data(),
                                  {embed_out.data(), wide_out.data()})
                  .code(),
              absl::StatusCode::kDataLoss);
  }
  EXPECT_EQ(std::vector<float>(dense_out.begin() + 3, dense_out.end()),
            std::vector<float>(dense.begin() + 3, dense.end()));
  EXPECT_EQ(embed_out, embed);
  EXPECT_EQ(wide_out, wide);
}

TEST_F(SparsePlanTest, SlicesNameTablesAndKeysInRowOrder) {
  auto routed = RouteSparse(map_, 1 << 20, Tables(), {4, 1});
  ASSERT_TRUE(routed.ok());
  const std::vector<Chunk> chunks;
  const std::vector<SparseKeys> tables = Tables();
  const SparseCall call{&chunks, &tables, {4, 1}};
  v1::PullRequest request;
  const SparseRequest& r = routed->front();
  WriteSparseSlices(r, call, request.mutable_slices(), request.mutable_sparse(),
                    request.mutable_keys());
  ASSERT_EQ(request.sparse_size(), static_cast<int>(r.slices.size()));
  EXPECT_EQ(request.sparse(0).table(), "embed");
  ASSERT_EQ(request.keys().size(), r.keys.size() * sizeof(uint64_t));
  uint64_t first;
  std::memcpy(&first, request.keys().data(), sizeof(first));
  EXPECT_EQ(first, *r.keys[0]);
}

}  // namespace
}  // namespace ps::client
