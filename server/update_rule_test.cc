// MakeUpdateRule: which specs it accepts, the state each rule keeps, and
// behaviour at the edges. Accuracy against a reference over many steps is in
// update_rule_reference_test.cc.
#include "server/update_rule.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ps::server {
namespace {

using Schedule = v1::LearningRateSchedule;

v1::OptimizerSpec Spec(v1::OptimizerType type, float lr = 0.1f) {
  v1::OptimizerSpec spec;
  spec.set_type(type);
  spec.set_learning_rate(lr);
  return spec;
}

int Planes(const v1::OptimizerSpec& spec) {
  auto rule = MakeUpdateRule(spec);
  EXPECT_TRUE(rule.ok()) << rule.status();
  return rule.ok() ? (*rule)->StateFloats() : -1;
}

TEST(UpdateRuleTest, SgdSubtractsScaledGradient) {
  auto rule = MakeUpdateRule(Spec(v1::SGD, 0.5f));
  ASSERT_TRUE(rule.ok());
  EXPECT_EQ((*rule)->StateFloats(), 0);
  float v[3] = {1, 2, 3};
  const float g[3] = {2, -2, 0};
  (*rule)->Apply(v, nullptr, g, 3);
  EXPECT_FLOAT_EQ(v[0], 0);
  EXPECT_FLOAT_EQ(v[1], 3);
  EXPECT_FLOAT_EQ(v[2], 3);
}

TEST(UpdateRuleTest, StepCountIsKeptOnlyWhenTheRateOrBiasCorrectionNeedsIt) {
  v1::OptimizerSpec warmup = Spec(v1::SGD);
  warmup.mutable_schedule()->set_warmup_steps(10);
  v1::OptimizerSpec flat_step = Spec(v1::SGD);  // gamma 1 never decays.
  flat_step.mutable_schedule()->set_kind(Schedule::STEP);
  flat_step.mutable_schedule()->set_step_size(10);
  flat_step.mutable_schedule()->set_gamma(1);

  EXPECT_EQ(Planes(Spec(v1::SGD)), 0);
  EXPECT_EQ(Planes(flat_step), 0);
  EXPECT_EQ(Planes(warmup), 1);
  EXPECT_EQ(Planes(Spec(v1::MOMENTUM)), 1);
  EXPECT_EQ(Planes(Spec(v1::ADAGRAD)), 1);
  EXPECT_EQ(Planes(Spec(v1::ADAM)), 3);
  EXPECT_EQ(Planes(Spec(v1::ADAMW)), 3);
  EXPECT_EQ(Planes(Spec(v1::FTRL)), 2);
  for (v1::OptimizerType type :
       {v1::MOMENTUM, v1::ADAGRAD, v1::ADAM, v1::ADAMW, v1::FTRL}) {
    v1::OptimizerSpec spec = warmup;
    spec.set_type(type);
    const int planes = Planes(spec);
    EXPECT_EQ(planes,
              type == v1::ADAM || type == v1::ADAMW || type == v1::FTRL ? 3 : 2)
        << v1::OptimizerType_Name(type);
    EXPECT_LE(planes, kMaxStatePlanes);
  }
}

struct BadSpec {
  v1::OptimizerType type;
  std::function<void(v1::OptimizerSpec&)> edit;
  std::string field;
};

TEST(UpdateRuleTest, UnknownTypeAndEveryBadHyperparameterAreRejected) {
  constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
  const std::vector<BadSpec> cases = {
      {v1::OPTIMIZER_TYPE_UNSPECIFIED, [](auto&) {}, "optimizer.type: "},
      {static_cast<v1::OptimizerType>(9), [](auto&) {}, "optimizer.type: "},
      {v1::SGD, [](auto& s) { s.set_learning_rate(-1); },
       "optimizer.learningRate: -1"},
      {v1::SGD, [](auto& s) { s.set_learning_rate(11); },
       "optimizer.learningRate: 11"},
      {v1::SGD, [](auto& s) { s.set_learning_rate(kNaN); },
       "optimizer.learningRate: nan"},
      {v1::MOMENTUM, [](auto& s) { s.set_momentum(1); },
       "optimizer.momentum: 1"},
      {v1::ADAM, [](auto& s) { s.set_beta1(1); }, "optimizer.beta1: 1"},
      {v1::ADAM, [](auto& s) { s.set_beta2(1); }, "optimizer.beta2: 1"},
      {v1::ADAMW, [](auto& s) { s.set_epsilon(0); }, "optimizer.epsilon: 0"},
      {v1::ADAMW, [](auto& s) { s.set_weight_decay(1); },
       "optimizer.weightDecay: 1"},
      {v1::ADAGRAD, [](auto& s) { s.set_initial_accumulator(-1); },
       "optimizer.initialAccumulator: -1"},
      {v1::FTRL, [](auto& s) { s.set_l1(-1); }, "optimizer.l1: -1"},
      {v1::FTRL, [](auto& s) { s.set_l2(kNaN); }, "optimizer.l2: nan"},
      {v1::FTRL, [](auto& s) { s.set_beta(-1); }, "optimizer.beta: -1"},
      {v1::ADAM, [](auto& s) { s.set_momentum(0.9f); },
       "optimizer.momentum: 0.9 is not used by ADAM"},
      {v1::SGD, [](auto& s) { s.mutable_schedule()->set_warmup_steps(-1); },
       "optimizer.schedule.warmupSteps: -1"},
      {v1::SGD,
       [](auto& s) {
         s.mutable_schedule()->set_kind(Schedule::STEP);
         s.mutable_schedule()->set_gamma(0.5f);
       },
       "optimizer.schedule.stepSize: 0"},
      {v1::SGD,
       [](auto& s) {
         s.mutable_schedule()->set_kind(Schedule::STEP);
         s.mutable_schedule()->set_step_size(5);
         s.mutable_schedule()->set_gamma(2);
       },
       "optimizer.schedule.gamma: 2"},
      {v1::SGD,
       [](auto& s) { s.mutable_schedule()->set_kind(Schedule::COSINE); },
       "optimizer.schedule.decaySteps: 0"},
      {v1::SGD,
       [](auto& s) {
         s.mutable_schedule()->set_kind(Schedule::COSINE);
         s.mutable_schedule()->set_decay_steps(5);
         s.mutable_schedule()->set_min_factor(1.5f);
       },
       "optimizer.schedule.minFactor: 1.5"},
      {v1::SGD,
       [](auto& s) {
         s.mutable_schedule()->set_kind(static_cast<Schedule::Kind>(3));
       },
       "optimizer.schedule.kind: "},
  };
  for (const BadSpec& c : cases) {
    v1::OptimizerSpec spec = Spec(c.type);
    c.edit(spec);
    auto rule = MakeUpdateRule(spec);
    ASSERT_FALSE(rule.ok()) << spec.ShortDebugString();
    EXPECT_EQ(rule.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_EQ(rule.status().message().rfind(c.field, 0), 0)
        << rule.status().message() << " does not start with " << c.field;
  }
}

// Counts are floats; at 2^24 they stop advancing, and the rule keeps working
// with the bias corrections of update 2^24 (which are 1 by then).
TEST(UpdateRuleTest, StepCountSaturatesAtTwoToThe24) {
  auto rule = MakeUpdateRule(Spec(v1::ADAM, 0.01f));
  ASSERT_TRUE(rule.ok());
  constexpr int64_t n = 5000;  // Full blocks and a tail.
  constexpr float kMaxCount = 16777216.0f;
  std::vector<float> w(n, 1.0f), m(n, 0.0f), v(n, 0.0f), t(n, kMaxCount);
  const std::vector<float> g(n, 0.5f);
  float* planes[] = {m.data(), v.data(), t.data()};
  (*rule)->Apply(w.data(), planes, g.data(), n);
  for (int64_t i = 0; i < n; ++i) {
    ASSERT_EQ(t[i], kMaxCount) << i;
    // m = 0.05, v = 0.00025: a step of lr * 0.05 / sqrt(0.00025).
    ASSERT_NEAR(w[i], 1.0f - 0.01f * 0.05f / std::sqrt(0.00025f), 1e-6) << i;
  }
}

TEST(UpdateRuleTest, FtrlWithRateDecayedToZeroStaysFinite) {
  v1::OptimizerSpec spec = Spec(v1::FTRL, 0.5f);
  spec.mutable_schedule()->set_kind(Schedule::COSINE);
  spec.mutable_schedule()->set_decay_steps(3);
  spec.mutable_schedule()->set_min_factor(0);
  auto rule = MakeUpdateRule(spec);
  ASSERT_TRUE(rule.ok());
  std::vector<float> w = {1, -1, 0, 0.5f}, z(4), nn(4), t(4);
  float* planes[] = {z.data(), nn.data(), t.data()};
  for (int step = 0; step < 10; ++step) {
    const std::vector<float> g = {0.1f, -1, 0, step % 2 ? 2.0f : 0.0f};
    (*rule)->Apply(w.data(), planes, g.data(), 4);
    for (float x : w) ASSERT_TRUE(std::isfinite(x)) << "step " << step;
  }
}

TEST(UpdateRuleTest, FtrlWithoutBetaOrL2KeepsUntouchedValuesAtZero) {
  v1::OptimizerSpec spec = Spec(v1::FTRL, 0.5f);
  spec.set_beta(0);
  auto rule = MakeUpdateRule(spec);
  ASSERT_TRUE(rule.ok());
  std::vector<float> w = {0.3f, 0.3f}, z(2), nn(2);
  const std::vector<float> g = {0, 1};
  float* planes[] = {z.data(), nn.data()};
  (*rule)->Apply(w.data(), planes, g.data(), 2);
  EXPECT_EQ(w[0], 0.0f);  // 0/0 in the formula; the paper's answer is 0.
  EXPECT_TRUE(std::isfinite(w[1]));
}

}  // namespace
}  // namespace ps::server
