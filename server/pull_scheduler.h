// When a pull is answered: at once when its job's clocks let it read (always
// under ASP), else on a thread of a WaitPool once they do, its deadline
// passes, or its caller gives up. gRPC runs callback handlers on a few
// shared threads; a pull that waited there could hold every one of them and
// leave none to serve the pushes its wait is for.
//
// Policy:
//   - Each waiting pull holds a thread, so at most max_waiting_pulls wait at
//     once: one more is answered RESOURCE_EXHAUSTED at once, so that a peer
//     sending pulls far ahead of every worker's clock cannot exhaust the
//     process.
//   - A waiting pull never outlives its caller's deadline, nor max_wait.
//   - A waiting pull asks every cancel_check_interval whether its caller
//     gave up (the client went away, or the server is shutting down), and
//     then ends with CANCELLED, so that a server shutting down is not held
//     up by waits.
//
// Knows nothing of gRPC: the caller passes its deadline, a cancellation
// check and a callback for the answer. Thread-safe. Destruction waits for
// every pull already waiting to be answered.
#ifndef PS_SERVER_PULL_SCHEDULER_H_
#define PS_SERVER_PULL_SCHEDULER_H_

#include <atomic>

#include "absl/functional/any_invocable.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "server/table_store.h"
#include "server/wait_pool.h"

namespace ps::server {

// Longest a BSP/SSP pull waits for slow workers, whatever its deadline.
inline constexpr absl::Duration kMaxPullWait = absl::Minutes(10);
// Most pulls waiting at once (each holds a thread); more get
// RESOURCE_EXHAUSTED. Far above what a job's workers send: one per worker
// and server-chunk.
inline constexpr int kMaxWaitingPulls = 1024;

struct PullSchedulerOptions {
  // Most pulls waiting at once. Higher costs a thread (its stack) per pull.
  int max_waiting_pulls = kMaxWaitingPulls;
  // Longest wait, whatever the caller's deadline.
  absl::Duration max_wait = kMaxPullWait;
  // How soon a waiting pull notices that its caller gave up. Shorter costs
  // wake-ups of every waiting pull.
  absl::Duration cancel_check_interval = absl::Milliseconds(100);
};

class PullScheduler {
 public:
  // Whether the pull's caller gave up; called from the waiting thread.
  using CancelledFn = absl::AnyInvocable<bool() const>;
  // Receives the plan and the outcome of its wait: the staleness
  // (PullPlan::Await), or the error that ended the wait.
  using AnswerFn =
      absl::AnyInvocable<void(const PullPlan&, absl::StatusOr<int64_t>) &&>;

  explicit PullScheduler(PullSchedulerOptions options = {})
      : options_(options) {}
  PullScheduler(const PullScheduler&) = delete;
  PullScheduler& operator=(const PullScheduler&) = delete;

  // Calls `answer` exactly once: on this thread when the pull can read now
  // or is refused (RESOURCE_EXHAUSTED: too many waiting), else on a wait
  // thread when its wait ends: readable (its staleness), `deadline` or
  // max_wait passed (DEADLINE_EXCEEDED naming the slow workers), the tables
  // were dropped (ABORTED), or `cancelled` returned true (CANCELLED).
  void Schedule(PullPlan plan, absl::Time deadline, CancelledFn cancelled,
                AnswerFn answer);

  // Pulls handed to a wait thread and not yet answered.
  int waiting() const { return waiting_.load(); }

 private:
  // plan.Await(deadline), except that it gives up soon after `cancelled`.
  absl::StatusOr<int64_t> AwaitUnlessCancelled(const PullPlan& plan,
                                               absl::Time deadline,
                                               const CancelledFn& cancelled);

  const PullSchedulerOptions options_;
  std::atomic<int> waiting_{0};  // pulls handed to waits_ and not answered
  WaitPool waits_;               // destroyed first: joins the waits
};

}  // namespace ps::server

#endif  // PS_SERVER_PULL_SCHEDULER_H_
