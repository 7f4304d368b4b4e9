#include "server/table_store.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/value_codec.h"
#include "server/group_snapshot.h"
#include "server/table_defs.h"
#include "server/wire_format.h"

namespace ps::server {
namespace {

constexpr int64_t kMaxPlannedBytes = std::numeric_limits<int64_t>::max() / 2;

// The bytes of the dense values of a valid request's ranges (at most 2^36
// values each), saturating at kMaxPlannedBytes whatever their number.
int64_t PlannedBytes(const v1::CreateTablesRequest& request) {
  int64_t planned = 0;
  for (const v1::DenseRange& r : request.ranges()) {
    const int64_t values = r.end() - r.begin();
    planned = values > (kMaxPlannedBytes - planned) / 4 ? kMaxPlannedBytes
                                                        : planned + values * 4;
  }
  return planned;
}

}  // namespace

int64_t GroupTables::SparseBytes() const {
  int64_t total = sparse_bsp ? sparse_bsp->bytes() : 0;
  for (const auto& [name, table] : tables) {
    if (table.sparse) total += table.sparse->bytes();
  }
  return total;
}

absl::StatusOr<std::shared_ptr<TableStore::JobTables>> TableStore::Build(
    const v1::CreateTablesRequest& request) {
  auto job = std::make_shared<JobTables>();
  job->job_id = request.job_id();
  job->job_key = request.job_key();
  job->group = request.group();
  job->epoch = request.epoch();
  job->role = request.role();
  job->ordered = request.role() != v1::PRIMARY || request.backups_size() > 0;
  {
    absl::MutexLock lock(&job->replicas_mu);
    job->backups.assign(request.backups().begin(), request.backups().end());
  }
  job->num_workers = request.worker_ids_size();
  job->clock = std::make_unique<JobClock>(
      request.consistency(), request.staleness(),
      std::vector<std::string>(request.worker_ids().begin(),
                               request.worker_ids().end()));
  job->owned =
      OwnedPartitions(request.sparse_partitions(), request.owned_partitions());
  absl::flat_hash_map<std::string, const v1::TableDef*> defs;
  std::vector<SparseShard*> sparse;
  for (const v1::TableDef& def : request.tables()) {
    defs[def.name()] = &def;
    Table& table = job->tables[def.name()];
    table.kind = def.kind();
    table.size = def.size();
    if (def.kind() != v1::SPARSE) continue;
    absl::StatusOr<std::unique_ptr<UpdateRule>> rule =
        MakeUpdateRule(def.optimizer());
    if (!rule.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", def.name(), ": ", rule.status().message()));
    }
    table.sparse =
        std::make_unique<SparseShard>(def, def.dim(), *std::move(rule));
    sparse.push_back(table.sparse.get());
  }
  for (const v1::DenseRange& r : request.ranges()) {
    const v1::TableDef& def = *defs[r.table()];
    absl::StatusOr<std::unique_ptr<UpdateRule>> rule =
        MakeUpdateRule(def.optimizer());
    if (!rule.ok()) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", r.table(), ": ", rule.status().message()));
    }
    auto shard =
        std::make_unique<DenseShard>(def, r.begin(), r.end(), *std::move(rule));
    job->bytes += shard->bytes();
    job->tables[r.table()].shards.push_back(std::move(shard));
  }
  if (job->clock->mode() == v1::BSP) {
    std::vector<DenseShard*> shards;
    for (auto& [name, table] : job->tables) {
      for (auto& shard : table.shards) shards.push_back(shard.get());
    }
    job->bsp = std::make_unique<BspAccumulator>(shards);
    job->bytes *= 2;  // the sums mirror the values
    if (!sparse.empty()) {
      job->sparse_bsp = std::make_unique<SparseBspAccumulator>(sparse);
    }
  }
  return job;
}

int64_t TableStore::HeldBytesLocked() const {
  int64_t total = bytes_;
  for (const auto& [id, job] : jobs_) total += job->SparseBytes();
  return total;
}

