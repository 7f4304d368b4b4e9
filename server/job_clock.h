// The clocks of one job's workers as seen by one server, and the gate that
// makes pulls wait for them. A worker's clock is the number of steps it has
// finished on this server: step c is finished once its `clock_pushes` push
// requests for c have arrived.
//
//   ASP: pulls never wait; staleness is still measured.
//   SSP(s): a pull at clock c waits until min over workers of clock >= c - s.
//   BSP: a pull at clock c waits until the updates of clocks [0, c) are
//        applied; the store applies clock c's summed gradient once
//        RecordPush reports that every worker finished c, then calls
//        Published(c + 1).
//
// Staleness of a pull = c - (the clock the gate compares with), >= 0: how
// many steps of the slowest worker the values may be missing. Thread-safe.
#ifndef PS_SERVER_JOB_CLOCK_H_
#define PS_SERVER_JOB_CLOCK_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::server {

struct PullStats {
  int64_t pulls = 0;
  int64_t waited = 0;
  int64_t max_staleness = 0;
  int64_t staleness_sum = 0;
};

class JobClock {
 public:
  JobClock(v1::Consistency mode, int staleness,
           const std::vector<std::string>& worker_ids);

  v1::Consistency mode() const { return mode_; }

  // Checks that a push of `worker` for `clock` may be applied, without
  // recording it. INVALID_ARGUMENT: unknown worker or clock_pushes < 1;
  // FAILED_PRECONDITION: a clock out of order or more pushes than announced.
  absl::Status CheckPush(const std::string& worker, int64_t clock,
                         int32_t clock_pushes) const;

  // Records a push that was applied (or, under BSP, accumulated). Sets
  // *all_finished when it completed `clock` for every worker (BSP's apply
  // point). Fails like CheckPush when concurrent pushes broke the order.
  absl::Status RecordPush(const std::string& worker, int64_t clock,
                          int32_t clock_pushes, bool* all_finished);

  // BSP: the updates of clocks [0, applied) are now visible.
  void Published(int64_t applied);

  // Waits until a pull at `clock` (>= 0: TableStore::PlanPull refuses a
  // negative one) may read, or `deadline`. Returns its staleness.
  // DEADLINE_EXCEEDED names the workers it waited for; ABORTED once Close()
  // was called.
  absl::StatusOr<int64_t> AwaitPull(int64_t clock, absl::Time deadline);

  // Wakes every waiting pull with ABORTED (the job's tables are dropped).
  void Close();

  PullStats stats() const;

  // Snapshots (server/group_snapshot.h). What decides CheckPush, RecordPush
  // and AwaitPull, less Close() (a lifecycle, not state) and stats().
  int staleness() const { return staleness_; }
  struct WorkerState {
    std::string id;
    int rank = 0;
    int64_t finished = 0;  // clocks finished
    int32_t received = 0;  // pushes of clock `finished` received so far
  };
  struct State {
    std::vector<WorkerState> workers;  // ordered by id
    int64_t published = 0;             // BSP: clocks applied
  };
  State Export() const;
  // Replaces every worker's `finished` and `received` and the published
  // clock with state's, at one instant, and lets waiting pulls re-check.
  // state.workers must be this clock's workers with their ranks, ordered
  // by id (as Export returns them; a CHECK failure otherwise).
  void Restore(const State& state);

 private:
  struct Worker {
    int rank = 0;
    int64_t finished = 0;  // clocks finished
    int32_t received = 0;  // pushes of clock `finished` received so far
  };
  absl::Status Check(const std::string& worker, int64_t clock,
                     int32_t clock_pushes) const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  int64_t GateClock() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  std::string Laggards(int64_t needed) const ABSL_SHARED_LOCKS_REQUIRED(mu_);

  const v1::Consistency mode_;
  const int staleness_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, Worker> workers_ ABSL_GUARDED_BY(mu_);
  int64_t published_ ABSL_GUARDED_BY(mu_) = 0;  // BSP
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  PullStats stats_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::server

#endif  // PS_SERVER_JOB_CLOCK_H_
