// The order in which a replica group applies its pushes. Every replica of a
// group applies the same pushes in the same order, so that values, optimizer
// state, clocks and the de-duplication record are identical on all of them.
//
// The primary numbers each push it accepts (Assign) and forwards it with its
// number; a backup receives the numbers in any order. On both, a push is
// handed over with Ready(op, ...) once it may be applied (the primary: once
// every backup has it), and OpOrder runs the apply functions strictly in op
// order: op n runs after op n - 1 has run, on whichever thread filled the
// gap. Nothing blocks: a push that arrives early waits in memory, its RPC
// still open, until the gap is filled or the order is reset.
//
// Thread-safe. The functions run without OpOrder's lock held, one at a time.
#ifndef PS_SERVER_OP_ORDER_H_
#define PS_SERVER_OP_ORDER_H_

#include <cstdint>
#include <functional>
#include <map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ps::server {

class OpOrder {
 public:
  struct Step {
    // Runs in op order, exactly once, unless the step is dropped.
    std::function<void()> apply;
    // Runs instead of `apply` when its op was applied before (true), or
    // the step is dropped (false: Reset, or a newer copy of the op came).
    std::function<void(bool applied_before)> drop;
  };

  // The primary: the number of the next push (the last assigned + 1), and
  // `with(op)` run under the lock, so that it is atomic with the numbering
  // (e.g. adding a backup that receives every op after this one).
  uint64_t Assign(const std::function<void(uint64_t op)>& with = nullptr);

  // Op `op` may be applied. Runs step.apply now if it is the next one (and
  // then every waiting step that follows), else keeps it for later; runs
  // step.drop now when `op` was applied already.
  void Ready(uint64_t op, Step step);

  // The last op assigned (the primary), with `with(op)` run under the lock:
  // ops assigned after this call are greater than the result.
  uint64_t Boundary(const std::function<void(uint64_t op)>& with = nullptr);

  // Runs `fn` once op `op` has been applied and before op + 1 is: now when
  // `op` is the last applied, else on the thread that applies it. Returns
  // at once. (With `op` already passed, it runs now.)
  void AtBoundary(uint64_t op, std::function<void()> fn);

  // Forgets every waiting step (running their drop functions) and makes
  // `applied` the last applied and last assigned op: a backup promoted to
  // primary continues from what it applied; a copy installed at op n
  // continues from n.
  void Reset(uint64_t applied);

  // A copy of the group was installed holding every op up to `applied`:
  // waiting steps up to it are dropped, later ones are applied from there.
  void Advance(uint64_t applied);

  uint64_t applied() const;
  uint64_t assigned() const;
  // Steps waiting for an earlier op.
  int64_t waiting() const;

 private:
  // Applies waiting steps while the next one is there; the caller set
  // draining_ and holds mu_, which is released around each step.
  void DrainLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  mutable absl::Mutex mu_;
  uint64_t applied_ ABSL_GUARDED_BY(mu_) = 0;
  uint64_t assigned_ ABSL_GUARDED_BY(mu_) = 0;
  bool draining_ ABSL_GUARDED_BY(mu_) = false;
  uint64_t running_ ABSL_GUARDED_BY(mu_) = 0;  // the op being applied, or 0
  std::map<uint64_t, Step> waiting_ ABSL_GUARDED_BY(mu_);
  // Functions to run once op (the key) is applied.
  std::multimap<uint64_t, std::function<void()>> at_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::server

#endif  // PS_SERVER_OP_ORDER_H_