absl::Status TableStore::CreateTables(const v1::CreateTablesRequest& request) {
  if (absl::Status s = ValidateCreateTables(request); !s.ok()) return s;
  // A first estimate, so that a request over the cap is refused before
  // anything is allocated.
  const int64_t planned = PlannedBytes(request);
  const GroupKey key(request.job_id(), request.group());
  std::vector<std::shared_ptr<JobTables>> replaced;
  {
    absl::MutexLock lock(&mu_);
    auto it = jobs_.find(key);
    if (it != jobs_.end() && request.role() == v1::JOINING &&
        it->second->role.load() != v1::PRIMARY) {
      // A copy made again (an earlier one did not complete): start afresh.
      replaced = EraseLocked([&](const GroupKey& k) { return k == key; });
      it = jobs_.end();
    }
    if (it != jobs_.end()) {
      if (it->second->epoch == request.epoch()) return absl::OkStatus();
      return absl::AlreadyExistsError(absl::StrCat(
          "job ", request.job_id(), " already has group ", request.group(),
          " at epoch ", it->second->epoch.load(), "; drop it first"));
    }
    if (const int64_t held = HeldBytesLocked();
        held + planned > options_.max_bytes) {
      return absl::ResourceExhaustedError(absl::StrCat(
          "job ", request.job_id(), " needs ", planned, " bytes; server holds ",
          held, " of at most ", options_.max_bytes));
    }
  }
  Retire(replaced);
  absl::StatusOr<std::shared_ptr<JobTables>> job = Build(request);
  if (!job.ok()) return job.status();
  absl::MutexLock lock(&mu_);
  if (const int64_t held = HeldBytesLocked();
      held + (*job)->bytes > options_.max_bytes) {
    return absl::ResourceExhaustedError(absl::StrCat(
        "job ", request.job_id(), " needs ", (*job)->bytes,
        " bytes; server holds ", held, " of at most ", options_.max_bytes));
  }
  if (!jobs_.emplace(key, *job).second) {
    return absl::AlreadyExistsError(
        absl::StrCat("job ", request.job_id(), " was created concurrently"));
  }
  bytes_ += (*job)->bytes;
  return absl::OkStatus();
}

std::vector<std::shared_ptr<TableStore::JobTables>> TableStore::EraseLocked(
    absl::FunctionRef<bool(const GroupKey&)> drop) {
  std::vector<std::shared_ptr<JobTables>> erased;
  for (auto it = jobs_.begin(); it != jobs_.end();) {
    if (!drop(it->first)) {
      ++it;
      continue;
    }
    bytes_ -= it->second->bytes;
    it->second->clock->Close();
    erased.push_back(std::move(it->second));
    jobs_.erase(it++);
  }
  return erased;
}

void TableStore::Retire(const std::vector<std::shared_ptr<JobTables>>& groups) {
  // Pushes waiting in a group's order are answered (ABORTED) as it goes.
  for (const auto& job : groups) job->order.Reset(job->order.applied());
}

absl::Status TableStore::DropTables(const std::string& job_id) {
  std::vector<std::shared_ptr<JobTables>> dropped;
  {
    absl::MutexLock lock(&mu_);
    dropped = EraseLocked([&](const GroupKey& k) { return k.first == job_id; });
  }
  Retire(dropped);
  return absl::OkStatus();
}

absl::Status TableStore::SealJob(const std::string& job_id) {
  absl::MutexLock lock(&mu_);
  int sealed = 0;
  for (auto& [k, group] : jobs_) {
    if (k.first != job_id) continue;
    group->ended.store(true);
    ++sealed;
  }
  if (sealed == 0) {
    return absl::NotFoundError(absl::StrCat("no tables of job ", job_id));
  }
  return absl::OkStatus();
}

absl::Status TableStore::DropGroup(const std::string& job_id, int group) {
  std::vector<std::shared_ptr<JobTables>> dropped;
  {
    absl::MutexLock lock(&mu_);
    dropped = EraseLocked(
        [&](const GroupKey& k) { return k == GroupKey(job_id, group); });
  }
  Retire(dropped);
  return absl::OkStatus();
}

