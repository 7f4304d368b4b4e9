#include "server/pull_scheduler.h"

#include <algorithm>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace ps::server {

void PullScheduler::Schedule(PullPlan plan, absl::Time deadline,
                             CancelledFn cancelled, AnswerFn answer) {
  absl::StatusOr<int64_t> now = plan.Await(absl::InfinitePast());
  if (!absl::IsDeadlineExceeded(now.status())) {
    std::move(answer)(plan, std::move(now));
    return;
  }
  if (waiting_.fetch_add(1) >= options_.max_waiting_pulls) {
    waiting_.fetch_sub(1);
    std::move(answer)(
        plan, absl::ResourceExhaustedError(absl::StrCat(
                  "more than ", options_.max_waiting_pulls,
                  " pulls are already waiting for their jobs' clocks; retry "
                  "later")));
    return;
  }
  deadline = std::min(deadline, absl::Now() + options_.max_wait);
  waits_.Run([this, deadline, plan = std::move(plan),
              cancelled = std::move(cancelled),
              answer = std::move(answer)]() mutable {
    std::move(answer)(plan, AwaitUnlessCancelled(plan, deadline, cancelled));
    waiting_.fetch_sub(1);
  });
}

absl::StatusOr<int64_t> PullScheduler::AwaitUnlessCancelled(
    const PullPlan& plan, absl::Time deadline, const CancelledFn& cancelled) {
  while (true) {
    const absl::Time until =
        std::min(deadline, absl::Now() + options_.cancel_check_interval);
    absl::StatusOr<int64_t> staleness = plan.Await(until);
    if (!absl::IsDeadlineExceeded(staleness.status()) || until == deadline) {
      return staleness;
    }
    if (cancelled()) {
      return absl::CancelledError(
          "the pull was cancelled while it waited for the job's clocks");
    }
  }
}

}  // namespace ps::server
