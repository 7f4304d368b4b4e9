// All tables this server holds, for every job, and the data-plane operations
// on them. Knows nothing of gRPC: takes proto messages, byte pieces and
// buffers, returns absl::Status, so it is tested directly.
//
// A DENSE table is held as the ranges this server owns (DenseShard); a
// SPARSE table as one SparseShard holding the rows of whichever keys of the
// job's owned virtual partitions arrive. One request may carry dense slices
// and sparse slices together; its values are the dense slices' values in
// order, then each sparse slice's rows (keys x dim) in key order.
//
// Values are copied at most once on the server: a push is applied straight
// from the pieces its request arrived in (ValuePieces); a pull either takes
// references to the shards' values (PullPlan::Share, copy on write) or
// writes them straight into the caller's buffer (PullPlan::Read), which the
// caller sizes first; server/pull_answer.h picks.
//
// Thread-safe. Locking: the job map has its own lock, held only to find a
// job; each shard locks in stripes, each with its own lock, and a call holds
// only the stripes its values fall in (dense_shard.h, sparse_shard.h); a
// job's clock and BSP sums have their own locks. No lock spans tables.
//
// Error contract (every failing call leaves stored values unchanged and
// creates no sparse row):
//   NOT_FOUND            unknown job or table
//   FAILED_PRECONDITION  epoch differs from the server's, or the slice is in
//                        the table but not on this server, or a sparse key
//                        is in a partition this server does not own:
//                        refresh the map
//   OUT_OF_RANGE         slice outside the table
//   INVALID_ARGUMENT     malformed request (sizes, empty ids, bad defs, a
//                        slice of the wrong kind of table, a key repeated
//                        in a push slice, value bytes that do not match the
//                        slices' values and rows, NaN or Inf in a push, a
//                        pull answering more than max_pull_bytes)
//   ALREADY_EXISTS       CreateTables for a job with tables at another epoch
//   RESOURCE_EXHAUSTED   the tables would exceed Options::max_bytes, or a
//                        request with sparse keys arrives while the server
//                        already holds more than max_bytes
//   DEADLINE_EXCEEDED    a BSP/SSP pull waited past its deadline (names the
//                        slow workers)
//   ABORTED              the job's tables were dropped while a pull waited
//
// Consistency (see job_clock.h): pushes name their worker and clock; under
// BSP they are summed (dense values by index, sparse rows by key) and the
// mean is applied once per clock, under ASP and SSP applied as they arrive;
// pulls wait as the model requires. A push with no slices at all only
// advances its worker's clock (clients send one to every server they have
// nothing for, so that each server sees every worker's clocks).
#ifndef PS_SERVER_TABLE_STORE_H_
#define PS_SERVER_TABLE_STORE_H_

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/bsp_accumulator.h"
#include "server/dense_shard.h"
#include "server/job_clock.h"
#include "server/op_order.h"
#include "server/push_dedup.h"
#include "server/sparse_bsp.h"
#include "server/sparse_keys.h"
#include "server/sparse_shard.h"
#include "server/value_pieces.h"