std::vector<std::string> TableStore::DropAll() {
  std::vector<std::shared_ptr<JobTables>> dropped;
  {
    absl::MutexLock lock(&mu_);
    dropped = EraseLocked([](const GroupKey&) { return true; });
  }
  Retire(dropped);
  std::vector<std::string> ids;
  for (const auto& job : dropped) {
    if (std::find(ids.begin(), ids.end(), job->job_id) == ids.end()) {
      ids.push_back(job->job_id);
    }
  }
  return ids;
}

absl::StatusOr<std::shared_ptr<TableStore::JobTables>> TableStore::Find(
    const std::string& job_id, int group, uint64_t epoch,
    bool any_role) const {
  std::shared_ptr<JobTables> job;
  {
    absl::ReaderMutexLock lock(&mu_);
    auto it = jobs_.find(GroupKey(job_id, group));
    if (it == jobs_.end()) {
      return absl::NotFoundError(absl::StrCat("job ", job_id, " has no group ",
                                              group, " on this server"));
    }
    job = it->second;
  }
  const uint64_t held = job->epoch.load();
  if (held != epoch) {
    return absl::FailedPreconditionError(absl::StrCat(
        "stale partition map: request epoch ", epoch, ", server epoch ", held,
        " for job ", job_id, " group ", group, "; refresh the map"));
  }
  if (job->fenced.load()) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job_id, " group ", group,
        ": this server was replaced as its primary; refresh the map"));
  }
  if (!any_role && job->role.load() != v1::PRIMARY) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job_id, " group ", group, " is a ",
        v1::ReplicaRole_Name(job->role.load()),
        " on this server, not its primary; refresh the map"));
  }
  return job;
}

absl::StatusOr<GroupHandle> TableStore::Group(const std::string& job_id,
                                              int group) const {
  absl::ReaderMutexLock lock(&mu_);
  auto it = jobs_.find(GroupKey(job_id, group));
  if (it == jobs_.end()) {
    return absl::NotFoundError(
        absl::StrCat("job ", job_id, " has no group ", group, " here"));
  }
  return GroupHandle(it->second);
}

absl::Status TableStore::SetReplicas(const v1::SetReplicasRequest& request,
                                     uint64_t* applied_op) {
  absl::StatusOr<GroupHandle> found = Group(request.job_id(), request.group());
  if (!found.ok()) return found.status();
  GroupTables& job = *found->job_;
  absl::MutexLock lock(&job.replicas_mu);
  const uint64_t held = job.epoch.load();
  if (request.epoch() < held) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", request.job_id(), " group ", request.group(),
                     " is at epoch ", held, "; SetReplicas for epoch ",
                     request.epoch(), " is stale"));
  }
  const v1::ReplicaRole was = job.role.load();
  job.backups.assign(request.backups().begin(), request.backups().end());
  job.joining.clear();
  if (request.role() == v1::PRIMARY && was != v1::PRIMARY) {
    // What waits out of order was never acknowledged: its primary is gone.
    job.order.Reset(job.order.applied());
  }
  job.role = request.role();
  job.fenced = false;
  job.epoch = request.epoch();
  *applied_op = job.order.applied();
  return absl::OkStatus();
}

namespace {

GroupParts PartsOf(GroupTables& job) {
  GroupParts parts;
  for (auto& [name, table] : job.tables) {
    for (auto& shard : table.shards) parts.dense.push_back({name, shard.get()});
    if (table.sparse) parts.sparse.push_back({name, table.sparse.get()});
  }
  parts.dedup = &job.dedup;
  parts.clock = job.clock.get();
  parts.bsp = job.bsp.get();
  parts.sparse_bsp = job.sparse_bsp.get();
  return parts;
}

}  // namespace

