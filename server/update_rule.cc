#include "server/update_rule.h"

#include "common/optimizer_spec.h"
#include "server/optimizers.h"

namespace ps::server {

absl::StatusOr<std::unique_ptr<UpdateRule>> MakeUpdateRule(
    const v1::OptimizerSpec& spec) {
  absl::StatusOr<OptimizerParams> params = ResolveOptimizerSpec(spec);
  if (!params.ok()) return params.status();
  switch (params->type) {
    case v1::SGD:
      return internal::MakeSgdRule(*params);
    case v1::MOMENTUM:
      return internal::MakeMomentumRule(*params);
    case v1::ADAGRAD:
      return internal::MakeAdagradRule(*params);
    case v1::ADAM:
    case v1::ADAMW:
      return internal::MakeAdamRule(*params);
    case v1::FTRL:
      return internal::MakeFtrlRule(*params);
    default:
      // ResolveOptimizerSpec admits only the types above.
      return absl::InternalError("optimizer.type: validated type has no rule");
  }
}

}  // namespace ps::server
