#include "server/dense_shard.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ps::server {
namespace {

constexpr int64_t kStripe = DenseShard::kStripeValues;

// SGD with lr 1 over zeros: applying g makes the values -g.
std::unique_ptr<DenseShard> Shard(int64_t begin, int64_t end) {
  v1::TableDef def;
  def.set_name("w");
  def.set_size(end + 10);
  def.mutable_init()->set_kind(v1::Initializer::ZEROS);
  def.mutable_optimizer()->set_type(v1::SGD);
  def.mutable_optimizer()->set_learning_rate(1.0f);
  auto rule = MakeUpdateRule(def.optimizer());
  EXPECT_TRUE(rule.ok()) << rule.status();
  return std::make_unique<DenseShard>(def, begin, end, *std::move(rule));
}

TEST(DenseShardTest, ApplyAndReadAcrossStripes) {
  const int64_t begin = 5, end = begin + 2 * kStripe + 100;
  auto shard = Shard(begin, end);
  const int64_t offset = begin + kStripe - 3, count = kStripe + 10;
  std::vector<float> grad(count, 2.0f);
  shard->Apply(offset, count, grad.data());
  std::vector<float> out(end - begin, -1.0f);
  shard->Read(begin, end - begin, out.data());
  for (int64_t i = 0; i < end - begin; ++i) {
    const bool in = begin + i >= offset && begin + i < offset + count;
    ASSERT_EQ(out[i], in ? -2.0f : 0.0f) << i;
  }
  shard->Read(end, 0, out.data());  // empty range at the end: no stripe
}

TEST(DenseShardTest, ApplyFromPiecesMatchesApplyFromFloats) {
  auto shard = Shard(0, 1000);
  std::vector<float> grad(300);
  for (int i = 0; i < 300; ++i) grad[i] = static_cast<float>(i);
  std::string bytes(reinterpret_cast<const char*>(grad.data()), 1200);
  ValuePieces pieces({absl::string_view(bytes).substr(0, 7),
                      absl::string_view(bytes).substr(7)});
  shard->Apply(100, 200, pieces, /*first=*/100);
  std::vector<float> out(200);
  shard->Read(100, 200, out.data());
  for (int i = 0; i < 200; ++i) ASSERT_EQ(out[i], -grad[100 + i]) << i;
}

TEST(DenseShardTest, ReadsNeverSeeAHalfAppliedUpdate) {
  const int64_t size = 4 * kStripe;
  auto shard = Shard(0, size);
  std::vector<float> ones(size, 1.0f);
  std::thread writer([&] {
    for (int i = 0; i < 20; ++i) shard->Apply(0, size, ones.data());
  });
  std::vector<float> out(size);
  for (int r = 0; r < 20; ++r) {
    shard->Read(0, size, out.data());
    for (int64_t i = 0; i < size; i += kStripe / 2) {
      ASSERT_EQ(out[i], out[0])
          << "read " << r << " saw a torn update at " << i;
    }
  }
  writer.join();
}

TEST(DenseShardTest, ConcurrentDisjointAndOverlappingAppliesAreAllApplied) {
  const int64_t size = 4 * kStripe;
  auto shard = Shard(0, size);
  std::vector<float> ones(size, 1.0f);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      // Each thread covers its own two stripes, and all share the middle.
      for (int i = 0; i < 10; ++i) {
        shard->Apply(t * kStripe, kStripe, ones.data());
        shard->Apply(size / 2 - 50, 100, ones.data());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<float> out(size);
  shard->Read(0, size, out.data());
  EXPECT_EQ(out[0], -10.0f);
  EXPECT_EQ(out[size - 1], -10.0f);
  EXPECT_EQ(out[size / 2], -50.0f);
  EXPECT_EQ(out[size / 2 - 51], -10.0f);
}

}  // namespace
}  // namespace ps::server