absl::Status TableStore::SnapshotGroupAt(const GroupHandle& group, uint64_t at,
                                         std::string* out, uint64_t* op,
                                         absl::Duration* pause) const {
  SealGroupSnapshot(StateAt(group, at, out, op, pause), out);
  return absl::OkStatus();
}

size_t TableStore::StateAt(const GroupHandle& group, uint64_t at,
                           std::string* out, uint64_t* op,
                           absl::Duration* pause) const {
  std::shared_ptr<JobTables> job = group.job_;
  absl::Notification written;
  size_t start = 0;
  group.order().AtBoundary(at, [&] {
    const absl::Time began = absl::Now();
    *op = job->order.applied();
    start = WriteGroupSnapshotState(PartsOf(*job), out);
    *pause = absl::Now() - began;
    written.Notify();
  });
  written.WaitForNotification();
  return start;
}

absl::Status TableStore::InstallSnapshot(const std::string& job_id, int group,
                                         uint64_t epoch, uint64_t op,
                                         absl::string_view bytes) {
  absl::StatusOr<std::shared_ptr<JobTables>> found =
      Find(job_id, group, epoch, /*any_role=*/true);
  if (!found.ok()) return found.status();
  JobTables& job = **found;
  if (job.role.load() != v1::JOINING) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job_id, " group ", group, " is ",
        v1::ReplicaRole_Name(job.role.load()), " here; a snapshot is "
        "installed only into a JOINING group"));
  }
  // The pushes forwarded since the snapshot wait in the order (numbered
  // after `op`), so nothing is applied while the state is replaced.
  if (absl::Status s = ReadGroupSnapshot(bytes, PartsOf(job)); !s.ok()) {
    return s;
  }
  job.order.Advance(op);
  return absl::OkStatus();
}

absl::Status TableStore::SnapshotGroup(const std::string& job_id, int group,
                                       std::string* out, uint64_t* op) const {
  size_t start = 0;
  absl::Status s = SnapshotGroupState(job_id, group, out, op, &start);
  if (s.ok()) SealGroupSnapshot(start, out);
  return s;
}

std::string TableStore::TakeCheckpointBuffer(const GroupHandle& group) const {
  absl::MutexLock lock(&group.job_->checkpoint_buffer_mu);
  return std::exchange(group.job_->checkpoint_buffer, std::string());
}

void TableStore::KeepCheckpointBuffer(const GroupHandle& group,
                                      std::string buffer) const {
  if (!options_.keep_checkpoint_buffers) return;
  buffer.clear();  // keeps the capacity
  absl::MutexLock lock(&group.job_->checkpoint_buffer_mu);
  group.job_->checkpoint_buffer = std::move(buffer);
}

absl::Status TableStore::SnapshotGroupState(const std::string& job_id,
                                            int group, std::string* out,
                                            uint64_t* op,
                                            size_t* start) const {
  absl::StatusOr<GroupHandle> found = Group(job_id, group);
  if (!found.ok()) return found.status();
  GroupTables& job = *found->job_;
  if (!job.ordered) {
    *op = job.order.applied();
    *start = WriteGroupSnapshotState(PartsOf(job), out);
    return absl::OkStatus();
  }
  absl::Duration pause;
  *start = StateAt(*found, job.order.applied(), out, op, &pause);
  return absl::OkStatus();
}

absl::Status TableStore::LoadGroup(const std::string& job_id, int group,
                                   uint64_t epoch, absl::string_view bytes) {
  absl::StatusOr<GroupHandle> found = NewGroup(job_id, group, epoch);
  if (!found.ok()) return found.status();
  return ReadGroupSnapshot(bytes, PartsOf(*found->job_));
}

absl::Status TableStore::LoadGroupFile(const std::string& job_id, int group,
                                       uint64_t epoch, int fd, uint64_t size,
                                       uint32_t file_crc32,
                                       const std::string& path) {
  absl::StatusOr<GroupHandle> found = NewGroup(job_id, group, epoch);
  if (!found.ok()) return found.status();
  return ReadGroupSnapshotFile(fd, size, file_crc32, path,
                               PartsOf(*found->job_));
}

