#include "server/sparse_bsp.h"

#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ps::server {
namespace {

constexpr int kDim = 3;

std::unique_ptr<SparseShard> Shard() {
  v1::TableDef def;
  def.mutable_init()->set_kind(v1::Initializer::ZEROS);
  def.mutable_optimizer()->set_type(v1::SGD);
  def.mutable_optimizer()->set_learning_rate(1.0f);
  auto rule = MakeUpdateRule(def.optimizer());
  EXPECT_TRUE(rule.ok()) << rule.status();
  return std::make_unique<SparseShard>(def, kDim, *std::move(rule));
}

std::string Bytes(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

TEST(SparseBspAccumulatorTest, AppliesTheScaledSumPerKeyOnce) {
  auto shard = Shard();
  SparseBspAccumulator bsp({shard.get()});
  // Worker 1: keys 5 and 6, in pieces cut inside a row.
  const std::string one = Bytes({1, 1, 1, 2, 2, 2});
  const absl::string_view v(one);
  bsp.Add(shard.get(), std::vector<uint64_t>{5, 6},
          ValuePieces({v.substr(0, 7), v.substr(7)}), 0);
  // Worker 2: key 5 again, after one float of something else.
  const std::string two = Bytes({9, 3, 3, 3});
  bsp.Add(shard.get(), std::vector<uint64_t>{5}, ValuePieces({two}), 1);
  EXPECT_GT(bsp.bytes(), 0);
  EXPECT_EQ(shard->rows(), 0) << "summing creates no rows";

  bsp.ApplyAndReset(0.5f);
  EXPECT_EQ(bsp.bytes(), 0);
  EXPECT_EQ(shard->rows(), 2);
  std::vector<float> out(3 * kDim);
  shard->Read(std::vector<uint64_t>{5, 6, 7}, out.data());
  EXPECT_EQ(out, std::vector<float>({-2, -2, -2, -1, -1, -1, 0, 0, 0}));

  // The sums start again from zero: the next clock applies only its own
  // gradient (key 6), and key 5's old sum is not applied again.
  const std::string next = Bytes({4, 4, 4});
  bsp.Add(shard.get(), std::vector<uint64_t>{6}, ValuePieces({next}), 0);
  bsp.ApplyAndReset(0.5f);
  shard->Read(std::vector<uint64_t>{5, 6, 7}, out.data());
  EXPECT_EQ(out, std::vector<float>({-2, -2, -2, -3, -3, -3, 0, 0, 0}));
}

}  // namespace
}  // namespace ps::server
