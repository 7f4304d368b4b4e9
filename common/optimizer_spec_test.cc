#include "common/optimizer_spec.h"

#include <cmath>
#include <functional>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ps {
namespace {

using Schedule = v1::LearningRateSchedule;
constexpr float kNaN = std::numeric_limits<float>::quiet_NaN();
constexpr float kInf = std::numeric_limits<float>::infinity();

v1::OptimizerSpec Spec(v1::OptimizerType type) {
  v1::OptimizerSpec spec;
  spec.set_type(type);
  spec.set_learning_rate(0.1f);
  return spec;
}

std::string Error(const v1::OptimizerSpec& spec) {
  absl::Status status = ValidateOptimizerSpec(spec);
  EXPECT_TRUE(status.ok() ||
              status.code() == absl::StatusCode::kInvalidArgument);
  return std::string(status.message());
}

struct BadCase {
  v1::OptimizerType type;
  std::function<void(v1::OptimizerSpec&)> edit;
  std::string message;
};

// Every rule, each case with the exact message a user sees.
const std::vector<BadCase>& BadCases() {
  static const auto* cases = new std::vector<BadCase>{
      {v1::SGD, [](auto& s) { s.set_learning_rate(0); },
       "optimizer.learningRate: 0 is out of range; allowed: (0, 10]"},
      {v1::SGD, [](auto& s) { s.set_learning_rate(-1); },
       "optimizer.learningRate: -1 is out of range; allowed: (0, 10]"},
      {v1::SGD, [](auto& s) { s.set_learning_rate(10.000001f); },
       "optimizer.learningRate: 10.000001 is out of range; allowed: (0, 10]"},
      {v1::SGD, [](auto& s) { s.set_learning_rate(kNaN); },
       "optimizer.learningRate: nan is out of range; allowed: (0, 10]"},
      {v1::MOMENTUM, [](auto& s) { s.set_momentum(1); },
       "optimizer.momentum: 1 is out of range; allowed: [0, 1)"},
      {v1::MOMENTUM, [](auto& s) { s.set_momentum(-0.5f); },
       "optimizer.momentum: -0.5 is out of range; allowed: [0, 1)"},
      {v1::ADAM, [](auto& s) { s.set_beta1(1); },
       "optimizer.beta1: 1 is out of range; allowed: [0, 1)"},
      {v1::ADAMW, [](auto& s) { s.set_beta1(kNaN); },
       "optimizer.beta1: nan is out of range; allowed: [0, 1)"},
      {v1::ADAM, [](auto& s) { s.set_beta2(1); },
       "optimizer.beta2: 1 is out of range; allowed: [0, 1)"},
      {v1::ADAMW, [](auto& s) { s.set_beta2(-0.1f); },
       "optimizer.beta2: -0.1 is out of range; allowed: [0, 1)"},
      {v1::ADAGRAD, [](auto& s) { s.set_epsilon(0); },
       "optimizer.epsilon: 0 is out of range; allowed: (0, 1]"},
      {v1::ADAM, [](auto& s) { s.set_epsilon(1.5f); },
       "optimizer.epsilon: 1.5 is out of range; allowed: (0, 1]"},
      {v1::ADAM, [](auto& s) { s.set_weight_decay(1); },
       "optimizer.weightDecay: 1 is out of range; allowed: [0, 1)"},
      {v1::ADAMW, [](auto& s) { s.set_weight_decay(-0.01f); },
       "optimizer.weightDecay: -0.01 is out of range; allowed: [0, 1)"},
      {v1::ADAGRAD, [](auto& s) { s.set_initial_accumulator(-1); },
       "optimizer.initialAccumulator: -1 is out of range; allowed: [0, 1e6]"},
      {v1::ADAGRAD, [](auto& s) { s.set_initial_accumulator(2e6f); },
       "optimizer.initialAccumulator: 2e+06 is out of range; allowed: "
       "[0, 1e6]"},
      {v1::FTRL, [](auto& s) { s.set_l1(-1); },
       "optimizer.l1: -1 is out of range; allowed: >= 0, finite"},
      {v1::FTRL, [](auto& s) { s.set_l2(kInf); },
       "optimizer.l2: inf is out of range; allowed: >= 0, finite"},
      {v1::FTRL, [](auto& s) { s.set_beta(-0.5f); },
       "optimizer.beta: -0.5 is out of range; allowed: >= 0, finite"},
      {v1::SGD, [](auto& s) { s.mutable_schedule()->set_warmup_steps(-1); },
       "optimizer.schedule.warmupSteps: -1 is out of range; allowed: "
       "[0, 16777216]"},
      {v1::SGD,
       [](auto& s) { s.mutable_schedule()->set_warmup_steps(16777217); },
       "optimizer.schedule.warmupSteps: 16777217 is out of range; allowed: "
       "[0, 16777216]"},
      {v1::SGD,
       [](auto& s) {
         s.mutable_schedule()->set_kind(Schedule::STEP);
         s.mutable_schedule()->set_gamma(0.5f);
       },
       "optimizer.schedule.stepSize: 0 is out of range; allowed: "
       "[1, 16777216]"},
      {v1::SGD,
       [](auto& s) {
         s.mutable_schedule()->set_kind(Schedule::STEP);
         s.mutable_schedule()->set_step_size(10);
       },
       "optimizer.schedule.gamma: 0 is out of range; allowed: (0, 1]"},
      {v1::SGD,
       [](auto& s) {
         s.mutable_schedule()->set_kind(Schedule::STEP);
         s.mutable_schedule()->set_step_size(10);
         s.mutable_schedule()->set_gamma(1.5f);
       },
       "optimizer.schedule.gamma: 1.5 is out of range; allowed: (0, 1]"},
      {v1::SGD,
       [](auto& s) { s.mutable_schedule()->set_kind(Schedule::COSINE); },
       "optimizer.schedule.decaySteps: 0 is out of range; allowed: "
       "[1, 16777216]"},
      {v1::SGD,
       [](auto& s) {
         s.mutable_schedule()->set_kind(Schedule::COSINE);
         s.mutable_schedule()->set_decay_steps(100);
         s.mutable_schedule()->set_min_factor(-0.1f);
       },
       "optimizer.schedule.minFactor: -0.1 is out of range; allowed: [0, 1]"},
      {v1::SGD,
       [](auto& s) {
         s.mutable_schedule()->set_kind(Schedule::COSINE);
         s.mutable_schedule()->set_decay_steps(100);
         s.mutable_schedule()->set_min_factor(kNaN);
       },
       "optimizer.schedule.minFactor: nan is out of range; allowed: [0, 1]"},
      {v1::SGD,
       [](auto& s) {
         s.mutable_schedule()->set_kind(static_cast<Schedule::Kind>(7));
       },
       "optimizer.schedule.kind: unknown schedule 7; allowed: CONSTANT, "
       "STEP, COSINE"},
      {v1::OPTIMIZER_TYPE_UNSPECIFIED, [](auto&) {},
       "optimizer.type: unknown optimizer OPTIMIZER_TYPE_UNSPECIFIED; "
       "allowed: SGD, MOMENTUM, ADAGRAD, ADAM, ADAMW, FTRL"},
      {static_cast<v1::OptimizerType>(42), [](auto&) {},
       "optimizer.type: unknown optimizer 42; allowed: SGD, MOMENTUM, "
       "ADAGRAD, ADAM, ADAMW, FTRL"},
      // Hyperparameters set where they have no effect.
      {v1::ADAM, [](auto& s) { s.set_momentum(0.9f); },
       "optimizer.momentum: 0.9 is not used by ADAM; allowed: only with "
       "type MOMENTUM"},
      {v1::SGD, [](auto& s) { s.set_nesterov(true); },
       "optimizer.nesterov: true is not used by SGD; allowed: only with "
       "type MOMENTUM"},
      {v1::MOMENTUM, [](auto& s) { s.set_epsilon(1e-8f); },
       "optimizer.epsilon: 1e-08 is not used by MOMENTUM; allowed: only "
       "with type ADAGRAD or ADAM or ADAMW"},
      {v1::ADAGRAD, [](auto& s) { s.set_weight_decay(0); },
       "optimizer.weightDecay: 0 is not used by ADAGRAD; allowed: only with "
       "type ADAM or ADAMW"},
      {v1::ADAM, [](auto& s) { s.set_l1(0.1f); },
       "optimizer.l1: 0.1 is not used by ADAM; allowed: only with type FTRL"},
      {v1::SGD, [](auto& s) { s.mutable_schedule()->set_gamma(0.5f); },
       "optimizer.schedule.gamma: 0.5 is not used by schedule CONSTANT; "
       "allowed: only with kind STEP"},
      {v1::SGD,
       [](auto& s) {
         s.mutable_schedule()->set_kind(Schedule::STEP);
         s.mutable_schedule()->set_step_size(10);
         s.mutable_schedule()->set_gamma(0.5f);
         s.mutable_schedule()->set_decay_steps(100);
       },
       "optimizer.schedule.decaySteps: 100 is not used by schedule STEP; "
       "allowed: only with kind COSINE"},
  };
  return *cases;
}

TEST(ValidateOptimizerSpecTest, EveryBadFieldIsNamedWithValueAndRange) {
  for (const BadCase& c : BadCases()) {
    v1::OptimizerSpec spec = Spec(c.type);
    c.edit(spec);
    EXPECT_EQ(Error(spec), c.message) << spec.ShortDebugString();
    EXPECT_FALSE(ResolveOptimizerSpec(spec).ok());
  }
}

TEST(ValidateOptimizerSpecTest, BoundsThatAreInsideTheRangesAreAccepted) {
  v1::OptimizerSpec spec = Spec(v1::ADAM);
  spec.set_learning_rate(10);
  spec.set_beta1(0);
  spec.set_beta2(0.99999994f);
  spec.set_epsilon(1);
  spec.set_weight_decay(0);
  EXPECT_EQ(Error(spec), "");
  spec = Spec(v1::FTRL);
  spec.set_l1(0);
  spec.set_l2(1e30f);
  spec.set_beta(0);
  spec.mutable_schedule()->set_warmup_steps(kMaxScheduleSteps);
  EXPECT_EQ(Error(spec), "");
  spec = Spec(v1::ADAGRAD);
  spec.set_initial_accumulator(1e6f);
  spec.mutable_schedule()->set_kind(Schedule::COSINE);
  spec.mutable_schedule()->set_decay_steps(1);
  spec.mutable_schedule()->set_min_factor(1);
  EXPECT_EQ(Error(spec), "");
  spec = Spec(v1::MOMENTUM);
  spec.set_momentum(0);
  spec.set_nesterov(true);
  spec.mutable_schedule()->set_kind(Schedule::STEP);
  spec.mutable_schedule()->set_step_size(kMaxScheduleSteps);
  spec.mutable_schedule()->set_gamma(1);
  EXPECT_EQ(Error(spec), "");
}

TEST(ResolveOptimizerSpecTest, UnsetHyperparametersTakeTheDocumentedDefaults) {
  absl::StatusOr<OptimizerParams> adam = ResolveOptimizerSpec(Spec(v1::ADAM));
  ASSERT_TRUE(adam.ok());
  EXPECT_EQ(adam->beta1, 0.9f);
  EXPECT_EQ(adam->beta2, 0.999f);
  EXPECT_EQ(adam->epsilon, 1e-8f);
  EXPECT_EQ(adam->weight_decay, 0.0f);
  EXPECT_EQ(ResolveOptimizerSpec(Spec(v1::ADAMW))->weight_decay, 0.01f);
  EXPECT_EQ(ResolveOptimizerSpec(Spec(v1::ADAMW))->epsilon, 1e-8f);
  absl::StatusOr<OptimizerParams> adagrad =
      ResolveOptimizerSpec(Spec(v1::ADAGRAD));
  EXPECT_EQ(adagrad->epsilon, 1e-10f);
  EXPECT_EQ(adagrad->initial_accumulator, 0.0f);
  absl::StatusOr<OptimizerParams> momentum =
      ResolveOptimizerSpec(Spec(v1::MOMENTUM));
  EXPECT_EQ(momentum->momentum, 0.9f);
  EXPECT_FALSE(momentum->nesterov);
  absl::StatusOr<OptimizerParams> ftrl = ResolveOptimizerSpec(Spec(v1::FTRL));
  EXPECT_EQ(ftrl->l1, 0.0f);
  EXPECT_EQ(ftrl->l2, 0.0f);
  EXPECT_EQ(ftrl->beta, 1.0f);
  EXPECT_EQ(ftrl->learning_rate, 0.1f);
  EXPECT_EQ(ftrl->schedule.kind, Schedule::CONSTANT);
  EXPECT_EQ(ftrl->schedule.warmup_steps, 0);
  EXPECT_EQ(ftrl->schedule.gamma, 1.0f);
  EXPECT_EQ(ftrl->schedule.min_factor, 1.0f);
}

TEST(ResolveOptimizerSpecTest, SetHyperparametersAreKept) {
  v1::OptimizerSpec spec = Spec(v1::ADAMW);
  spec.set_beta1(0.8f);
  spec.set_beta2(0.95f);
  spec.set_epsilon(1e-6f);
  spec.set_weight_decay(0);  // Explicit zero overrides ADAMW's 0.01.
  spec.mutable_schedule()->set_kind(Schedule::COSINE);
  spec.mutable_schedule()->set_warmup_steps(5);
  spec.mutable_schedule()->set_decay_steps(100);
  spec.mutable_schedule()->set_min_factor(0.1f);
  absl::StatusOr<OptimizerParams> p = ResolveOptimizerSpec(spec);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->type, v1::ADAMW);
  EXPECT_EQ(p->beta1, 0.8f);
  EXPECT_EQ(p->beta2, 0.95f);
  EXPECT_EQ(p->epsilon, 1e-6f);
  EXPECT_EQ(p->weight_decay, 0.0f);
  EXPECT_EQ(p->schedule.kind, Schedule::COSINE);
  EXPECT_EQ(p->schedule.warmup_steps, 5);
  EXPECT_EQ(p->schedule.decay_steps, 100);
  EXPECT_EQ(p->schedule.min_factor, 0.1f);
  EXPECT_EQ(p->schedule.step_size, 1);  // Neutral: STEP is not in use.
  EXPECT_EQ(p->schedule.gamma, 1.0f);

  spec = Spec(v1::FTRL);
  spec.set_l1(0.5f);
  spec.set_l2(0.25f);
  spec.set_beta(2);
  spec.mutable_schedule()->set_kind(Schedule::STEP);
  spec.mutable_schedule()->set_step_size(7);
  spec.mutable_schedule()->set_gamma(0.5f);
  p = ResolveOptimizerSpec(spec);
  ASSERT_TRUE(p.ok()) << p.status();
  EXPECT_EQ(p->l1, 0.5f);
  EXPECT_EQ(p->l2, 0.25f);
  EXPECT_EQ(p->beta, 2.0f);
  EXPECT_EQ(p->schedule.step_size, 7);
  EXPECT_EQ(p->schedule.gamma, 0.5f);
  EXPECT_EQ(p->schedule.decay_steps, 1);
}

}  // namespace
}  // namespace ps