namespace ps::server {

struct TableStoreOptions {
  // Upper bound on bytes of values plus optimizer state over all jobs:
  // dense tables (with BSP's sums) as created, plus sparse tables as they
  // grow (SparseShard::bytes(), with the open BSP clock's sparse sums).
  // CreateTables beyond it fails with RESOURCE_EXHAUSTED, and so does any
  // request with sparse keys while the server already holds more. Sparse
  // tables grow inside requests, so each request that passed the check may
  // overshoot by the rows it creates: for a pull at most max_pull_bytes of
  // values, for a push the rows its values cover (a message is at most 256
  // MiB), each times 1 + the optimizer's state planes, plus the shard's
  // overhead (sparse_shard.h).
  int64_t max_bytes = int64_t{16} << 30;
  // Most value bytes one pull answers (dense values and sparse rows): a
  // larger pull is INVALID_ARGUMENT before any row is read or created. The
  // default leaves room for framing under the RPC layer's message limit
  // (kMaxMessageBytes, common/rpc.h, 256 MiB).
  int64_t max_pull_bytes = (int64_t{256} << 20) - 1024;
  // A group keeps its checkpoint snapshot buffer between checkpoints
  // (TableStore::KeepCheckpointBuffer): memory the size of the group's
  // state, held from its first checkpoint until its tables are dropped.
  bool keep_checkpoint_buffers = true;
};

// A pull checked against the job's tables (TableStore::PlanPull): what it
// reads, and the job clock it waits on. Keeps the job's tables alive even if
// they are dropped meanwhile (Await then answers ABORTED). Movable; const
// methods are thread-safe.
class PullPlan {
 public:
  // Floats the pull reads: its dense slices' counts plus its sparse slices'
  // keys x dim, summed.
  int64_t values() const { return values_; }
  // How the answer's values are encoded (PullRequest.codec: FLOAT32,
  // FLOAT16 or BFLOAT16), and the bytes they take so.
  v1::ValueCodec codec() const { return codec_; }
  int64_t value_bytes() const;

  // Waits (until `deadline` at most) until the job's consistency model lets
  // the pull read, then records it in the job's stats and returns its
  // staleness. DEADLINE_EXCEEDED names the workers it waited for; a
  // deadline in the past checks without waiting (DEADLINE_EXCEEDED: the pull
  // would have to wait; nothing is recorded). ABORTED: the job's tables
  // were dropped.
  absl::StatusOr<int64_t> Await(absl::Time deadline) const;

  // Copies the dense slices' values, then each sparse slice's rows in key
  // order, as float32 LE, to out[0, values() * 4); `out` need not be
  // aligned. Creates the missing rows of the sparse slices' keys. Call
  // after Await.
  void Read(char* out) const;
  // Read, encoded as codec() says, to out[0, value_bytes()).
  void ReadEncoded(char* out) const;

  // Whether Share can answer the pull: it has no sparse slices.
  bool dense_only() const { return sparse_.empty(); }
  int64_t dense_slices() const { return static_cast<int64_t>(slices_.size()); }
  // The dense slices' values without copying them (DenseShard::Share), in
  // slice order: what Read would write. Call after Await, when
  // dense_only().
  void Share(std::vector<DenseShard::SharedValues>* out) const;

  // The job's id, and its token key (CreateTablesRequest.job_key; empty:
  // none).
  const std::string& job_id() const { return *job_id_; }
  const std::string& job_key() const { return *job_key_; }
  bool ended() const { return ended_->load(); }

 private:
  friend class TableStore;
  struct Slice {
    const DenseShard* shard;
    int64_t offset, count;
  };
  // Keys [first, first + count) of keys_ in `shard`.
  struct SparseRows {
    SparseShard* shard;
    int64_t first, count;
  };
  std::shared_ptr<const void> job_;  // owns the shards and the clock
  const std::string* job_id_ = nullptr;   // in *job_
  const std::string* job_key_ = nullptr;     // in *job_
  const std::atomic<bool>* ended_ = nullptr;  // in *job_
  JobClock* clock_ = nullptr;
  int64_t pull_clock_ = 0;  // the puller's clock
  std::vector<Slice> slices_;
  std::vector<SparseRows> sparse_;
  std::vector<uint64_t> keys_;  // the request's keys, decoded
  int64_t values_ = 0;
  v1::ValueCodec codec_ = v1::FLOAT32;
};

// A table of a group: DENSE as the ranges this server owns, SPARSE as
// the rows of the group's partitions.
struct StoredTable {
  v1::TableKind kind = v1::DENSE;
  int64_t size = 0;  // DENSE: values in the whole table
  std::vector<std::unique_ptr<DenseShard>> shards;  // DENSE: ranges here
  std::unique_ptr<SparseShard> sparse;              // SPARSE: rows here
};
struct GroupTables {
  std::string job_id;
  std::string job_key;  // CreateTablesRequest.job_key: checks its tokens
  std::atomic<bool> ended{false};  // TableStore::SealJob
  int group = 0;
  std::atomic<uint64_t> epoch{0};
  std::atomic<v1::ReplicaRole> role{v1::PRIMARY};
  std::atomic<bool> fenced{false};
  bool ordered = false;
  OpOrder order;
  mutable absl::Mutex replicas_mu;
  std::vector<v1::ServerEndpoint> backups ABSL_GUARDED_BY(replicas_mu);
  std::vector<std::string> joining ABSL_GUARDED_BY(replicas_mu);
  int64_t bytes = 0;  // dense shards and BSP's dense sums; fixed
  int num_workers = 0;
  absl::flat_hash_map<std::string, StoredTable> tables;
  OwnedPartitions owned;
  PushDedup dedup;
  std::unique_ptr<JobClock> clock;
  std::unique_ptr<BspAccumulator> bsp;               // BSP only
  std::unique_ptr<SparseBspAccumulator> sparse_bsp;  // BSP with SPARSE only
  std::atomic<int64_t> pushes_applied{0};
  std::atomic<int64_t> pushes_rejected_nonfinite{0};
  // TableStore::KeepCheckpointBuffer's.
  absl::Mutex checkpoint_buffer_mu;
  std::string checkpoint_buffer ABSL_GUARDED_BY(checkpoint_buffer_mu);

