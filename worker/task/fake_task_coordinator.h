// A TaskCoordinator for tests: records every call and answers as told.
#ifndef PS_WORKER_TASK_FAKE_TASK_COORDINATOR_H_
#define PS_WORKER_TASK_FAKE_TASK_COORDINATOR_H_

#include <deque>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"
#include "worker/task/task_coordinator.h"

namespace ps::worker {

// Thread-safe.
class FakeTaskCoordinator : public TaskCoordinator {
 public:
  absl::Status ReportProgress(
      const v1::ReportProgressRequest& request) override {
    absl::MutexLock lock(&mu_);
    progress_.push_back(request);
    return progress_answer_;
  }

  // Answers with the queued barrier answers first, then OK, or, once
  // BarrierNeverCompletes(), DEADLINE_EXCEEDED after a short wait (the
  // others never arrive).
  absl::Status Barrier(const v1::BarrierRequest& request) override {
    absl::MutexLock lock(&mu_);
    barriers_.push_back(request);
    if (!barrier_answers_.empty()) {
      absl::Status s = barrier_answers_.front();
      barrier_answers_.pop_front();
      return s;
    }
    if (!barrier_never_completes_) return absl::OkStatus();
    mu_.Unlock();
    absl::SleepFor(absl::Milliseconds(5));
    mu_.Lock();
    return absl::DeadlineExceededError("ranks [1] have not arrived");
  }

  absl::Status CompleteTask(const v1::CompleteTaskRequest& request) override {
    absl::MutexLock lock(&mu_);
    completed_.push_back(request);
    return absl::OkStatus();
  }

  void SetProgressAnswer(absl::Status s) {
    absl::MutexLock lock(&mu_);
    progress_answer_ = std::move(s);
  }
  void QueueBarrierAnswer(absl::Status s) {
    absl::MutexLock lock(&mu_);
    barrier_answers_.push_back(std::move(s));
  }
  void BarrierNeverCompletes() {
    absl::MutexLock lock(&mu_);
    barrier_never_completes_ = true;
  }

  std::vector<v1::ReportProgressRequest> progress() const {
    absl::MutexLock lock(&mu_);
    return progress_;
  }
  std::vector<v1::BarrierRequest> barriers() const {
    absl::MutexLock lock(&mu_);
    return barriers_;
  }
  std::vector<v1::CompleteTaskRequest> completed() const {
    absl::MutexLock lock(&mu_);
    return completed_;
  }

  // Waits up to `timeout` for `n` CompleteTask calls; false if they did not
  // come.
  bool AwaitCompleted(size_t n, absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto done = [this, n]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return completed_.size() >= n;
    };
    return mu_.AwaitWithTimeout(absl::Condition(&done), timeout);
  }
  // Waits up to `timeout` for a first barrier call.
  bool AwaitBarrier(absl::Duration timeout) const {
    absl::MutexLock lock(&mu_);
    auto asked = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return !barriers_.empty();
    };
    return mu_.AwaitWithTimeout(absl::Condition(&asked), timeout);
  }

 private:
  mutable absl::Mutex mu_;
  absl::Status progress_answer_ ABSL_GUARDED_BY(mu_);
  std::deque<absl::Status> barrier_answers_ ABSL_GUARDED_BY(mu_);
  bool barrier_never_completes_ ABSL_GUARDED_BY(mu_) = false;
  std::vector<v1::ReportProgressRequest> progress_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::BarrierRequest> barriers_ ABSL_GUARDED_BY(mu_);
  std::vector<v1::CompleteTaskRequest> completed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_FAKE_TASK_COORDINATOR_H_
