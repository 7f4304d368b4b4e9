// PsClient with sparse tables against two real in-process servers: keys
// routed by virtual partition, small dense chunks folded into the sparse
// request of their server, and push + pull in one round trip.
#include <cmath>
#include <limits>
#include <memory>
#include <numeric>
#include <vector>

#include "client/in_process_servers.h"
#include "client/ps_client.h"
#include "common/partition.h"
#include "common/rpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps::client {
namespace {

using ::testing::HasSubstr;

constexpr char kJob[] = "job-1";

v1::TableDef Dense(const std::string& name, int64_t size) {
  return TestTable(name, size);
}

v1::TableDef Sparse(const std::string& name, int dim) {
  return TestTable(name, 0, dim);
}

class PsClientSparseTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto servers = InProcessServers::Start(2);
    ASSERT_TRUE(servers.ok()) << servers.status();
    servers_ = *std::move(servers);
    // "bias" and "small" are whole on one server each; "big" is split.
    tables_ = {Sparse("wide", 1), Sparse("embed", 4), Dense("bias", 1),
               Dense("small", 300), Dense("big", 40000)};
    auto map = servers_->CreateJob(kJob, 3, tables_);
    ASSERT_TRUE(map.ok()) << map.status();
    map_ = *map;
    auto client = PsClient::Create(kJob, map_, {.worker_id = "w0"});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }

  void TearDown() override { client_.reset(); }

  // Every dense table in one flat buffer: bias, small, big.
  std::vector<TableRef> DenseRefs() const {
    return {{"bias", 0, 1, 0}, {"small", 0, 300, 1}, {"big", 0, 40000, 301}};
  }
  static constexpr int64_t kDense = 40301;

  int64_t Rows(int server, const std::string& table) const {
    for (const v1::TableStatus& t : servers_->store(server)->Status()) {
      if (t.table() == table) return t.rows();
    }
    return -1;
  }

  std::unique_ptr<InProcessServers> servers_;
  std::vector<v1::TableDef> tables_;
  v1::PartitionMap map_;
  std::unique_ptr<PsClient> client_;
};

TEST_F(PsClientSparseTest, MixedPullEqualsSeparatePulls) {
  std::vector<uint64_t> keys(500);
  std::iota(keys.begin(), keys.end(), 1000);
  // NaN until written: an unwritten value fails every check below.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> dense(kDense, nan), wide(keys.size(), nan),
      embed(keys.size() * 4, nan);
  ASSERT_TRUE(
      client_
          ->Pull(DenseRefs(), dense.data(),
                 {{"wide", keys, wide.data()}, {"embed", keys, embed.data()}},
                 /*clock=*/0, nullptr)
          .ok());
  std::vector<float> dense2(kDense, nan), wide2(keys.size(), nan),
      embed2(keys.size() * 4, nan);
  ASSERT_TRUE(client_->Pull(DenseRefs(), dense2.data()).ok());
  ASSERT_TRUE(
      client_->Pull({}, nullptr, {{"wide", keys, wide2.data()}}, 0, nullptr)
          .ok());
  ASSERT_TRUE(
      client_->Pull({}, nullptr, {{"embed", keys, embed2.data()}}, 0, nullptr)
          .ok());
  EXPECT_EQ(dense, dense2);
  EXPECT_EQ(wide, wide2);
  EXPECT_EQ(embed, embed2);
  // Every value was written, with an initial value in [-1, 1].
  for (const std::vector<float>* got : {&dense, &wide, &embed}) {
    for (float v : *got) ASSERT_LE(std::abs(v), 1.0f);
  }
  // Rows were created where their partition lives, on both servers.
  EXPECT_GT(Rows(0, "wide"), 0);
  EXPECT_GT(Rows(1, "wide"), 0);
  EXPECT_EQ(Rows(0, "wide") + Rows(1, "wide"), 500);
}