absl::StatusOr<GroupHandle> TableStore::NewGroup(const std::string& job_id,
                                                 int group,
                                                 uint64_t epoch) const {
  absl::StatusOr<GroupHandle> found = Group(job_id, group);
  if (!found.ok()) return found.status();
  GroupTables& job = *found->job_;
  if (job.epoch.load() != epoch || job.pushes_applied.load() != 0 ||
      job.order.applied() != 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job_id, " group ", group, " is at epoch ", job.epoch.load(),
        " with ", job.pushes_applied.load(), " pushes applied; a checkpoint "
        "loads only into a new group at epoch ", epoch));
  }
  return found;
}

int64_t GroupHandle::StateBytes() const {
  return job_->bytes + job_->SparseBytes();
}

JobClock::State GroupHandle::ClockState() const {
  return job_->clock->Export();
}

const std::string& GroupHandle::job_id() const { return job_->job_id; }
const std::string& GroupHandle::job_key() const { return job_->job_key; }
bool GroupHandle::ended() const { return job_->ended.load(); }
int GroupHandle::group() const { return job_->group; }
uint64_t GroupHandle::epoch() const { return job_->epoch.load(); }
v1::ReplicaRole GroupHandle::role() const { return job_->role.load(); }
bool GroupHandle::ordered() const { return job_->ordered; }
OpOrder& GroupHandle::order() const { return job_->order; }
void GroupHandle::Fence() const { job_->fenced = true; }
bool GroupHandle::fenced() const { return job_->fenced.load(); }

std::vector<v1::ServerEndpoint> GroupHandle::backups() const {
  absl::MutexLock lock(&job_->replicas_mu);
  return job_->backups;
}

bool GroupHandle::HasBackup(const std::string& member_id) const {
  absl::MutexLock lock(&job_->replicas_mu);
  for (const v1::ServerEndpoint& b : job_->backups) {
    if (b.member_id() == member_id) return true;
  }
  return false;
}

void GroupHandle::AddBackup(const v1::ServerEndpoint& backup,
                            bool joining) const {
  absl::MutexLock lock(&job_->replicas_mu);
  job_->backups.push_back(backup);
  if (joining) job_->joining.push_back(backup.member_id());
}

bool GroupHandle::IsJoining(const std::string& member_id) const {
  absl::MutexLock lock(&job_->replicas_mu);
  return std::find(job_->joining.begin(), job_->joining.end(), member_id) !=
         job_->joining.end();
}

bool GroupHandle::FinishJoining(const std::string& member_id) const {
  absl::MutexLock lock(&job_->replicas_mu);
  auto& j = job_->joining;
  auto it = std::find(j.begin(), j.end(), member_id);
  if (it == j.end()) return false;
  j.erase(it);
  return true;
}

void GroupHandle::RemoveBackup(const std::string& member_id) const {
  absl::MutexLock lock(&job_->replicas_mu);
  auto& j = job_->joining;
  j.erase(std::remove(j.begin(), j.end(), member_id), j.end());
  auto& b = job_->backups;
  b.erase(std::remove_if(b.begin(), b.end(),
                         [&](const v1::ServerEndpoint& e) {
                           return e.member_id() == member_id;
                         }),
          b.end());
}

absl::StatusOr<int64_t> PullPlan::Await(absl::Time deadline) const {
  return clock_->AwaitPull(pull_clock_, deadline);
}

int64_t PullPlan::value_bytes() const {
  return values_ * FixedValueBytes(codec_);
}

void PullPlan::ReadEncoded(char* out) const {
  if (codec_ == v1::FLOAT32) {
    Read(out);
    return;
  }
  std::vector<float> values(values_);
  Read(reinterpret_cast<char*>(values.data()));
  std::string encoded;
  encoded.reserve(value_bytes());
  EncodeValues(codec_, CodecOptions(), values.data(), values_, &encoded);
  std::memcpy(out, encoded.data(), encoded.size());
}