  // Bytes of the sparse tables and BSP's sparse sums now; cheap.
  int64_t SparseBytes() const;
};

// One replica group of a job on this server (CreateTablesRequest.group):
// its place in the group and the order of its pushes. Keeps the group's
// tables alive. Copyable; thread-safe.
class GroupHandle {
 public:
  GroupHandle() = default;
  const std::string& job_id() const;
  // The job's token key (CreateTablesRequest.job_key); empty: none.
  const std::string& job_key() const;
  // The job has ended; its tables are kept for readers (SealJob).
  bool ended() const;
  int group() const;
  uint64_t epoch() const;
  v1::ReplicaRole role() const;
  // The backups this group's primary forwards every push to, now.
  std::vector<v1::ServerEndpoint> backups() const;
  bool HasBackup(const std::string& member_id) const;
  // Whether pushes go through order() and are forwarded: a group created
  // with backups, or as a backup; a lone primary (the job keeps one copy)
  // applies pushes as they come, concurrently.
  bool ordered() const;
  OpOrder& order() const;
  // A backup told this primary it is behind the coordinator: it answers
  // nothing of the group until the coordinator says otherwise.
  void Fence() const;
  bool fenced() const;
  // Adds a backup: it receives every push forwarded from now on (call it
  // inside order().Boundary to make that a point in the order). A joining
  // one (a copy in progress) is dropped at its first failure rather than
  // waited for.
  void AddBackup(const v1::ServerEndpoint& backup, bool joining) const;
  bool IsJoining(const std::string& member_id) const;
  // The copy to a joining backup is installed: from now on it is waited
  // for like any backup (it must not miss a push: the coordinator is about
  // to count it as a replica). False when it is no longer joining (a
  // forward to it failed and dropped it, or SetReplicas replaced the
  // backups): the copy failed.
  bool FinishJoining(const std::string& member_id) const;
  void RemoveBackup(const std::string& member_id) const;
  // Every worker's clocks on this group now (JobClock::Export).
  JobClock::State ClockState() const;
  // Bytes of the group's tables and sums now: about its snapshot's size.
  int64_t StateBytes() const;
  explicit operator bool() const { return job_ != nullptr; }

 private:
  friend class TableStore;
  explicit GroupHandle(std::shared_ptr<GroupTables> job)
      : job_(std::move(job)) {}
  std::shared_ptr<GroupTables> job_;
};

// A push checked against its group, ready to be applied (in order, when
// the group is ordered).
struct PreparedPush {
  GroupHandle group;
  std::shared_ptr<const void> resolved;  // TableStore's, opaque
};

class TableStore {
 public:
  explicit TableStore(TableStoreOptions options = {}) : options_(options) {}

