// The learning rate an update rule uses at the t-th update of a value, as
// documented on ps.v1.LearningRateSchedule:
//   lr(t) = learning_rate * min(1, t / warmup_steps) * decay(t)
// with t counted from 1 per value.
#ifndef PS_SERVER_LR_SCHEDULE_H_
#define PS_SERVER_LR_SCHEDULE_H_

#include "common/optimizer_spec.h"

namespace ps::server {

class LrSchedule {
 public:
  LrSchedule(float learning_rate, const ScheduleParams& params)
      : lr_(learning_rate), p_(params) {}

  // True when lr(t) is learning_rate for every t, so a rule needs no step
  // count for the schedule's sake. Also true for schedules that cannot decay
  // (STEP with gamma 1, COSINE with min_factor 1).
  bool IsConstant() const;

  // lr(t) for t >= 1, in double so that callers can derive further per-step
  // scalars (bias corrections) before rounding to float once.
  double At(double t) const;

 private:
  double lr_;
  ScheduleParams p_;
};

}  // namespace ps::server

#endif  // PS_SERVER_LR_SCHEDULE_H_