void PullPlan::Read(char* out) const {
  for (const Slice& s : slices_) {
    s.shard->Read(s.offset, s.count, out);
    out += s.count * int64_t{sizeof(float)};
  }
  for (const SparseRows& s : sparse_) {
    s.shard->Read(absl::MakeConstSpan(keys_).subspan(s.first, s.count), out);
    out += s.count * s.shard->dim() * int64_t{sizeof(float)};
  }
}

void PullPlan::Share(std::vector<DenseShard::SharedValues>* out) const {
  for (const Slice& s : slices_) s.shard->Share(s.offset, s.count, out);
}

absl::StatusOr<PullPlan> TableStore::PlanPull(
    const v1::PullRequest& request) const {
  // The clock gate subtracts the staleness bound and the slowest worker's
  // clock from it: a negative clock is no step count, and near INT64_MIN
  // those subtractions overflow.
  if (request.clock() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("clock: ", request.clock(),
                     "; allowed: >= 0 (the steps the puller has finished)"));
  }
  absl::StatusOr<std::shared_ptr<JobTables>> job =
      Find(request.job_id(), request.group(), request.epoch());
  if (!job.ok()) return job.status();
  absl::StatusOr<Resolved> resolved =
      Resolve(**job, request.slices(), request.sparse(), request.keys());
  if (!resolved.ok()) return resolved.status();
  const int64_t values = resolved->dense_values + resolved->sparse_values;
  if (values * int64_t{sizeof(float)} > options_.max_pull_bytes) {
    return absl::InvalidArgumentError(absl::StrCat(
        "pull of ", resolved->dense_values, " dense values and ",
        resolved->sparse_values, " sparse row values would answer ",
        values * int64_t{sizeof(float)}, " bytes; allowed: at most ",
        options_.max_pull_bytes, " per pull (split it)"));
  }
  if (!resolved->keys.empty()) {
    if (absl::Status s = CheckRoom(request.job_id()); !s.ok()) return s;
  }
  if (FixedValueBytes(request.codec()) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("codec: ", CodecName(request.codec()),
                     "; allowed for pulls: FLOAT32, FLOAT16, BFLOAT16"));
  }
  PullPlan plan;
  plan.values_ = values;
  plan.codec_ = request.codec();
  plan.clock_ = (*job)->clock.get();
  plan.job_id_ = &(*job)->job_id;
  plan.job_key_ = &(*job)->job_key;
  plan.ended_ = &(*job)->ended;
  plan.pull_clock_ = request.clock();
  plan.slices_.reserve(resolved->dense.size());
  for (int i = 0; i < request.slices_size(); ++i) {
    const v1::DenseSlice& s = request.slices(i);
    plan.slices_.push_back({resolved->dense[i], s.offset(), s.count()});
  }
  plan.sparse_ = std::move(resolved->sparse);
  plan.keys_ = std::move(resolved->keys);
  plan.job_ = *std::move(job);
  return plan;
}

absl::Status TableStore::Pull(const v1::PullRequest& request,
                              absl::Time deadline,
                              v1::PullResponse* response) const {
  absl::StatusOr<PullPlan> plan = PlanPull(request);
  if (!plan.ok()) return plan.status();
  absl::StatusOr<int64_t> staleness = plan->Await(deadline);
  if (!staleness.ok()) return staleness.status();
  response->set_staleness(*staleness);
  std::string* values = response->mutable_values();
  values->resize(plan->value_bytes());
  plan->ReadEncoded(values->data());
  return absl::OkStatus();
}

absl::Status TableStore::Push(const v1::PushRequest& request, bool* duplicate) {
  std::vector<float> decoded;
  std::vector<absl::string_view> pieces;
  if (absl::Status s = PushValues(request, {request.values()}, &decoded,
                                  &pieces);
      !s.ok()) {
    return s;
  }
  return Push(request, ValuePieces(std::move(pieces)), duplicate);
}