TEST_F(PsClientSparseTest, PushAppliesDenseAndSparseGradients) {
  std::vector<uint64_t> keys = {7, 8, 9, 123456789};
  std::vector<float> dense(kDense), embed(keys.size() * 4);
  ASSERT_TRUE(client_
                  ->Pull(DenseRefs(), dense.data(),
                         {{"embed", keys, embed.data()}}, 0, nullptr)
                  .ok());
  std::vector<float> dense_grads(kDense), embed_grads(embed.size());
  for (int64_t i = 0; i < kDense; ++i) dense_grads[i] = 0.001f * (i % 7);
  for (size_t i = 0; i < embed.size(); ++i) embed_grads[i] = 0.01f * i;
  ASSERT_TRUE(client_
                  ->Push(DenseRefs(), dense_grads.data(),
                         {{"embed", keys, embed_grads.data()}}, 0)
                  .ok());
  std::vector<float> after(kDense), embed_after(embed.size());
  ASSERT_TRUE(client_
                  ->Pull(DenseRefs(), after.data(),
                         {{"embed", keys, embed_after.data()}}, 0, nullptr)
                  .ok());
  for (int64_t i = 0; i < kDense; ++i) {
    ASSERT_FLOAT_EQ(after[i], dense[i] - dense_grads[i]) << i;
  }
  for (size_t i = 0; i < embed.size(); ++i) {
    ASSERT_FLOAT_EQ(embed_after[i], embed[i] - embed_grads[i]) << i;
  }
}

TEST_F(PsClientSparseTest, LargeMixedPushSpanningManySlicesIsApplied) {
  // Requests of a few hundred KB arrive in several pieces; the values must
  // be found across them.
  std::vector<uint64_t> keys(30000);
  std::iota(keys.begin(), keys.end(), 77);
  std::vector<float> dense(kDense), wide(keys.size()), embed(keys.size() * 4);
  ASSERT_TRUE(
      client_
          ->Pull(DenseRefs(), dense.data(),
                 {{"wide", keys, wide.data()}, {"embed", keys, embed.data()}},
                 0, nullptr)
          .ok());
  std::vector<float> dense_grads(kDense, 0.25f), wide_grads(keys.size(), 0.5f),
      embed_grads(embed.size(), 0.125f);
  absl::Status s = client_->Push(
      DenseRefs(), dense_grads.data(),
      {{"wide", keys, wide_grads.data()}, {"embed", keys, embed_grads.data()}},
      0);
  ASSERT_TRUE(s.ok()) << s;
  std::vector<float> dense2(kDense), wide2(keys.size()), embed2(embed.size());
  ASSERT_TRUE(
      client_
          ->Pull(DenseRefs(), dense2.data(),
                 {{"wide", keys, wide2.data()}, {"embed", keys, embed2.data()}},
                 0, nullptr)
          .ok());
  for (int64_t i = 0; i < kDense; ++i)
    ASSERT_FLOAT_EQ(dense2[i], dense[i] - 0.25f) << i;
  for (size_t i = 0; i < wide.size(); ++i)
    ASSERT_FLOAT_EQ(wide2[i], wide[i] - 0.5f) << i;
  for (size_t i = 0; i < embed.size(); ++i) {
    ASSERT_FLOAT_EQ(embed2[i], embed[i] - 0.125f) << i;
  }
}

TEST_F(PsClientSparseTest, PushAndPullAppliesThePushAndAnswersThePull) {
  std::vector<uint64_t> keys = {1, 2, 3};
  std::vector<float> dense(kDense), wide(3);
  ASSERT_TRUE(client_
                  ->Pull(DenseRefs(), dense.data(),
                         {{"wide", keys, wide.data()}}, 0, nullptr)
                  .ok());
  std::vector<float> grads(kDense, 0.5f), wide_grads = {1, 2, 3};
  std::vector<float> dense2(kDense), wide2(3);
  int64_t staleness = -1;
  ASSERT_TRUE(client_
                  ->PushAndPull(DenseRefs(), grads.data(),
                                {{"wide", keys, wide_grads.data()}}, 0,
                                DenseRefs(), dense2.data(),
                                {{"wide", keys, wide2.data()}}, 0, &staleness)
                  .ok());
  EXPECT_EQ(staleness, 0);
  // Under ASP the pull beside the push sees each value before or after it.
  for (int i = 0; i < 3; ++i) {
    EXPECT_TRUE(wide2[i] == wide[i] || wide2[i] == wide[i] - wide_grads[i])
        << "key " << keys[i] << ": " << wide2[i];
  }
  for (int64_t i : {int64_t{0}, kDense - 1}) {
    EXPECT_TRUE(dense2[i] == dense[i] || dense2[i] == dense[i] - 0.5f)
        << "value " << i << ": " << dense2[i];
  }
  // A later pull sees it.
  std::vector<float> dense3(kDense), wide3(3);
  ASSERT_TRUE(client_
                  ->Pull(DenseRefs(), dense3.data(),
                         {{"wide", keys, wide3.data()}}, 0, nullptr)
                  .ok());
  for (int i = 0; i < 3; ++i)
    EXPECT_FLOAT_EQ(wide3[i], wide[i] - wide_grads[i]);
  EXPECT_FLOAT_EQ(dense3[0], dense[0] - 0.5f);
  EXPECT_FLOAT_EQ(dense3[kDense - 1], dense[kDense - 1] - 0.5f);
}

