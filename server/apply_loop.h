// Loop drivers shared by the update rules; internal to //server:update_rule.
//
// A rule's Apply is written as a per-element kernel over a contiguous range
// plus a function giving the kernel's per-step scalars (learning rate, bias
// corrections) for a step count t. ApplyByStep below cuts the chunk into
// blocks of kBlock values and hand the kernel its range with the length as
// a compile-time constant for every full block: GCC's -O2 vectoriser (the
// "very cheap" cost model) only vectorises loops whose trip count it knows
// is a multiple of the vector width, and this is how the kernels get SIMD
// without changing the build's flags. The tail of a chunk runs the same
// kernel with a run-time length (scalar code).
//
// Step-counted rules: the normal case is that every value of a block has had
// the same number of updates (whole-table pushes), which the driver checks
// with one vectorised pass over the block's step counts, so the per-step
// scalars are computed once per block (and cached across blocks), never per
// element. Blocks whose counts differ are cut into runs of equal counts. The
// kernel writes the new counts itself, in its own loop.
#ifndef PS_SERVER_APPLY_LOOP_H_
#define PS_SERVER_APPLY_LOOP_H_

#include <cstdint>
#include <type_traits>

namespace ps::server::internal {

// Small enough that a block's step counts stay in L1 between the check and
// the kernel; large enough to amortise the check and the per-block call.
inline constexpr int64_t kBlock = 2048;
using FullBlock = std::integral_constant<int64_t, kBlock>;

inline bool BlockHasOneStep(const float* steps) {
  const float first = steps[0];
  int differing = 0;  // A count, not a bool: GCC vectorises this reduction.
  for (int64_t i = 0; i < kBlock; ++i) differing += steps[i] != first;
  return differing == 0;
}

// Length of the run of values with the same count as steps[0], at most n.
inline int64_t StepRunLength(const float* steps, int64_t n) {
  int64_t i = 1;
  while (i < n && steps[i] == steps[0]) ++i;
  return i;
}

// How a kernel leaves the step counts of its range. With WriteSteps it
// stores `value` at t[i] for every value i it updates, in the same loop
// (a separate pass over the counts measured ~1.5x slower for SGD with a
// warm-up); with KeepSteps, for rules that keep no count, t is null and the
// kernel touches nothing.
struct KeepSteps {
  static constexpr bool kWrite = false;
  float value = 0.0f;
};
struct WriteSteps {
  static constexpr bool kWrite = true;
  float value;
};

// Runs body(at, len, scalars, t, steps) over [0, n) in blocks, where len is a
// FullBlock or an int64_t, scalars is scalars_at(c) for the step count c
// (1-based, including this update) of every value in [at, at + len), and t
// and steps tell the body's kernel where to write c (see WriteSteps).
//
// `steps` is the rule's step-count plane, or nullptr for a rule whose
// scalars do not depend on the count (then scalars_at(1) serves every value
// and the body gets KeepSteps). A float count stops advancing at 2^24 (see
// update_rule.h).
template <typename ScalarsAt, typename Body>
void ApplyByStep(float* steps, int64_t n, const ScalarsAt& scalars_at,
                 const Body& body) {
  if (steps == nullptr) {
    const auto scalars = scalars_at(1.0f);
    int64_t at = 0;
    for (; at + kBlock <= n; at += kBlock) {
      body(at, FullBlock(), scalars, nullptr, KeepSteps());
    }
    if (at < n) body(at, n - at, scalars, nullptr, KeepSteps());
    return;
  }
  float cached_count = 0.0f;  // No update has count 0.
  decltype(scalars_at(1.0f)) scalars{};
  auto run = [&](int64_t at, auto len) {
    const float count = steps[at] + 1.0f;
    if (count != cached_count) {
      scalars = scalars_at(count);
      cached_count = count;
    }
    body(at, len, scalars, steps + at, WriteSteps{count});
  };
  auto runs = [&](int64_t at, int64_t len) {
    for (int64_t end = at + len; at < end;) {
      const int64_t run_len = StepRunLength(steps + at, end - at);
      run(at, run_len);
      at += run_len;
    }
  };
  int64_t at = 0;
  for (; at + kBlock <= n; at += kBlock) {
    if (BlockHasOneStep(steps + at)) {
      run(at, FullBlock());
    } else {
      runs(at, kBlock);
    }
  }
  if (at < n) runs(at, n - at);
}

}  // namespace ps::server::internal

#endif  // PS_SERVER_APPLY_LOOP_H_
