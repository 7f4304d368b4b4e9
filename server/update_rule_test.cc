#include "server/update_rule.h"

#include "gtest/gtest.h"

namespace ps::server {
namespace {

TEST(UpdateRuleTest, SgdSubtractsScaledGradient) {
  v1::OptimizerSpec spec;
  spec.set_type(v1::SGD);
  spec.set_learning_rate(0.5f);
  auto rule = MakeUpdateRule(spec);
  ASSERT_TRUE(rule.ok());
  EXPECT_EQ((*rule)->StateFloats(), 0);
  float v[3] = {1, 2, 3};
  const float g[3] = {2, -2, 0};
  (*rule)->Apply(v, nullptr, g, 3);
  EXPECT_FLOAT_EQ(v[0], 0);
  EXPECT_FLOAT_EQ(v[1], 3);
  EXPECT_FLOAT_EQ(v[2], 3);
}

TEST(UpdateRuleTest, UnknownTypeAndBadRateAreRejected) {
  v1::OptimizerSpec spec;
  spec.set_learning_rate(0.1f);
  auto unknown = MakeUpdateRule(spec);
  EXPECT_EQ(unknown.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(unknown.status().message().find("optimizer.type"), std::string::npos);
  spec.set_type(v1::SGD);
  spec.set_learning_rate(-1);
  auto bad = MakeUpdateRule(spec);
  EXPECT_NE(bad.status().message().find("learningRate: -1"), std::string::npos);
}

}  // namespace
}  // namespace ps::server
