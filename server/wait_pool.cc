#include "server/wait_pool.h"

#include <utility>

namespace ps::server {

WaitPool::~WaitPool() {
  std::vector<std::thread> threads;
  {
    absl::MutexLock lock(&mu_);
    stopping_ = true;
    threads.swap(threads_);
  }
  for (std::thread& t : threads) t.join();
}

void WaitPool::Run(absl::AnyInvocable<void() &&> task) {
  absl::MutexLock lock(&mu_);
  queue_.push_back(std::move(task));
  // Each idle thread takes one queued task; start a thread for the rest.
  if (idle_ >= queue_.size()) return;
  threads_.emplace_back([this] { Loop(); });
}

int WaitPool::threads() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(threads_.size());
}

void WaitPool::Loop() {
  while (true) {
    absl::AnyInvocable<void() &&> task;
    {
      absl::MutexLock lock(&mu_);
      ++idle_;
      mu_.Await(absl::Condition(this, &WaitPool::HasTaskOrStopping));
      --idle_;
      // Stopping drains the queue first: every task handed over runs.
      if (queue_.empty()) return;
      task = std::move(queue_.front());
      queue_.pop_front();
    }
    std::move(task)();
  }
}

}  // namespace ps::server
