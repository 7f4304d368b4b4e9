// The server-side update rule ("optimizer"): how a pushed gradient changes the
// values it belongs to. Pluggable: a table's rule is chosen from its
// OptimizerSpec by MakeUpdateRule, and any state the rule keeps (momentum,
// moments, accumulators, per-value step counts) lives in the shard beside the
// values as `StateFloats()` planes, each one float per value, so a chunk of
// values [i, i+n) has its state at plane[k] + i in every plane k.
#ifndef PS_SERVER_UPDATE_RULE_H_
#define PS_SERVER_UPDATE_RULE_H_

#include <cstdint>
#include <memory>

#include "absl/status/statusor.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::server {

// Most state planes a rule may keep.
inline constexpr int kMaxStatePlanes = 4;

class UpdateRule {
 public:
  virtual ~UpdateRule() = default;

  // Floats of optimizer state kept per value.
  virtual int StateFloats() const = 0;

  // Applies one gradient to n values. state[k] points at the n floats of
  // plane k for these values (state is unused when StateFloats() is 0). The
  // planes start zeroed. Called with the shard locked, so it needs no
  // synchronisation of its own; must not fail.
  virtual void Apply(float* values, float* const* state, const float* grad,
                     int64_t n) const = 0;
};

// SGD: v -= lr * g.
class SgdRule : public UpdateRule {
 public:
  explicit SgdRule(float learning_rate) : lr_(learning_rate) {}
  int StateFloats() const override { return 0; }
  void Apply(float* values, float* const* state, const float* grad,
             int64_t n) const override;

 private:
  float lr_;
};

// InvalidArgument naming the field for an unknown type or bad hyperparameter.
absl::StatusOr<std::unique_ptr<UpdateRule>> MakeUpdateRule(
    const v1::OptimizerSpec& spec);

}  // namespace ps::server

#endif  // PS_SERVER_UPDATE_RULE_H_
