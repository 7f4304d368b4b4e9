// The server-side update rule ("optimizer"): how a pushed gradient changes the
// values it belongs to. Pluggable: a table's rule is chosen from its
// OptimizerSpec by MakeUpdateRule, and any state the rule keeps (momentum,
// moments, accumulators, per-value step counts) lives in the shard beside the
// values as `StateFloats()` planes, each one float per value, so a chunk of
// values [i, i+n) has its state at plane[k] + i in every plane k.
//
// Rules and their planes (hyperparameters and defaults: ps.proto and
// common/optimizer_spec.h; lr(t) is the schedule's rate at update t):
//   SGD       w -= lr(t) g                                      [steps*]
//   MOMENTUM  u = mu u + g;  w -= lr(t) (nesterov ? g + mu u : u) [u, steps*]
//   ADAGRAD   a += g^2;  w -= lr(t) g / (sqrt(a) + eps), with a starting at
//             initial_accumulator (the plane holds a - initial_accumulator,
//             so that it can start zeroed)                      [a, steps*]
//   ADAM      g += wd w (L2);  m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;
//             w -= lr(t) (m / (1-b1^t)) / (sqrt(v / (1-b2^t)) + eps)
//                                                               [m, v, steps]
//   ADAMW     as ADAM without the L2 term, after w -= lr(t) wd w [m, v, steps]
//   FTRL      FTRL-Proximal (McMahan et al. 2013) with alpha = lr(t):
//             sigma = (sqrt(n + g^2) - sqrt(n)) / alpha;  z += g - sigma w;
//             n += g^2;  w = |z| <= l1 ? 0
//                 : -(z - sign(z) l1) / ((beta + sqrt(n)) / alpha + l2)
//                                                               [z, n, steps*]
// steps* is kept only when lr(t) varies with t (a warm-up or a decaying
// schedule); SGD with a constant rate keeps no state at all.
//
// Step counts: t is the 1-based number of updates applied to a value,
// including this one, kept per value because a push may cover only part of a
// table. It is stored as a float, which counts exactly up to 2^24
// (16,777,216) updates of one value; after that it stays at 2^24, so the
// schedule and the bias corrections behave as at update 2^24 (by then the
// bias corrections are 1 to float precision, and ValidateOptimizerSpec caps
// warm-up and decay lengths at 2^24).
#ifndef PS_SERVER_UPDATE_RULE_H_
#define PS_SERVER_UPDATE_RULE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::server {

// Most state planes a rule may keep.
inline constexpr int kMaxStatePlanes = 4;

// Thread-compatible and immutable once built: Apply is const and keeps all
// state in the planes it is given, so one rule may serve several shards as
// long as each call is for one shard at a time under that shard's lock.
class UpdateRule {
 public:
  virtual ~UpdateRule() = default;

  // Floats of optimizer state kept per value, at most kMaxStatePlanes.
  virtual int StateFloats() const = 0;

  // Applies one gradient to n values. state[k] points at the n floats of
  // plane k for these values (state is unused when StateFloats() is 0). The
  // planes start zeroed. Called with the shard locked, so it needs no
  // synchronisation of its own; must not fail. values, grad and the planes
  // must not overlap. Each value is updated on its own, so a range may be
  // split into calls in any way.
  virtual void Apply(float* values, float* const* state, const float* grad,
                     int64_t n) const = 0;
};

// Validates `spec` with ps::ValidateOptimizerSpec (common/optimizer_spec.h)
// and builds its rule: InvalidArgument naming the field for an unknown type
// or a bad hyperparameter.
absl::StatusOr<std::unique_ptr<UpdateRule>> MakeUpdateRule(
    const v1::OptimizerSpec& spec);

}  // namespace ps::server

#endif  // PS_SERVER_UPDATE_RULE_H_
