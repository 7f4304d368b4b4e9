// A job's training curves: the points the coordinator keeps of its
// aggregated progress, for psctl plot and the dashboard.
//
// A job reports progress many times a second for as long as a week, so the
// history is bounded: a point is kept per interval (kFirstInterval at
// first), and whenever the history reaches max_points, every other point is
// dropped and the interval doubles. The last point is always the latest
// report. Pure functions over the proto, which is stored with the job.
#ifndef PS_COORDINATOR_JOB_HISTORY_H_
#define PS_COORDINATOR_JOB_HISTORY_H_

#include "absl/time/time.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::coordinator {

inline constexpr absl::Duration kFirstHistoryInterval = absl::Milliseconds(250);
// 1024 points of about 50 bytes: the history stays under 64 KiB.
inline constexpr int kMaxHistoryPoints = 1024;

// Adds `progress` at `now` to `history`: replaces the last point while it
// is less than the interval after the one before it, else appends; then thins
// the history when it holds more than `max_points` (>= 4).
void RecordProgress(const v1::JobProgress& progress, absl::Time now,
                    v1::JobHistory* history,
                    int max_points = kMaxHistoryPoints);

// At most `max_points` points of `history`, evenly spaced by index, first
// and last kept; all of them when max_points is 0 or the history is
// shorter.
v1::JobHistory Thin(const v1::JobHistory& history, int max_points);

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_JOB_HISTORY_H_
