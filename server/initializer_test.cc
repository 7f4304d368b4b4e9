#include "server/initializer.h"

#include <vector>

#include "gtest/gtest.h"

namespace ps::server {
namespace {

v1::Initializer Uniform(float scale, uint64_t seed) {
  v1::Initializer init;
  init.set_kind(v1::Initializer::UNIFORM);
  init.set_scale(scale);
  init.set_seed(seed);
  return init;
}

TEST(InitializerTest, ValuesDoNotDependOnHowTheRangeIsSplit) {
  std::vector<float> whole(1000), left(400), right(600);
  FillInitial(Uniform(0.1f, 42), 0, 1000, whole.data());
  FillInitial(Uniform(0.1f, 42), 0, 400, left.data());
  FillInitial(Uniform(0.1f, 42), 400, 600, right.data());
  for (int i = 0; i < 400; ++i) EXPECT_EQ(whole[i], left[i]);
  for (int i = 0; i < 600; ++i) EXPECT_EQ(whole[400 + i], right[i]);
}

TEST(InitializerTest, UniformStaysInRangeAndLooksUniform) {
  std::vector<float> v(100000);
  FillInitial(Uniform(0.5f, 7), 0, v.size(), v.data());
  double sum = 0;
  int above = 0;
  for (float x : v) {
    EXPECT_LE(std::abs(x), 0.5f);
    sum += x;
    above += x > 0.25f;
  }
  EXPECT_NEAR(sum / v.size(), 0.0, 0.01);
  EXPECT_NEAR(above / 100000.0, 0.25, 0.01);
  std::vector<float> other(10);
  FillInitial(Uniform(0.5f, 8), 0, 10, other.data());
  EXPECT_NE(other[0], v[0]);
}

TEST(InitializerTest, ZerosAndValidation) {
  v1::Initializer zeros;
  zeros.set_kind(v1::Initializer::ZEROS);
  float v[2] = {1, 1};
  FillInitial(zeros, 5, 2, v);
  EXPECT_EQ(v[0], 0);
  EXPECT_TRUE(ValidateInitializer(zeros).ok());
  EXPECT_FALSE(ValidateInitializer(v1::Initializer()).ok());
  EXPECT_FALSE(ValidateInitializer(Uniform(-1, 0)).ok());
}

}  // namespace
}  // namespace ps::server