  // Creates the job's tables: the dense ranges this server owns, and for
  // each SPARSE table one SparseShard, empty, that will hold the rows of
  // whichever keys of owned_partitions arrive. INVALID_ARGUMENT as
  // ValidateCreateTables (table_defs.h) says. Idempotent for a repeated
  // request at the same epoch.
  absl::Status CreateTables(const v1::CreateTablesRequest& request);
  // Drops every table of the job (all its groups). Unknown job: OK
  // (idempotent).
  absl::Status DropTables(const std::string& job_id);
  // Drops one group of the job; OK when there is none.
  absl::Status DropGroup(const std::string& job_id, int group);
  // Marks every group of the job here ended (its tables kept for readers):
  // from then on only readers' tokens work on them. NOT_FOUND when none is
  // here.
  absl::Status SealJob(const std::string& job_id);
  // Drops every table of every job; the job ids that had tables.
  std::vector<std::string> DropAll();

  // The coordinator's new epoch and roles for a group (SetReplicas).
  // NOT_FOUND: no such group; FAILED_PRECONDITION: an older epoch than the
  // group's. A backup made primary forgets the pushes waiting out of order.
  // *applied_op gets the group's last applied push.
  absl::Status SetReplicas(const v1::SetReplicasRequest& request,
                           uint64_t* applied_op);
  // The group's whole state (server/group_snapshot.h) into *out, taken
  // between two of its pushes (an ordered group's; a lone primary's
  // concurrent pushes are not held off), and the last push it holds.
  // NOT_FOUND: no such group.
  absl::Status SnapshotGroup(const std::string& job_id, int group,
                             std::string* out, uint64_t* op) const;
  // SnapshotGroup without the checksum trailer, which the caller adds with
  // SealGroupSnapshot(*start, out) once it no longer holds the group's
  // pushes itself (a checkpoint's cut).
  absl::Status SnapshotGroupState(const std::string& job_id, int group,
                                  std::string* out, uint64_t* op,
                                  size_t* start) const;
  // The buffer the group's last checkpoint left (empty: none), and the
  // buffer a checkpoint is done with, kept with the group until its next
  // one when TableStoreOptions::keep_checkpoint_buffers (else freed). A
  // kept buffer's pages stay mapped: on a VM where a page fault costs tens
  // of microseconds, mapping 536 MB anew took 0.07-0.9 s a checkpoint.
  std::string TakeCheckpointBuffer(const GroupHandle& group) const;
  void KeepCheckpointBuffer(const GroupHandle& group, std::string buffer) const;
  // The same for an ordered group, between op `at` and the next one (or,
  // with `at` passed already, between the next two), and how long the
  // group's pushes waited for it (the checksum is computed after they
  // may go on).
  absl::Status SnapshotGroupAt(const GroupHandle& group, uint64_t at,
                               std::string* out, uint64_t* op,
                               absl::Duration* pause) const;
  // Replaces a JOINING group's state with a snapshot of its primary's taken
  // at op `op` (epoch must match), then applies the pushes forwarded
  // since. INVALID_ARGUMENT / DATA_LOSS as ReadGroupSnapshot;
  // FAILED_PRECONDITION: not JOINING, or another epoch.
  absl::Status InstallSnapshot(const std::string& job_id, int group,
                               uint64_t epoch, uint64_t op,
                               absl::string_view bytes);
  // Replaces the state of a group that has applied nothing yet (a resumed
  // job's, before its workers start) with a checkpoint's snapshot. NOT_FOUND:
  // no such group; FAILED_PRECONDITION: another epoch, or pushes applied;
  // INVALID_ARGUMENT / DATA_LOSS as ReadGroupSnapshot (nothing changed).
  absl::Status LoadGroup(const std::string& job_id, int group, uint64_t epoch,
                         absl::string_view bytes);
  // LoadGroup from the checkpoint's file itself (ReadGroupSnapshotFile:
  // `fd` open on the regular file `path` of `size` bytes, its CRC-32
  // `file_crc32`), the dense state read straight into the group.
  absl::Status LoadGroupFile(const std::string& job_id, int group,
                             uint64_t epoch, int fd, uint64_t size,
                             uint32_t file_crc32, const std::string& path);
  // The group, whatever its epoch and role; NOT_FOUND if none.
  absl::StatusOr<GroupHandle> Group(const std::string& job_id,
                                    int group) const;

