#include "common/stream_watchdog.h"

#include <algorithm>

#include "common/logging.h"

namespace ps {

StreamWatchdog::StreamWatchdog(absl::Duration stall_limit)
    : stall_limit_(stall_limit), thread_([this] { Loop(); }) {}

StreamWatchdog::~StreamWatchdog() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

void StreamWatchdog::Arm(grpc::ServerContext* ctx) {
  absl::MutexLock lock(&mu_);
  writing_[ctx] = absl::Now() + stall_limit_;
}

void StreamWatchdog::Disarm(grpc::ServerContext* ctx) {
  absl::MutexLock lock(&mu_);
  writing_.erase(ctx);
}

int64_t StreamWatchdog::cancelled() const {
  absl::MutexLock lock(&mu_);
  return cancelled_;
}

void StreamWatchdog::Loop() {
  const absl::Duration poll = std::min(kPoll, stall_limit_ / 4);
  absl::MutexLock lock(&mu_);
  while (!mu_.AwaitWithTimeout(absl::Condition(&stop_), poll)) {
    const absl::Time now = absl::Now();
    for (auto it = writing_.begin(); it != writing_.end();) {
      if (it->second > now) {
        ++it;
        continue;
      }
      // The context lives until its handler returns, which is after its
      // Write returned and Disarm took the entry out under this lock.
      Logger("rpc")->warn(
          "cancelling a stream from {}: one write waited {} for the client "
          "to read",
          it->first->peer(), absl::FormatDuration(stall_limit_));
      it->first->TryCancel();
      ++cancelled_;
      writing_.erase(it++);
    }
  }
}

}  // namespace ps
