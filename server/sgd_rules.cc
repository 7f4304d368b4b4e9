// SGD and the rules that add one plane of per-value state to it: heavy-ball
// momentum and AdaGrad. Formulas and planes: update_rule.h.
#include <cmath>
#include <cstdint>
#include <memory>

#include "server/apply_loop.h"
#include "server/lr_schedule.h"
#include "server/optimizers.h"

namespace ps::server::internal {
namespace {

// Kernels take their ranges as restrict pointers and their scalars by value,
// so the compiler may assume no store aliases a load it hoisted. t and
// steps: see WriteSteps in apply_loop.h.
template <typename Len, typename Steps>
void SgdKernel(float* __restrict w, const float* __restrict g,
               float* __restrict t, Len n, float lr, Steps steps) {
  for (int64_t i = 0; i < n; ++i) {
    w[i] -= lr * g[i];
    if constexpr (Steps::kWrite) t[i] = steps.value;
  }
}

// w -= lr * (grad_coef * g + velocity_coef * u): (1, mu) is Nesterov,
// (0, 1) plain heavy ball, both exact for finite g.
struct MomentumConsts {
  float mu;
  float grad_coef;
  float velocity_coef;
};

template <typename Len, typename Steps>
void MomentumKernel(float* __restrict w, float* __restrict u,
                    const float* __restrict g, float* __restrict t, Len n,
                    MomentumConsts c, float lr, Steps steps) {
  for (int64_t i = 0; i < n; ++i) {
    const float ui = c.mu * u[i] + g[i];
    u[i] = ui;
    w[i] -= lr * (c.grad_coef * g[i] + c.velocity_coef * ui);
    if constexpr (Steps::kWrite) t[i] = steps.value;
  }
}

// `a` holds the accumulator less `initial`.
template <typename Len, typename Steps>
void AdagradKernel(float* __restrict w, float* __restrict a,
                   const float* __restrict g, float* __restrict t, Len n,
                   float initial, float epsilon, float lr, Steps steps) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float ai = a[i] + gi * gi;
    a[i] = ai;
    w[i] -= lr * gi / (std::sqrt(ai + initial) + epsilon);
    if constexpr (Steps::kWrite) t[i] = steps.value;
  }
}

// Shared by the three rules: the learning rate is their only per-step
// scalar, and they keep a step plane only when it varies.
class ScheduledRule : public UpdateRule {
 public:
  ScheduledRule(const OptimizerParams& p, int planes_without_steps)
      : lr_(p.learning_rate, p.schedule),
        counted_(!lr_.IsConstant()),
        step_plane_(planes_without_steps) {}

  int StateFloats() const override { return step_plane_ + (counted_ ? 1 : 0); }

 protected:
  float* StepPlane(float* const* state) const {
    return counted_ ? state[step_plane_] : nullptr;
  }
  float LearningRate(float t) const { return static_cast<float>(lr_.At(t)); }

 private:
  LrSchedule lr_;
  bool counted_;
  int step_plane_;
};

class SgdRule final : public ScheduledRule {
 public:
  explicit SgdRule(const OptimizerParams& p) : ScheduledRule(p, 0) {}

  void Apply(float* w, float* const* state, const float* g,
             int64_t n) const override {
    ApplyByStep(
        StepPlane(state), n, [this](float t) { return LearningRate(t); },
        [&](int64_t at, auto len, float lr, float* t, auto steps) {
          SgdKernel(w + at, g + at, t, len, lr, steps);
        });
  }
};

class MomentumRule final : public ScheduledRule {
 public:
  explicit MomentumRule(const OptimizerParams& p)
      : ScheduledRule(p, 1),
        c_{p.momentum, p.nesterov ? 1.0f : 0.0f,
           p.nesterov ? p.momentum : 1.0f} {}

  void Apply(float* w, float* const* state, const float* g,
             int64_t n) const override {
    float* u = state[0];
    ApplyByStep(
        StepPlane(state), n, [this](float t) { return LearningRate(t); },
        [&](int64_t at, auto len, float lr, float* t, auto steps) {
          MomentumKernel(w + at, u + at, g + at, t, len, c_, lr, steps);
        });
  }

 private:
  MomentumConsts c_;
};

class AdagradRule final : public ScheduledRule {
 public:
  explicit AdagradRule(const OptimizerParams& p)
      : ScheduledRule(p, 1),
        initial_(p.initial_accumulator),
        epsilon_(p.epsilon) {}

  void Apply(float* w, float* const* state, const float* g,
             int64_t n) const override {
    float* a = state[0];
    ApplyByStep(
        StepPlane(state), n, [this](float t) { return LearningRate(t); },
        [&](int64_t at, auto len, float lr, float* t, auto steps) {
          AdagradKernel(w + at, a + at, g + at, t, len, initial_, epsilon_, lr,
                        steps);
        });
  }

 private:
  float initial_;
  float epsilon_;
};

}  // namespace

std::unique_ptr<UpdateRule> MakeSgdRule(const OptimizerParams& p) {
  return std::make_unique<SgdRule>(p);
}

std::unique_ptr<UpdateRule> MakeMomentumRule(const OptimizerParams& p) {
  return std::make_unique<MomentumRule>(p);
}

std::unique_ptr<UpdateRule> MakeAdagradRule(const OptimizerParams& p) {
  return std::make_unique<AdagradRule>(p);
}

}  // namespace ps::server::internal
