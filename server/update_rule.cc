#include "server/update_rule.h"

#include "absl/strings/str_cat.h"

namespace ps::server {

void SgdRule::Apply(float* values, float* const* /*state*/, const float* grad,
                    int64_t n) const {
  const float lr = lr_;
  for (int64_t i = 0; i < n; ++i) values[i] -= lr * grad[i];
}

absl::StatusOr<std::unique_ptr<UpdateRule>> MakeUpdateRule(
    const v1::OptimizerSpec& spec) {
  if (!(spec.learning_rate() > 0.0f && spec.learning_rate() <= 10.0f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("optimizer.learningRate: ", spec.learning_rate(),
                     " is out of range; allowed: (0, 10]"));
  }
  switch (spec.type()) {
    case v1::SGD:
      return std::make_unique<SgdRule>(spec.learning_rate());
    default:
      return absl::InvalidArgumentError(absl::StrCat(
          "optimizer.type: unknown optimizer ",
          v1::OptimizerType_Name(spec.type()), "; allowed: SGD"));
  }
}

}  // namespace ps::server
