#include "common/optimizer_spec.h"

#include <charconv>
#include <limits>
#include <string>

#include "absl/strings/str_cat.h"

namespace ps {
namespace {

using Schedule = v1::LearningRateSchedule;

constexpr double kInf = std::numeric_limits<double>::infinity();

// An interval of allowed values and how messages spell it. Comparisons are
// written so that NaN is never inside.
struct Interval {
  double lo;
  double hi;
  bool lo_open;
  bool hi_open;
  const char* text;
};

constexpr Interval kPositiveUpTo10 = {0, 10, true, false, "(0, 10]"};
constexpr Interval kUnitHalfOpen = {0, 1, false, true, "[0, 1)"};
constexpr Interval kUnitOpenClosed = {0, 1, true, false, "(0, 1]"};
constexpr Interval kUnitClosed = {0, 1, false, false, "[0, 1]"};
constexpr Interval kUpTo1e6 = {0, 1e6, false, false, "[0, 1e6]"};
constexpr Interval kNonNegative = {0, kInf, false, true, ">= 0, finite"};
constexpr Interval kWarmup = {0, kMaxScheduleSteps, false, false,
                              "[0, 16777216]"};
constexpr Interval kSteps = {1, kMaxScheduleSteps, false, false,
                             "[1, 16777216]"};

bool Contains(const Interval& r, double x) {
  const bool above_lo = r.lo_open ? x > r.lo : x >= r.lo;
  const bool below_hi = r.hi_open ? x < r.hi : x <= r.hi;
  return above_lo && below_hi;
}

// Shortest text that reads back as the same float, so that a message never
// shows an out-of-range value rounded into range (10.000001 is not "10").
std::string FloatText(float value) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof(buf), value);
  return ec == std::errc() ? std::string(buf, end) : absl::StrCat(value);
}

absl::Status OutOfRange(absl::string_view field, absl::string_view value,
                        const Interval& allowed) {
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": ", value, " is out of range; allowed: ", allowed.text));
}

absl::Status NotUsed(absl::string_view field, absl::string_view value,
                     absl::string_view by, absl::string_view only_with) {
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": ", value, " is not used by ", by,
                   "; allowed: only with ", only_with));
}

// Bit set of optimizer types.
constexpr uint32_t Bit(v1::OptimizerType t) { return uint32_t{1} << t; }
constexpr uint32_t kAdams = Bit(v1::ADAM) | Bit(v1::ADAMW);

std::string TypeNames(uint32_t types) {
  std::string out;
  for (int t = v1::SGD; t <= v1::FTRL; ++t) {
    if ((types & (uint32_t{1} << t)) == 0) continue;
    absl::StrAppend(&out, out.empty() ? "type " : " or ",
                    v1::OptimizerType_Name(static_cast<v1::OptimizerType>(t)));
  }
  return out;
}

// One optional float hyperparameter: where it lives, its range, its users.
struct FloatField {
  const char* name;
  bool (v1::OptimizerSpec::*has)() const;
  float (v1::OptimizerSpec::*get)() const;
  Interval allowed;
  uint32_t used_by;
};

using S = v1::OptimizerSpec;
const FloatField kFloatFields[] = {
    {"optimizer.momentum", &S::has_momentum, &S::momentum, kUnitHalfOpen,
     Bit(v1::MOMENTUM)},
    {"optimizer.beta1", &S::has_beta1, &S::beta1, kUnitHalfOpen, kAdams},
    {"optimizer.beta2", &S::has_beta2, &S::beta2, kUnitHalfOpen, kAdams},
    {"optimizer.epsilon", &S::has_epsilon, &S::epsilon, kUnitOpenClosed,
     Bit(v1::ADAGRAD) | kAdams},
    {"optimizer.weightDecay", &S::has_weight_decay, &S::weight_decay,
     kUnitHalfOpen, kAdams},
    {"optimizer.initialAccumulator", &S::has_initial_accumulator,
     &S::initial_accumulator, kUpTo1e6, Bit(v1::ADAGRAD)},
    {"optimizer.l1", &S::has_l1, &S::l1, kNonNegative, Bit(v1::FTRL)},
    {"optimizer.l2", &S::has_l2, &S::l2, kNonNegative, Bit(v1::FTRL)},
    {"optimizer.beta", &S::has_beta, &S::beta, kNonNegative, Bit(v1::FTRL)},
};

absl::Status ValidateType(const v1::OptimizerSpec& spec) {
  if (spec.type() >= v1::SGD && spec.type() <= v1::FTRL) {
    return absl::OkStatus();
  }
  std::string name = v1::OptimizerType_Name(spec.type());
  if (name.empty()) name = absl::StrCat(static_cast<int>(spec.type()));
  return absl::InvalidArgumentError(
      absl::StrCat("optimizer.type: unknown optimizer ", name,
                   "; allowed: SGD, MOMENTUM, ADAGRAD, ADAM, ADAMW, FTRL"));
}

