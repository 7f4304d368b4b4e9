// Threads for work that blocks for a long time: pulls waiting on their job's
// clocks (BSP/SSP). gRPC runs callback handlers on a few shared threads; a
// handler that blocked there could hold every one of them and leave none to
// serve the pushes its wait is for. Such work runs here instead.
//
// A task starts at once: on an idle thread of the pool, or else on a new
// one, so a task never waits behind another and waits cannot starve each
// other (a cap would let waiting pulls hold back pulls that could answer).
// Threads stay until the pool is destroyed, so there are at most as many as
// tasks ever ran at once. Thread-safe.
#ifndef PS_SERVER_WAIT_POOL_H_
#define PS_SERVER_WAIT_POOL_H_

#include <deque>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/functional/any_invocable.h"
#include "absl/synchronization/mutex.h"

namespace ps::server {

class WaitPool {
 public:
  WaitPool() = default;
  WaitPool(const WaitPool&) = delete;
  WaitPool& operator=(const WaitPool&) = delete;
  // Runs every task already handed to Run() to its end, then joins the
  // threads. Run() must not be called once destruction has begun.
  ~WaitPool();

  void Run(absl::AnyInvocable<void() &&> task);

  // Threads started so far (for tests).
  int threads() const;

 private:
  void Loop();
  bool HasTaskOrStopping() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    return stopping_ || !queue_.empty();
  }

  mutable absl::Mutex mu_;
  std::deque<absl::AnyInvocable<void() &&>> queue_ ABSL_GUARDED_BY(mu_);
  size_t idle_ ABSL_GUARDED_BY(mu_) = 0;  // threads waiting for a task
  bool stopping_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::server

#endif  // PS_SERVER_WAIT_POOL_H_
