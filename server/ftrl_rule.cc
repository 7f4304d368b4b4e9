// FTRL-Proximal, per McMahan et al., "Ad Click Prediction: a View from the
// Trenches" (KDD 2013), Algorithm 1, with the per-coordinate rate's alpha
// taken from the learning-rate schedule. Formulas and planes: update_rule.h.
#include <algorithm>
#include <cfloat>
#include <cmath>
#include <cstdint>
#include <memory>

#include "server/apply_loop.h"
#include "server/lr_schedule.h"
#include "server/optimizers.h"

namespace ps::server::internal {
namespace {

// Floor on alpha: a schedule may decay the rate to 0 (COSINE with minFactor
// 0), where 1/alpha would be infinite and sigma * w NaN. With the floor the
// weights shrink towards 0 and stay finite.
constexpr double kMinAlpha = 1e-20;

struct FtrlConsts {
  float l1;
  float l2;
  float beta;
};

// Written without branches so that it vectorises: the closed form
// -sign(z) max(|z| - l1, 0) / denominator is the paper's
// "|z| <= l1 ? 0 : -(z - sign(z) l1) / denominator". Adding +0.0f turns the
// -0.0 of a positive z into +0.0, so that values l1 zeroes are exactly +0.
//
// sigma is computed as the paper writes it. The difference of square roots
// loses digits once n is large, but no more than z loses to its own rounding
// at the same magnitude (measured: the equivalent g^2 / (sqrt(n + g^2) +
// sqrt(n)) was no closer to a double-precision reference, and its extra
// division made the loop ~20% slower). The weight's denominator is clamped
// to FLT_MIN: it is 0 for a value that has only seen zero gradients when
// beta and l2 are 0 too, where |z| is 0 as well and the paper's answer is 0,
// not 0/0.
template <typename Len, typename Steps>
void FtrlKernel(float* __restrict w, float* __restrict z, float* __restrict nn,
                const float* __restrict g, float* __restrict t, Len n,
                FtrlConsts c, float inv_alpha, Steps steps) {
  for (int64_t i = 0; i < n; ++i) {
    const float gi = g[i];
    const float n_old = nn[i];
    const float n_new = n_old + gi * gi;
    const float sqrt_new = std::sqrt(n_new);
    const float sigma = (sqrt_new - std::sqrt(n_old)) * inv_alpha;
    const float zi = z[i] + (gi - sigma * w[i]);  // z rounded once.
    z[i] = zi;
    nn[i] = n_new;
    float excess = std::fabs(zi) - c.l1;
    excess = excess > 0.0f ? excess : 0.0f;
    float denominator = (c.beta + sqrt_new) * inv_alpha + c.l2;
    denominator = denominator > FLT_MIN ? denominator : FLT_MIN;
    w[i] = std::copysign(excess, -zi) / denominator + 0.0f;
    if constexpr (Steps::kWrite) t[i] = steps.value;
  }
}

class FtrlRule final : public UpdateRule {
 public:
  explicit FtrlRule(const OptimizerParams& p)
      : lr_(p.learning_rate, p.schedule),
        counted_(!lr_.IsConstant()),
        c_{p.l1, p.l2, p.beta} {}

  // z, n, and the step count only when alpha varies.
  int StateFloats() const override { return counted_ ? 3 : 2; }

  void Apply(float* w, float* const* state, const float* g,
             int64_t n) const override {
    float* z = state[0];
    float* nn = state[1];
    ApplyByStep(
        counted_ ? state[2] : nullptr, n,
        [this](float t) {
          return static_cast<float>(1.0 / std::max(lr_.At(t), kMinAlpha));
        },
        [&](int64_t at, auto len, float inv_alpha, float* t, auto steps) {
          FtrlKernel(w + at, z + at, nn + at, g + at, t, len, c_, inv_alpha,
                     steps);
        });
  }

 private:
  LrSchedule lr_;
  bool counted_;
  FtrlConsts c_;
};

}  // namespace

std::unique_ptr<UpdateRule> MakeFtrlRule(const OptimizerParams& p) {
  return std::make_unique<FtrlRule>(p);
}

}  // namespace ps::server::internal