absl::Status ValidateHyperparameters(const v1::OptimizerSpec& spec) {
  if (!Contains(kPositiveUpTo10, spec.learning_rate())) {
    return OutOfRange("optimizer.learningRate", FloatText(spec.learning_rate()),
                      kPositiveUpTo10);
  }
  const std::string& type = v1::OptimizerType_Name(spec.type());
  for (const FloatField& f : kFloatFields) {
    if (!(spec.*f.has)()) continue;
    const float value = (spec.*f.get)();
    if ((f.used_by & Bit(spec.type())) == 0) {
      return NotUsed(f.name, FloatText(value), type, TypeNames(f.used_by));
    }
    if (!Contains(f.allowed, value)) {
      return OutOfRange(f.name, FloatText(value), f.allowed);
    }
  }
  if (spec.nesterov() && spec.type() != v1::MOMENTUM) {
    return NotUsed("optimizer.nesterov", "true", type, "type MOMENTUM");
  }
  return absl::OkStatus();
}

// A field that only schedules of `kind` use: under another kind it must be
// left at zero (proto3 cannot tell zero from unset).
template <typename T>
absl::Status CheckScheduleField(const Schedule& s, Schedule::Kind kind,
                                const char* name, T value, std::string text,
                                const Interval& allowed) {
  if (s.kind() != kind) {
    if (value == 0) return absl::OkStatus();
    return NotUsed(name, text,
                   absl::StrCat("schedule ", Schedule::Kind_Name(s.kind())),
                   absl::StrCat("kind ", Schedule::Kind_Name(kind)));
  }
  if (Contains(allowed, static_cast<double>(value))) return absl::OkStatus();
  return OutOfRange(name, text, allowed);
}

absl::Status ValidateSchedule(const Schedule& s) {
  if (!Schedule::Kind_IsValid(s.kind())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "optimizer.schedule.kind: unknown schedule ",
        static_cast<int>(s.kind()), "; allowed: CONSTANT, STEP, COSINE"));
  }
  if (!Contains(kWarmup, static_cast<double>(s.warmup_steps()))) {
    return OutOfRange("optimizer.schedule.warmupSteps",
                      absl::StrCat(s.warmup_steps()), kWarmup);
  }
  for (const absl::Status& status : {
           CheckScheduleField(s, Schedule::STEP, "optimizer.schedule.stepSize",
                              s.step_size(), absl::StrCat(s.step_size()),
                              kSteps),
           CheckScheduleField(s, Schedule::STEP, "optimizer.schedule.gamma",
                              s.gamma(), FloatText(s.gamma()), kUnitOpenClosed),
           CheckScheduleField(s, Schedule::COSINE,
                              "optimizer.schedule.decaySteps", s.decay_steps(),
                              absl::StrCat(s.decay_steps()), kSteps),
           CheckScheduleField(s, Schedule::COSINE,
                              "optimizer.schedule.minFactor", s.min_factor(),
                              FloatText(s.min_factor()), kUnitClosed),
       }) {
    if (!status.ok()) return status;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateOptimizerSpec(const v1::OptimizerSpec& spec) {
  absl::Status status = ValidateType(spec);
  if (status.ok()) status = ValidateHyperparameters(spec);
  if (status.ok()) status = ValidateSchedule(spec.schedule());
  return status;
}

absl::StatusOr<OptimizerParams> ResolveOptimizerSpec(
    const v1::OptimizerSpec& spec) {
  absl::Status status = ValidateOptimizerSpec(spec);
  if (!status.ok()) return status;
  OptimizerParams p;
  p.type = spec.type();
  p.learning_rate = spec.learning_rate();
  if (spec.has_momentum()) p.momentum = spec.momentum();
  p.nesterov = spec.nesterov();
  if (spec.has_beta1()) p.beta1 = spec.beta1();
  if (spec.has_beta2()) p.beta2 = spec.beta2();
  p.epsilon = spec.has_epsilon()           ? spec.epsilon()
              : spec.type() == v1::ADAGRAD ? kDefaultAdagradEpsilon
                                           : kDefaultAdamEpsilon;
  p.weight_decay = spec.has_weight_decay()    ? spec.weight_decay()
                   : spec.type() == v1::ADAMW ? kDefaultAdamWWeightDecay
                                              : kDefaultAdamWeightDecay;
  if (spec.has_initial_accumulator()) {
    p.initial_accumulator = spec.initial_accumulator();
  }
  if (spec.has_l1()) p.l1 = spec.l1();
  if (spec.has_l2()) p.l2 = spec.l2();
  if (spec.has_beta()) p.beta = spec.beta();

  const Schedule& s = spec.schedule();
  p.schedule.kind = s.kind();
  p.schedule.warmup_steps = s.warmup_steps();
  if (s.kind() == Schedule::STEP) {
    p.schedule.step_size = s.step_size();
    p.schedule.gamma = s.gamma();
  } else if (s.kind() == Schedule::COSINE) {
    p.schedule.decay_steps = s.decay_steps();
    p.schedule.min_factor = s.min_factor();
  }
  return p;
}

}  // namespace ps