absl::Status TableStore::Push(const v1::PushRequest& request,
                              const ValuePieces& values, bool* duplicate) {
  *duplicate = false;
  absl::StatusOr<PreparedPush> push =
      PreparePush(request, values, PushSource::kClient);
  if (!push.ok()) return push.status();
  return ApplyPrepared(*push, request, values, duplicate);
}

absl::StatusOr<PreparedPush> TableStore::PreparePush(
    const v1::PushRequest& request, const ValuePieces& values,
    PushSource source) const {
  const bool replica = source == PushSource::kPrimary;
  absl::StatusOr<std::shared_ptr<JobTables>> found = Find(
      request.job_id(), request.group(), request.epoch(), /*any_role=*/replica);
  if (!found.ok()) return found.status();
  JobTables& job = **found;
  if (replica && job.role.load() == v1::PRIMARY) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", request.job_id(), " group ", request.group(),
        " is PRIMARY on this server; a forwarded push comes from an old "
        "primary"));
  }
  absl::StatusOr<Resolved> resolved =
      Resolve(job, request.slices(), request.sparse(), request.keys());
  if (!resolved.ok()) return resolved.status();
  if (absl::Status s = CheckPushValues(job, request, *resolved, values);
      !s.ok()) {
    return s;
  }
  if (!replica && !resolved->keys.empty()) {
    if (absl::Status s = CheckRoom(request.job_id()); !s.ok()) return s;
  }
  if (request.worker_id().empty() && job.clock->mode() != v1::ASP) {
    return absl::InvalidArgumentError(
        "worker_id: empty; BSP and SSP pushes must name their worker");
  }
  PreparedPush push;
  push.group = GroupHandle(*found);
  push.resolved = std::make_shared<const Resolved>(*std::move(resolved));
  return push;
}

absl::Status TableStore::ApplyPrepared(const PreparedPush& push,
                                       const v1::PushRequest& request,
                                       const ValuePieces& values,
                                       bool* duplicate) {
  *duplicate = false;
  JobTables& job = *push.group.job_;
  const Resolved& resolved = *static_cast<const Resolved*>(push.resolved.get());
  if (!request.worker_id().empty()) {
    // A retry of an applied push is a duplicate whatever its clock: the
    // clock it was for may have closed since (the first answer was lost).
    if (job.dedup.Recorded(request.worker_id(), request.seq())) {
      *duplicate = true;
      return absl::OkStatus();
    }
    if (job.num_workers > 0) {
      absl::Status s = job.clock->CheckPush(
          request.worker_id(), request.clock(), request.clock_pushes());
      if (!s.ok()) return s;
    }
    // Concurrent copies of one push all pass the checks above; one records.
    if (!job.dedup.FirstTime(request.worker_id(), request.seq())) {
      *duplicate = true;
      return absl::OkStatus();
    }
  }
  return ApplyPush(job, request, resolved, values);
}

absl::Status TableStore::ApplyPush(JobTables& job,
                                   const v1::PushRequest& request,
                                   const Resolved& resolved,
                                   const ValuePieces& values) {
  int64_t first = 0;  // of the slice's values in `values`
  for (int i = 0; i < request.slices_size(); ++i) {
    const v1::DenseSlice& s = request.slices(i);
    DenseShard* shard = resolved.dense[i];
    if (job.bsp) {
      values.ForEachRun(first, s.count(),
                        [&](int64_t at, const float* grad, int64_t n) {
                          job.bsp->Add(shard, s.offset() + at, n, grad);
                        });
    } else {
      shard->Apply(s.offset(), s.count(), values, first);
    }
    first += s.count();
  }
  for (const PullPlan::SparseRows& rows : resolved.sparse) {
    const auto keys =
        absl::MakeConstSpan(resolved.keys).subspan(rows.first, rows.count);
    if (job.sparse_bsp) {
      job.sparse_bsp->Add(rows.shard, keys, values, first);
    } else {
      rows.shard->Apply(keys, values, first);
    }
    first += rows.count * rows.shard->dim();
  }
  ++job.pushes_applied;
  // Jobs created without their workers (tools, benchmarks) track no clocks.
  if (request.worker_id().empty() || job.num_workers == 0)
    return absl::OkStatus();
  bool all_finished = false;
  absl::Status s = job.clock->RecordPush(request.worker_id(), request.clock(),
                                         request.clock_pushes(), &all_finished);
  if (s.ok() && all_finished && job.bsp) {
    const float mean = 1.0f / job.num_workers;
    job.bsp->ApplyAndReset(mean);
    if (job.sparse_bsp) job.sparse_bsp->ApplyAndReset(mean);
    job.clock->Published(request.clock() + 1);
  }
  return s;
}