  // Where a push comes from: a client (the group must be PRIMARY here at
  // the request's epoch) or the group's primary (Replicate: BACKUP or
  // JOINING at that epoch; no memory check, the primary made it).
  enum class PushSource { kClient, kPrimary };
  // Every check of Push that does not depend on the order of pushes
  // (epoch, role, slices, values, memory); nothing is changed.
  absl::StatusOr<PreparedPush> PreparePush(const v1::PushRequest& request,
                                           const ValuePieces& values,
                                           PushSource source) const;
  // The rest of Push for a prepared one: de-duplication, clocks, applying.
  absl::Status ApplyPrepared(const PreparedPush& push,
                             const v1::PushRequest& request,
                             const ValuePieces& values, bool* duplicate);

  // The first step of a pull: resolves its dense and sparse slices and
  // checks its keys (NOT_FOUND, FAILED_PRECONDITION, OUT_OF_RANGE,
  // INVALID_ARGUMENT, RESOURCE_EXHAUSTED as above; INVALID_ARGUMENT for a
  // negative clock too); creates nothing. The caller then awaits the plan
  // and reads it into a buffer of plan.values() floats. Keys may repeat:
  // each occurrence gets the row.
  absl::StatusOr<PullPlan> PlanPull(const v1::PullRequest& request) const;
  // All of a pull in one call: waits as the job's consistency model
  // requires (until `deadline` at most), then fills response->values with
  // the requested slices, concatenated as float32 LE, and
  // response->staleness.
  absl::Status Pull(const v1::PullRequest& request, absl::Time deadline,
                    v1::PullResponse* response) const;

  // Applies (or, under BSP, accumulates) the gradients `values`, the
  // request's float32 LE values: the dense slices' values in slice order,
  // then each sparse slice's rows in key order; request.values() itself is
  // not read. Every check (sizes, kinds, key counts and ownership, a key
  // repeated within a sparse slice, NaN or Inf anywhere: the push is
  // rejected whole, epoch, ranges, clocks, memory, de-duplication) passes
  // before any value changes or any row is created. *duplicate is set when
  // (worker_id, seq) was applied before; an empty worker_id skips
  // de-duplication and clock tracking (allowed only under ASP). Clocks are
  // tracked only for jobs created with their worker ids.
  absl::Status Push(const v1::PushRequest& request, const ValuePieces& values,
                    bool* duplicate);
  // The same with the values in request.values().
  absl::Status Push(const v1::PushRequest& request, bool* duplicate);

  // Every row this server holds of sparse table `table` of the job, in
  // blocks of about block_bytes of keys and values (at least one row; see
  // SparseShard::Scan; stops early when fn returns false). NOT_FOUND:
  // unknown job or table; INVALID_ARGUMENT: a DENSE table;
  // FAILED_PRECONDITION: another epoch.
  absl::Status ScanRows(const std::string& job_id, int group, uint64_t epoch,
                        const std::string& table, int64_t block_bytes,
                        absl::FunctionRef<bool(absl::Span<const uint64_t> keys,
                                               const float* rows, int dim)>
                            fn) const;

  std::vector<v1::TableStatus> Status() const;
  std::vector<v1::JobServerStats> JobStats() const;

 private:
  using Table = StoredTable;
  using JobTables = GroupTables;
  // A request's slices resolved against its job, every check passed.
  struct Resolved {
    std::vector<DenseShard*> dense;  // by dense slice
    int64_t dense_values = 0;
    std::vector<PullPlan::SparseRows> sparse;  // by sparse slice
    std::vector<uint64_t> keys;
    int64_t sparse_values = 0;
  };

