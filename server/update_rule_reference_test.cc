// Each update rule against an independent reference in double precision,
// written here from the formulas in ps.proto, update_rule.h and the papers,
// with the documented defaults restated rather than taken from the code.
// Rules are driven as DenseShard drives them: zeroed planes laid out one after
// another, pushes cut into chunks of varying size at arbitrary points, and
// every fifth push covering only part of the table so that step counts differ
// within a chunk.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <functional>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/update_rule.h"

namespace ps::server {
namespace {

using Schedule = v1::LearningRateSchedule;

// More than two blocks of the rules' apply loop (2048 values) plus a tail, so
// that both the vectorised and the scalar paths run.
constexpr int64_t kValues = 5000;
constexpr int kSteps = 300;

// Error measure: err = |got - want| / max(scale, kFloor), where scale is the
// largest magnitude the reference value had during the run (for FTRL, the
// largest unshrunk weight |z| / denominator, which w is computed from), and
// kFloor only guards against 0/0. Why not |want|: the rule stores w and its
// state as floats, rounded to 2^-24 of their magnitude at every update, so
// after 300 updates any float implementation is ~1e-6 of the magnitudes a
// value passed through away from exact. A value that ends near 0 after being
// near 1 cannot be within 1e-5 of its own size; measured at its scale, every
// test here stays below 2e-6, and formula errors (bias correction, schedule,
// Nesterov, epsilon placement) show up as 1e-3 or more.
constexpr double kTolerance = 1e-5;
constexpr double kFloor = 1e-6;

// One value of the reference: its weight, the optimizer's two state
// variables (meaning depends on the type) and its update count.
struct RefValue {
  double w = 0;
  double a = 0;
  double b = 0;
  int64_t t = 0;
  double scale = 0;  // See kTolerance.
};
using RefUpdate = std::function<void(RefValue&, double g)>;

double Or(bool has, float value, double fallback) {
  return has ? static_cast<double>(value) : fallback;
}

double RefLr(const v1::OptimizerSpec& spec, int64_t t) {
  const Schedule& s = spec.schedule();
  double lr = spec.learning_rate();
  if (s.warmup_steps() > 0) {
    lr *= std::min(1.0, static_cast<double>(t) / s.warmup_steps());
  }
  if (s.kind() == Schedule::STEP) {
    lr *= std::pow(static_cast<double>(s.gamma()), t / s.step_size());
  } else if (s.kind() == Schedule::COSINE) {
    const double progress =
        static_cast<double>(std::min(t, s.decay_steps())) / s.decay_steps();
    lr *= s.min_factor() +
          (1 - s.min_factor()) * 0.5 * (1 + std::cos(M_PI * progress));
  }
  return lr;
}

RefUpdate RefAdam(const v1::OptimizerSpec& spec) {
  const bool adamw = spec.type() == v1::ADAMW;
  const double b1 = Or(spec.has_beta1(), spec.beta1(), 0.9);
  const double b2 = Or(spec.has_beta2(), spec.beta2(), 0.999);
  const double eps = Or(spec.has_epsilon(), spec.epsilon(), 1e-8);
  const double wd =
      Or(spec.has_weight_decay(), spec.weight_decay(), adamw ? 0.01 : 0.0);
  return [=](RefValue& x, double g) {
    const double lr = RefLr(spec, ++x.t);
    if (adamw) {
      x.w -= lr * wd * x.w;
    } else {
      g += wd * x.w;
    }
    x.a = b1 * x.a + (1 - b1) * g;
    x.b = b2 * x.b + (1 - b2) * g * g;
    const double m_hat = x.a / (1 - std::pow(b1, x.t));
    const double v_hat = x.b / (1 - std::pow(b2, x.t));
    x.w -= lr * m_hat / (std::sqrt(v_hat) + eps);
  };
}

RefUpdate RefFtrl(const v1::OptimizerSpec& spec) {
  const double l1 = Or(spec.has_l1(), spec.l1(), 0);
  const double l2 = Or(spec.has_l2(), spec.l2(), 0);
  const double beta = Or(spec.has_beta(), spec.beta(), 1);
  return [=](RefValue& x, double g) {  // a: z, b: n
    const double alpha = RefLr(spec, ++x.t);
    const double sigma = (std::sqrt(x.b + g * g) - std::sqrt(x.b)) / alpha;
    x.a += g - sigma * x.w;
    x.b += g * g;
    const double sign = x.a < 0 ? -1 : 1;
    const double denominator = (beta + std::sqrt(x.b)) / alpha + l2;
    x.scale = std::max(x.scale, std::abs(x.a) / denominator);
    x.w = std::abs(x.a) <= l1 ? 0 : -(x.a - sign * l1) / denominator;
  };
}

RefUpdate Reference(const v1::OptimizerSpec& spec) {
  switch (spec.type()) {
    case v1::SGD:
      return [=](RefValue& x, double g) { x.w -= RefLr(spec, ++x.t) * g; };
    case v1::MOMENTUM: {
      const double mu = Or(spec.has_momentum(), spec.momentum(), 0.9);
      return [=](RefValue& x, double g) {
        x.a = mu * x.a + g;
        x.w -= RefLr(spec, ++x.t) * (spec.nesterov() ? g + mu * x.a : x.a);
      };
    }
    case v1::ADAGRAD: {
      const double init =
          Or(spec.has_initial_accumulator(), spec.initial_accumulator(), 0);
      const double eps = Or(spec.has_epsilon(), spec.epsilon(), 1e-10);
      return [=](RefValue& x, double g) {
        if (x.t == 0) x.a = init;
        x.a += g * g;
        x.w -= RefLr(spec, ++x.t) * g / (std::sqrt(x.a) + eps);
      };
    }
    case v1::ADAM:
    case v1::ADAMW:
      return RefAdam(spec);
    default:
      return RefFtrl(spec);
  }
}

// Values and planes laid out and passed as DenseShard does.
class ShardLike {
 public:
  ShardLike(std::unique_ptr<UpdateRule> rule, std::vector<float> values)
      : rule_(std::move(rule)),
        values_(std::move(values)),
        state_(values_.size() * rule_->StateFloats(), 0.0f) {}

