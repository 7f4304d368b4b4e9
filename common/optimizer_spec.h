// The optimizer part of a job spec (ps.v1.OptimizerSpec): validation, and the
// hyperparameters it resolves to once defaults are applied. The allowed
// ranges and defaults are those documented in proto/ps/v1/ps.proto; this file
// is the one place in the code that defines them. The coordinator validates a
// submitted spec with it, and each server validates again before building an
// update rule (server/update_rule.h), since a server must not trust a peer.
//
// Every error is InvalidArgument with a message of the form
//   "<field>: <value> <problem>; allowed: <what is allowed>"
// where <field> is spelled as in the JSON job spec, e.g.
//   "optimizer.beta2: 1 is out of range; allowed: [0, 1)".
#ifndef PS_COMMON_OPTIMIZER_SPEC_H_
#define PS_COMMON_OPTIMIZER_SPEC_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps {

// Servers count updates per value in a float (see server/update_rule.h),
// which is exact up to 2^24; schedule lengths are capped there so that every
// schedule reaches its end while counts are still exact.
inline constexpr int64_t kMaxScheduleSteps = int64_t{1} << 24;

// Defaults for hyperparameters a spec leaves unset. Epsilon and weight decay
// depend on the optimizer type.
inline constexpr float kDefaultMomentum = 0.9f;
inline constexpr float kDefaultBeta1 = 0.9f;
inline constexpr float kDefaultBeta2 = 0.999f;
inline constexpr float kDefaultAdagradEpsilon = 1e-10f;
inline constexpr float kDefaultAdamEpsilon = 1e-8f;  // ADAM and ADAMW
inline constexpr float kDefaultAdamWeightDecay = 0.0f;
inline constexpr float kDefaultAdamWWeightDecay = 0.01f;
inline constexpr float kDefaultInitialAccumulator = 0.0f;
inline constexpr float kDefaultFtrlL1 = 0.0f;
inline constexpr float kDefaultFtrlL2 = 0.0f;
inline constexpr float kDefaultFtrlBeta = 1.0f;

// A learning-rate schedule with the fields its kind does not use left at
// neutral values, so that evaluating it needs no knowledge of the kind's
// rules: lr(t) = learning_rate * min(1, t / warmup_steps) * decay(t).
struct ScheduleParams {
  v1::LearningRateSchedule::Kind kind = v1::LearningRateSchedule::CONSTANT;
  int64_t warmup_steps = 0;  // 0: no warm-up.
  int64_t step_size = 1;     // STEP: decay(t) = gamma ^ floor(t / step_size).
  float gamma = 1.0f;
  int64_t decay_steps = 1;  // COSINE: from 1 to min_factor over decay_steps.
  float min_factor = 1.0f;
};

// Every hyperparameter with its default applied. Fields an optimizer type
// does not use keep the defaults below and mean nothing for it.
struct OptimizerParams {
  v1::OptimizerType type = v1::SGD;
  float learning_rate = 0.0f;           // Required; FTRL's alpha.
  float momentum = kDefaultMomentum;    // MOMENTUM
  bool nesterov = false;                // MOMENTUM
  float beta1 = kDefaultBeta1;          // ADAM, ADAMW
  float beta2 = kDefaultBeta2;          // ADAM, ADAMW
  float epsilon = kDefaultAdamEpsilon;  // ADAGRAD, ADAM, ADAMW
  // ADAM: L2 penalty added to the gradient. ADAMW: decoupled decay.
  float weight_decay = kDefaultAdamWeightDecay;
  float initial_accumulator = kDefaultInitialAccumulator;  // ADAGRAD
  float l1 = kDefaultFtrlL1;                               // FTRL
  float l2 = kDefaultFtrlL2;                               // FTRL
  float beta = kDefaultFtrlBeta;                           // FTRL
  ScheduleParams schedule;
};

// OK, or InvalidArgument naming the first offending field. Rejects:
//  - an unknown or unset type;
//  - a value outside the range in ps.proto, including NaN and infinities;
//  - a hyperparameter set for a type that does not use it (e.g. momentum
//    with ADAM), and schedule fields set for a kind that does not use them,
//    since silently ignoring them would hide a mistake in the spec;
//  - schedule lengths above kMaxScheduleSteps.
absl::Status ValidateOptimizerSpec(const v1::OptimizerSpec& spec);

// Validates, then applies defaults.
absl::StatusOr<OptimizerParams> ResolveOptimizerSpec(
    const v1::OptimizerSpec& spec);

}  // namespace ps

#endif  // PS_COMMON_OPTIMIZER_SPEC_H_