  // The group, if it is at `epoch` and has applied nothing (the groups a
  // checkpoint loads into); FAILED_PRECONDITION otherwise.
  absl::StatusOr<GroupHandle> NewGroup(const std::string& job_id, int group,
                                       uint64_t epoch) const;

  using GroupKey = std::pair<std::string, int>;
  // The group's state without its trailer (WriteGroupSnapshotState), taken
  // between op `at` and the next as SnapshotGroupAt; returns where it
  // starts in *out.
  size_t StateAt(const GroupHandle& group, uint64_t at, std::string* out,
                 uint64_t* op, absl::Duration* pause) const;
  // The group at `epoch`, which must be PRIMARY here unless `any_role`.
  absl::StatusOr<std::shared_ptr<JobTables>> Find(const std::string& job_id,
                                                  int group, uint64_t epoch,
                                                  bool any_role = false) const;
  // Resolves every dense slice to its shard and every sparse slice to its
  // table's shard and keys, checking all before any is used.
  absl::StatusOr<Resolved> Resolve(
      const JobTables& job,
      const google::protobuf::RepeatedPtrField<v1::DenseSlice>& slices,
      const google::protobuf::RepeatedPtrField<v1::SparseSlice>& sparse,
      absl::string_view key_bytes) const;
  // The table `name` of `job` if it is of kind `kind`: NOT_FOUND when there
  // is none, INVALID_ARGUMENT "table <name> <wrong_kind>" when it is of the
  // other kind.
  static absl::StatusOr<const Table*> TableOfKind(const JobTables& job,
                                                  const std::string& name,
                                                  v1::TableKind kind,
                                                  absl::string_view wrong_kind);
  absl::Status ResolveDense(
      const JobTables& job,
      const google::protobuf::RepeatedPtrField<v1::DenseSlice>& slices,
      Resolved* out) const;
  absl::Status ResolveSparse(
      const JobTables& job,
      const google::protobuf::RepeatedPtrField<v1::SparseSlice>& slices,
      absl::string_view key_bytes, Resolved* out) const;
  // Checks a push's values against its resolved slices: byte count, keys
  // distinct per sparse slice, all finite.
  static absl::Status CheckPushValues(JobTables& job,
                                      const v1::PushRequest& request,
                                      const Resolved& resolved,
                                      const ValuePieces& values);
  // RESOURCE_EXHAUSTED when the server already holds more than max_bytes:
  // the check before a request that may create sparse rows.
  absl::Status CheckRoom(const std::string& job_id) const;
  // Bytes held over all jobs.
  int64_t HeldBytesLocked() const ABSL_SHARED_LOCKS_REQUIRED(mu_);
  // Removes the groups `drop` picks: their bytes no longer count and their
  // clocks close. Retire them once mu_ is released.
  std::vector<std::shared_ptr<JobTables>> EraseLocked(
      absl::FunctionRef<bool(const GroupKey&)> drop)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Answers (ABORTED) the pushes waiting in the erased groups' orders.
  static void Retire(const std::vector<std::shared_ptr<JobTables>>& groups);
  // The job's tables for a request ValidateCreateTables accepted.
  static absl::StatusOr<std::shared_ptr<JobTables>> Build(
      const v1::CreateTablesRequest& request);
  static absl::Status ApplyPush(JobTables& job, const v1::PushRequest& request,
                                const Resolved& resolved,
                                const ValuePieces& values);
  static void AddStatus(const std::string& job_id, const std::string& name,
                        const Table& table, v1::TableStatus* out);

  const TableStoreOptions options_;
  mutable absl::Mutex mu_;
  absl::flat_hash_map<GroupKey, std::shared_ptr<JobTables>> jobs_
      ABSL_GUARDED_BY(mu_);
  int64_t bytes_ ABSL_GUARDED_BY(mu_) = 0;  // JobTables::bytes summed
};

}  // namespace ps::server

#endif  // PS_SERVER_TABLE_STORE_H_