// With 4 KB requests most dense chunks cannot ride in a sparse request
// (chunk_bytes bounds it), so one call mixes dense RPCs, sparse RPCs and
// folded chunks; each value must still land where it belongs.
TEST_F(PsClientSparseTest, SmallChunksMixDenseAndSparseRequestsInOneCall) {
  auto small = PsClient::Create(kJob, map_, {.chunk_bytes = 4096});
  ASSERT_TRUE(small.ok()) << small.status();
  std::vector<uint64_t> keys(700);
  std::iota(keys.begin(), keys.end(), 9000);
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<float> dense(kDense, nan), embed(keys.size() * 4, nan);
  ASSERT_TRUE((*small)
                  ->Pull(DenseRefs(), dense.data(),
                         {{"embed", keys, embed.data()}}, 0, nullptr)
                  .ok());
  std::vector<float> dense2(kDense, nan), embed2(keys.size() * 4, nan);
  ASSERT_TRUE(client_->Pull(DenseRefs(), dense2.data()).ok());
  ASSERT_TRUE(
      client_->Pull({}, nullptr, {{"embed", keys, embed2.data()}}, 0, nullptr)
          .ok());
  EXPECT_EQ(dense, dense2);
  EXPECT_EQ(embed, embed2);
  for (float v : embed) ASSERT_LE(std::abs(v), 1.0f);
}

TEST_F(PsClientSparseTest, BadSparseRefsFailBeforeAnyRpc) {
  // Valid dense refs ride along: had any RPC gone out, the pulls would have
  // written the dense buffer and the push would have moved the weights.
  const float nan = std::numeric_limits<float>::quiet_NaN();
  std::vector<uint64_t> keys = {1};
  float row[4];
  std::vector<float> dense(kDense, nan), grads(kDense, 1.0f);
  absl::Status s = client_->Pull(DenseRefs(), dense.data(),
                                 {{"bias", keys, row}}, 0, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("table bias is DENSE"));
  s = client_->Pull(DenseRefs(), dense.data(), {{"nope", keys, row}}, 0,
                    nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  for (float v : dense) ASSERT_TRUE(std::isnan(v));
  std::vector<float> before(kDense, nan), after(kDense, nan);
  ASSERT_TRUE(client_->Pull(DenseRefs(), before.data(), {}, 0, nullptr).ok());
  s = client_->Push(DenseRefs(), grads.data(), {{"wide", keys, nullptr}}, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(Rows(0, "wide") + Rows(1, "wide"), 0);
  ASSERT_TRUE(client_->Pull(DenseRefs(), after.data(), {}, 0, nullptr).ok());
  EXPECT_EQ(after, before);  // the push's dense part never went out
}

TEST_F(PsClientSparseTest, ScanOfADenseTableIsInvalidArgument) {
  int calls = 0;
  absl::Status s = servers_->store(0)->ScanRows(
      kJob, /*group=*/0, map_.epoch(), "big", 1 << 20,
      [&](absl::Span<const uint64_t>, const float*, int) {
        ++calls;
        return true;
      });
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(servers_->store(0)
                ->ScanRows(kJob, 0, map_.epoch() + 1, "embed", 1 << 20,
                           [&](absl::Span<const uint64_t>, const float*, int) {
                             return ++calls > 0;
                           })
                .code(),
            absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(calls, 0);
}

TEST_F(PsClientSparseTest, MapWithABadPartitionServerIsRefused) {
  v1::PartitionMap bad = map_;
  bad.set_partition_servers(17, 5);  // the map has 2 servers
  auto client = PsClient::Create(kJob, bad, {});
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(client.status().message(), HasSubstr("partition 17"));
  bad = map_;
  bad.mutable_partition_servers()->RemoveLast();
  EXPECT_EQ(PsClient::Create(kJob, bad, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PsClientSparseTest, RepeatedPushKeysAreRejectedByTheServer) {
  std::vector<uint64_t> keys = {5, 5};
  float grads[2] = {1, 1};
  absl::Status s = client_->Push({}, nullptr, {{"wide", keys, grads}}, 0);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.message(), HasSubstr("sum the gradients"));
}

}  // namespace
}  // namespace ps::client
