// Builders of the concrete update rules; internal to //server:update_rule,
// whose public face is MakeUpdateRule. Each takes parameters that
// ResolveOptimizerSpec has validated and completed with defaults.
#ifndef PS_SERVER_OPTIMIZERS_H_
#define PS_SERVER_OPTIMIZERS_H_

#include <memory>

#include "common/optimizer_spec.h"
#include "server/update_rule.h"

namespace ps::server::internal {

std::unique_ptr<UpdateRule> MakeSgdRule(const OptimizerParams& p);
std::unique_ptr<UpdateRule> MakeMomentumRule(const OptimizerParams& p);
std::unique_ptr<UpdateRule> MakeAdagradRule(const OptimizerParams& p);
// ADAM and ADAMW.
std::unique_ptr<UpdateRule> MakeAdamRule(const OptimizerParams& p);
std::unique_ptr<UpdateRule> MakeFtrlRule(const OptimizerParams& p);

}  // namespace ps::server::internal

#endif  // PS_SERVER_OPTIMIZERS_H_