absl::Status TableStore::ScanRows(
    const std::string& job_id, int group, uint64_t epoch,
    const std::string& table,
    int64_t block_bytes,
    absl::FunctionRef<bool(absl::Span<const uint64_t>, const float*, int)> fn)
    const {
  absl::StatusOr<std::shared_ptr<JobTables>> job = Find(job_id, group, epoch);
  if (!job.ok()) return job.status();
  auto it = (*job)->tables.find(table);
  if (it == (*job)->tables.end()) {
    return absl::NotFoundError(absl::StrCat("unknown table ", table));
  }
  if (it->second.kind != v1::SPARSE) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", table,
                     " is DENSE; ScanRows lists the rows of a SPARSE "
                     "table (pull a dense one)"));
  }
  const SparseShard& shard = *it->second.sparse;
  const int64_t row_bytes = int64_t{8} + shard.dim() * int64_t{sizeof(float)};
  shard.Scan(block_bytes / row_bytes,
             [&](absl::Span<const uint64_t> keys, const float* rows) {
               return fn(keys, rows, shard.dim());
             });
  return absl::OkStatus();
}

std::vector<v1::JobServerStats> TableStore::JobStats() const {
  std::vector<v1::JobServerStats> out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [key, job] : jobs_) {
    v1::JobServerStats& s = out.emplace_back();
    s.set_job_id(key.first);
    s.set_group(key.second);
    s.set_role(job->role.load());
    s.set_epoch(job->epoch.load());
    s.set_applied_op(job->order.applied());
    s.set_fenced(job->fenced.load());
    s.set_pushes_applied(job->pushes_applied.load());
    s.set_pushes_rejected_nonfinite(job->pushes_rejected_nonfinite.load());
    PullStats pulls = job->clock->stats();
    s.set_pulls(pulls.pulls);
    s.set_pulls_waited(pulls.waited);
    s.set_max_staleness(pulls.max_staleness);
    if (pulls.pulls > 0) {
      s.set_mean_staleness(static_cast<double>(pulls.staleness_sum) /
                           pulls.pulls);
    }
  }
  return out;
}

void TableStore::AddStatus(const std::string& job_id, const std::string& name,
                           const Table& table, v1::TableStatus* out) {
  out->set_job_id(job_id);
  out->set_table(name);
  out->set_kind(table.kind);
  if (table.sparse) {
    const SparseShard& shard = *table.sparse;
    const int64_t rows = shard.rows();
    out->set_rows(rows);
    out->set_values(rows * shard.dim());
    out->set_bytes(shard.bytes());
    out->set_raw_bytes(shard.raw_bytes());
    return;
  }
  // A dense shard holds its values and state planes and nothing else, so
  // its bytes are its raw bytes.
  for (const auto& shard : table.shards) {
    out->set_values(out->values() + shard->end() - shard->begin());
    out->set_bytes(out->bytes() + shard->bytes());
  }
  out->set_raw_bytes(out->bytes());
}

std::vector<v1::TableStatus> TableStore::Status() const {
  std::vector<v1::TableStatus> out;
  absl::ReaderMutexLock lock(&mu_);
  for (const auto& [key, job] : jobs_) {
    for (const auto& [name, table] : job->tables) {
      v1::TableStatus& t = out.emplace_back();
      AddStatus(key.first, name, table, &t);
      t.set_group(key.second);
    }
  }
  return out;
}

}  // namespace ps::server