  void Apply(int64_t at, int64_t n, const float* grad) {
    float* planes[kMaxStatePlanes];
    for (int k = 0; k < rule_->StateFloats(); ++k) {
      planes[k] = state_.data() + k * values_.size() + at;
    }
    rule_->Apply(values_.data() + at, planes, grad, n);
  }
  const std::vector<float>& values() const { return values_; }

 private:
  std::unique_ptr<UpdateRule> rule_;
  std::vector<float> values_;
  std::vector<float> state_;
};

struct Trained {
  std::vector<float> got;
  std::vector<RefValue> want;
};

// Pushes kSteps random gradients (fixed seed) to the rule and the reference.
Trained Train(const v1::OptimizerSpec& spec, float grad_scale = 1.0f) {
  absl::StatusOr<std::unique_ptr<UpdateRule>> rule = MakeUpdateRule(spec);
  EXPECT_TRUE(rule.ok()) << rule.status();
  if (!rule.ok()) return {};
  std::mt19937 rng(20240601);
  std::uniform_real_distribution<float> uniform(-1, 1);
  std::normal_distribution<float> normal(0, grad_scale);
  std::vector<float> initial(kValues);
  for (float& v : initial) v = uniform(rng);
  Trained out;
  for (float v : initial) {
    // FTRL recomputes w from z and n, so its initial value sets no scale.
    out.want.push_back({v, 0, 0, 0, spec.type() == v1::FTRL ? 0 : std::abs(v)});
  }
  ShardLike shard(*std::move(rule), initial);
  const RefUpdate ref = Reference(spec);
  std::vector<float> grad(kValues);
  for (int step = 0; step < kSteps; ++step) {
    for (float& g : grad) g = normal(rng);
    int64_t begin = 0, end = kValues;
    if (step % 5 == 4) {  // A push to part of the table.
      begin = std::uniform_int_distribution<int64_t>(0, kValues / 2)(rng);
      end = std::uniform_int_distribution<int64_t>(begin + 1, kValues)(rng);
    }
    std::vector<int64_t> cuts = {begin, end};
    const int n_cuts = std::uniform_int_distribution<int>(0, 3)(rng);
    for (int c = 0; c < n_cuts; ++c) {
      cuts.push_back(std::uniform_int_distribution<int64_t>(begin, end)(rng));
    }
    std::sort(cuts.begin(), cuts.end());
    for (size_t c = 0; c + 1 < cuts.size(); ++c) {
      shard.Apply(cuts[c], cuts[c + 1] - cuts[c], grad.data() + cuts[c]);
    }
    for (int64_t i = begin; i < end; ++i) {
      ref(out.want[i], grad[i]);
      out.want[i].scale = std::max(out.want[i].scale, std::abs(out.want[i].w));
    }
  }
  out.got = shard.values();
  return out;
}

void ExpectMatchesReference(const v1::OptimizerSpec& spec,
                            float grad_scale = 1.0f) {
  const Trained run = Train(spec, grad_scale);
  ASSERT_EQ(run.got.size(), static_cast<size_t>(kValues));
  double worst = 0;
  int64_t worst_at = 0;
  for (int64_t i = 0; i < kValues; ++i) {
    const RefValue& want = run.want[i];
    const double err =
        std::abs(run.got[i] - want.w) / std::max(want.scale, kFloor);
    if (!(err <= worst)) {  // Also catches NaN.
      worst = err;
      worst_at = i;
    }
  }
  ::testing::Test::RecordProperty("worst_error",
                                  (::testing::Message() << worst).GetString());
  EXPECT_LE(worst, kTolerance)
      << "value " << worst_at << ": got " << run.got[worst_at] << ", want "
      << run.want[worst_at].w << " (scale " << run.want[worst_at].scale << ")\n"
      << spec.ShortDebugString();
}

v1::OptimizerSpec Spec(v1::OptimizerType type, float lr) {
  v1::OptimizerSpec spec;
  spec.set_type(type);
  spec.set_learning_rate(lr);
  return spec;
}

void SetStep(v1::OptimizerSpec& spec, int64_t warmup, int64_t step_size,
             float gamma) {
  spec.mutable_schedule()->set_kind(Schedule::STEP);
  spec.mutable_schedule()->set_warmup_steps(warmup);
  spec.mutable_schedule()->set_step_size(step_size);
  spec.mutable_schedule()->set_gamma(gamma);
}

void SetCosine(v1::OptimizerSpec& spec, int64_t warmup, int64_t decay_steps,
               float min_factor) {
  spec.mutable_schedule()->set_kind(Schedule::COSINE);
  spec.mutable_schedule()->set_warmup_steps(warmup);
  spec.mutable_schedule()->set_decay_steps(decay_steps);
  spec.mutable_schedule()->set_min_factor(min_factor);
}

TEST(UpdateRuleReferenceTest, Sgd) {
  ExpectMatchesReference(Spec(v1::SGD, 0.01f));
}

TEST(UpdateRuleReferenceTest, SgdWithWarmupAndStepDecay) {
  v1::OptimizerSpec spec = Spec(v1::SGD, 0.01f);
  SetStep(spec, 50, 60, 0.5f);
  ExpectMatchesReference(spec);
}

TEST(UpdateRuleReferenceTest, SgdWithCosineDecay) {
  v1::OptimizerSpec spec = Spec(v1::SGD, 0.01f);
  SetCosine(spec, 0, 200, 0.1f);  // Ends 100 steps on the floor.
  ExpectMatchesReference(spec);
}

TEST(UpdateRuleReferenceTest, MomentumWithDefaultMu) {
  ExpectMatchesReference(Spec(v1::MOMENTUM, 0.002f));
}

TEST(UpdateRuleReferenceTest, NesterovMomentumWithWarmupAndCosine) {
  v1::OptimizerSpec spec = Spec(v1::MOMENTUM, 0.005f);
  spec.set_momentum(0.8f);
  spec.set_nesterov(true);
  SetCosine(spec, 20, 250, 0.0f);
  ExpectMatchesReference(spec);
}

TEST(UpdateRuleReferenceTest, AdagradWithInitialAccumulator) {
  v1::OptimizerSpec spec = Spec(v1::ADAGRAD, 0.05f);
  spec.set_initial_accumulator(0.1f);
  ExpectMatchesReference(spec);
}

TEST(UpdateRuleReferenceTest, AdagradWithDefaultsAndStepDecay) {
  v1::OptimizerSpec spec = Spec(v1::ADAGRAD, 0.05f);
  SetStep(spec, 0, 100, 0.3f);
  ExpectMatchesReference(spec);
}

TEST(UpdateRuleReferenceTest, AdagradWithEpsilonComparableToAccumulator) {
  v1::OptimizerSpec spec = Spec(v1::ADAGRAD, 0.01f);
  spec.set_epsilon(0.05f);
  ExpectMatchesReference(spec, /*grad_scale=*/0.01f);
}

TEST(UpdateRuleReferenceTest, AdamWithDefaults) {
  ExpectMatchesReference(Spec(v1::ADAM, 0.001f));
}

TEST(UpdateRuleReferenceTest, AdamWithL2WarmupAndCosine) {
  v1::OptimizerSpec spec = Spec(v1::ADAM, 0.002f);
  spec.set_beta1(0.8f);
  spec.set_beta2(0.99f);
  spec.set_epsilon(1e-6f);
  spec.set_weight_decay(0.05f);
  SetCosine(spec, 30, 200, 0.05f);
  ExpectMatchesReference(spec);
}

// Gradients of 1e-3 make sqrt(v) comparable to epsilon, so that epsilon's
// place (outside the square root, after bias correction) matters.
TEST(UpdateRuleReferenceTest, AdamWithEpsilonComparableToGradients) {
  v1::OptimizerSpec spec = Spec(v1::ADAM, 0.001f);
  spec.set_epsilon(1e-3f);
  ExpectMatchesReference(spec, /*grad_scale=*/1e-3f);
}

TEST(UpdateRuleReferenceTest, AdamWithDefaultDecay) {
  ExpectMatchesReference(Spec(v1::ADAMW, 0.001f));
}

TEST(UpdateRuleReferenceTest, AdamWWithStrongDecayAndStepSchedule) {
  v1::OptimizerSpec spec = Spec(v1::ADAMW, 0.01f);
  spec.set_weight_decay(0.1f);
  SetStep(spec, 10, 80, 0.5f);
  ExpectMatchesReference(spec);
}

TEST(UpdateRuleReferenceTest, FtrlWithDefaults) {
  ExpectMatchesReference(Spec(v1::FTRL, 0.5f));
}

TEST(UpdateRuleReferenceTest, FtrlWithL2AndWarmup) {
  v1::OptimizerSpec spec = Spec(v1::FTRL, 0.5f);
  spec.set_l2(0.5f);
  spec.set_beta(0.5f);
  spec.mutable_schedule()->set_warmup_steps(40);
  ExpectMatchesReference(spec);
}

TEST(UpdateRuleReferenceTest, FtrlL1SetsWeightsToExactlyZero) {
  v1::OptimizerSpec spec = Spec(v1::FTRL, 1.0f);
  spec.set_l1(20.0f);
  spec.set_l2(0.1f);
  ExpectMatchesReference(spec);
  const Trained run = Train(spec);
  int64_t zeros = 0;
  for (int64_t i = 0; i < kValues; ++i) {
    // Values whose |z| is within float rounding of l1 may land either side.
    if (std::abs(run.want[i].a) > 20.0 * (1 - 1e-4)) continue;
    EXPECT_EQ(run.got[i], 0.0f) << "value " << i;
    EXPECT_FALSE(std::signbit(run.got[i])) << "value " << i;
    ++zeros;
  }
  EXPECT_GT(zeros, kValues / 5);
  EXPECT_LT(zeros, kValues);  // l1 must not zero everything either.
}

}  // namespace
}  // namespace ps::server
