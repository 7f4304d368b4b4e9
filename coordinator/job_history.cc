#include "coordinator/job_history.h"

#include <algorithm>
#include <cstdint>

namespace ps::coordinator {

namespace {

v1::HistoryPoint PointOf(const v1::JobProgress& progress, absl::Time now) {
  v1::HistoryPoint p;
  p.set_time_unix_ms(absl::ToUnixMillis(now));
  p.set_step(progress.step());
  p.set_epoch(progress.epoch());
  p.set_loss(progress.loss());
  p.set_accuracy(progress.accuracy());
  p.set_examples_per_sec(progress.examples_per_sec());
  p.set_max_staleness(progress.max_staleness());
  return p;
}

// Keeps points 0, 2, 4, ... and the last.
void DropEveryOther(v1::JobHistory* history) {
  auto* points = history->mutable_points();
  const int n = points->size();
  int kept = 0;
  for (int i = 0; i < n; i += 2) points->SwapElements(kept++, i);
  if ((n - 1) % 2 != 0) points->SwapElements(kept++, n - 1);
  points->DeleteSubrange(kept, n - kept);
}

}  // namespace

void RecordProgress(const v1::JobProgress& progress, absl::Time now,
                    v1::JobHistory* history, int max_points) {
  if (history->interval_ms() <= 0) {
    history->set_interval_ms(absl::ToInt64Milliseconds(kFirstHistoryInterval));
  }
  auto* points = history->mutable_points();
  const int n = points->size();
  // The last point stands for the latest report until it is an interval
  // past the point before it; then it stays, and the next report starts a
  // new one.
  if (n >= 2 && points->Get(n - 1).time_unix_ms() -
                        points->Get(n - 2).time_unix_ms() <
                    history->interval_ms()) {
    *points->Mutable(n - 1) = PointOf(progress, now);
    return;
  }
  *points->Add() = PointOf(progress, now);
  if (points->size() > std::max(max_points, 4)) {
    DropEveryOther(history);
    history->set_interval_ms(history->interval_ms() * 2);
  }
}

v1::JobHistory Thin(const v1::JobHistory& history, int max_points) {
  const int n = history.points_size();
  if (max_points <= 0 || n <= max_points) return history;
  v1::JobHistory thin;
  thin.set_job_id(history.job_id());
  thin.set_interval_ms(history.interval_ms());
  if (max_points == 1) {
    *thin.add_points() = history.points(n - 1);
    return thin;
  }
  for (int i = 0; i < max_points; ++i) {
    const int64_t at = static_cast<int64_t>(i) * (n - 1) / (max_points - 1);
    *thin.add_points() = history.points(static_cast<int>(at));
  }
  return thin;
}

}  // namespace ps::coordinator
