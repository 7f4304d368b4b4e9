// All tables this server holds, for every job, and the data-plane operations
// on them. Knows nothing of gRPC: takes proto messages, byte pieces and
// buffers, returns absl::Status, so it is tested directly.
//
// Values are copied once on the server: a push is applied straight from the
// pieces its request arrived in (ValuePieces), and a pull writes straight
// into the caller's buffer (PullPlan::Read), which the caller sizes first.
//
// Thread-safe. Locking: the job map has its own lock, held only to find a
// job; each shard has its own reader/writer lock. No lock spans tables.
//
// Error contract (every failing call leaves stored values unchanged):
//   NOT_FOUND            unknown job or table
//   FAILED_PRECONDITION  epoch differs from the server's, or the slice is in
//                        the table but not on this server: refresh the map
//   OUT_OF_RANGE         slice outside the table
//   INVALID_ARGUMENT     malformed request (sizes, empty ids, bad defs)
//   ALREADY_EXISTS       CreateTables for a job that has tables at another epoch
//   RESOURCE_EXHAUSTED   the tables would exceed Options::max_bytes
//   DEADLINE_EXCEEDED    a BSP/SSP pull waited past its deadline (names the
//                        slow workers)
//   ABORTED              the job's tables were dropped while a pull waited
//
// Consistency (see job_clock.h): pushes name their worker and clock; under
// BSP they are summed and the mean is applied once per clock, under ASP and
// SSP applied as they arrive; pulls wait as the model requires.
#ifndef PS_SERVER_TABLE_STORE_H_
#define PS_SERVER_TABLE_STORE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proto/ps/v1/ps.pb.h"
#include "absl/time/time.h"
#include "server/bsp_accumulator.h"
#include "server/dense_shard.h"
#include "server/job_clock.h"
#include "server/push_dedup.h"
#include "server/value_pieces.h"

namespace ps::server {

struct TableStoreOptions {
  // Upper bound on bytes of values plus optimizer state over all jobs.
  // Requests beyond it fail with RESOURCE_EXHAUSTED instead of crashing.
  int64_t max_bytes = int64_t{16} << 30;
};

// A pull checked against the job's tables (TableStore::PlanPull): what it
// reads, and the job clock it waits on. Keeps the job's tables alive even if
// they are dropped meanwhile (Await then answers ABORTED). Movable; const
// methods are thread-safe.
class PullPlan {
 public:
  // Floats the pull reads: its slices' counts summed.
  int64_t values() const { return values_; }

  // Waits (until `deadline` at most) until the job's consistency model lets
  // the pull read, then records it in the job's stats and returns its
  // staleness. DEADLINE_EXCEEDED names the workers it waited for; a
  // deadline in the past checks without waiting (DEADLINE_EXCEEDED: the pull
  // would have to wait; nothing is recorded). ABORTED: the job's tables
  // were dropped.
  absl::StatusOr<int64_t> Await(absl::Time deadline) const;

  // Copies the slices' values, concatenated as float32 LE, to
  // out[0, values() * 4); `out` need not be aligned. Call after Await.
  void Read(char* out) const;

 private:
  friend class TableStore;
  struct Slice {
    const DenseShard* shard;
    int64_t offset, count;
  };
  std::shared_ptr<const void> job_;  // owns the shards and the clock
  JobClock* clock_ = nullptr;
  int64_t pull_clock_ = 0;  // the puller's clock
  std::vector<Slice> slices_;
  int64_t values_ = 0;
};

class TableStore {
 public:
  explicit TableStore(TableStoreOptions options = {}) : options_(options) {}

  // Creates the job's tables with the ranges this server owns. Idempotent for
  // a repeated request at the same epoch.
  absl::Status CreateTables(const v1::CreateTablesRequest& request);
  // Drops every table of the job. Unknown job: OK (idempotent).
  absl::Status DropTables(const std::string& job_id);

  // The first step of a pull: resolves its slices (NOT_FOUND,
  // FAILED_PRECONDITION, OUT_OF_RANGE as above). The caller then awaits the
  // plan and reads it into a buffer of plan.values() floats.
  absl::StatusOr<PullPlan> PlanPull(const v1::PullRequest& request) const;
  // All of a pull in one call: waits as the job's consistency model
  // requires (until `deadline` at most), then fills response->values with
  // the requested slices, concatenated as float32 LE, and
  // response->staleness.
  absl::Status Pull(const v1::PullRequest& request, absl::Time deadline,
                    v1::PullResponse* response) const;

  // Applies (or, under BSP, accumulates) the gradients `values`, the
  // request's float32 LE values in slice order; request.values() itself is
  // not read. Every check (sizes, NaN or Inf anywhere: the push is rejected
  // whole, epoch, ranges, clocks, de-duplication) passes before any value
  // changes. *duplicate is set when (worker_id, seq) was applied before; an
  // empty worker_id skips de-duplication and clock tracking (allowed only
  // under ASP). Clocks are tracked only for jobs created with their worker
  // ids.
  absl::Status Push(const v1::PushRequest& request, const ValuePieces& values,
                    bool* duplicate);
  // The same with the values in request.values().
  absl::Status Push(const v1::PushRequest& request, bool* duplicate);

  std::vector<v1::TableStatus> Status() const;
  std::vector<v1::JobServerStats> JobStats() const;

 private:
  struct Table {
    int64_t size = 0;
    std::vector<std::unique_ptr<DenseShard>> shards;
  };
  struct JobTables {
    uint64_t epoch = 0;
    int64_t bytes = 0;
    int num_workers = 0;
    absl::flat_hash_map<std::string, Table> tables;
    PushDedup dedup;
    std::unique_ptr<JobClock> clock;
    std::unique_ptr<BspAccumulator> bsp;  // BSP only
    std::atomic<int64_t> pushes_applied{0};
    std::atomic<int64_t> pushes_rejected_nonfinite{0};
  };

  absl::StatusOr<std::shared_ptr<JobTables>> Find(const std::string& job_id,
                                                  uint64_t epoch) const;
  // Resolves every slice to its shard, checking all before any is used.
  absl::StatusOr<std::vector<DenseShard*>> Resolve(
      const JobTables& job,
      const google::protobuf::RepeatedPtrField<v1::DenseSlice>& slices,
      int64_t* total) const;
  static absl::StatusOr<std::shared_ptr<JobTables>> Build(
      const v1::CreateTablesRequest& request);
  static absl::Status ApplyPush(JobTables& job, const v1::PushRequest& request,
                                const std::vector<DenseShard*>& shards,
                                const ValuePieces& values);

  const TableStoreOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::shared_ptr<JobTables>> jobs_
      ABSL_GUARDED_BY(mu_);
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace ps::server

#endif  // PS_SERVER_TABLE_STORE_H_
