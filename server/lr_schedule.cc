#include "server/lr_schedule.h"

#include <algorithm>
#include <cmath>

namespace ps::server {

using Schedule = v1::LearningRateSchedule;

bool LrSchedule::IsConstant() const {
  if (p_.warmup_steps > 0) return false;
  switch (p_.kind) {
    case Schedule::STEP:
      return p_.gamma == 1.0f;
    case Schedule::COSINE:
      return p_.min_factor == 1.0f;
    default:
      return true;
  }
}

double LrSchedule::At(double t) const {
  double lr = lr_;
  if (p_.warmup_steps > 0) {
    lr *= std::min(1.0, t / static_cast<double>(p_.warmup_steps));
  }
  if (p_.kind == Schedule::STEP) {
    lr *= std::pow(static_cast<double>(p_.gamma),
                   std::floor(t / static_cast<double>(p_.step_size)));
  } else if (p_.kind == Schedule::COSINE) {
    const double progress =
        std::min(t, static_cast<double>(p_.decay_steps)) / p_.decay_steps;
    const double min = p_.min_factor;
    lr *= min + (1.0 - min) * 0.5 * (1.0 + std::cos(M_PI * progress));
  }
  return lr;
}

}  // namespace ps::server
