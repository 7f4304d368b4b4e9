// PsService's checkpoint calls: writing a group's state at a cut, loading a
// resumed job's group from checkpoint files (ps_service.h).
#include <filesystem>
#include <string>
#include <vector>

#include "absl/cleanup/cleanup.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/status.h"
#include "server/checkpoint_file.h"
#include "server/group_snapshot.h"
#include "server/group_snapshot_format.h"
#include "server/ps_service.h"
#include "server/repartition.h"

namespace ps::server {
namespace {

// The ranks that have not finished `clock` steps, for a timeout's message.
std::string Behind(const JobClock::State& state, int64_t clock) {
  std::vector<std::string> behind;
  for (const JobClock::WorkerState& w : state.workers) {
    if (w.finished < clock) {
      behind.push_back(absl::StrCat("rank ", w.rank, " (", w.id, ") at ",
                                    w.finished));
    }
  }
  return absl::StrJoin(behind, ", ");
}

// The first rank past `clock`, or "".
std::string Past(const JobClock::State& state, int64_t clock) {
  for (const JobClock::WorkerState& w : state.workers) {
    if (w.finished > clock || (w.finished == clock && w.received > 0)) {
      return absl::StrCat("rank ", w.rank, " (", w.id, ") has finished ",
                          w.finished, " steps");
    }
  }
  return "";
}

absl::Status PastTheCut(const GroupHandle& group, int64_t clock,
                        const std::string& past) {
  return absl::FailedPreconditionError(absl::StrCat(
      "job ", group.job_id(), " group ", group.group(), ": ", past,
      ", past the checkpoint's cut at ", clock, "; ask at a later step"));
}

}  // namespace

absl::Status PsService::AwaitCut(const GroupHandle& group, int64_t at_clock,
                                 absl::Time deadline) const {
  while (true) {
    const JobClock::State state = group.ClockState();
    if (std::string past = Past(state, at_clock); !past.empty()) {
      return PastTheCut(group, at_clock, past);
    }
    const std::string behind = Behind(state, at_clock);
    if (behind.empty()) return absl::OkStatus();
    if (absl::Now() >= deadline) {
      return absl::DeadlineExceededError(absl::StrCat(
          "job ", group.job_id(), " group ", group.group(),
          ": the checkpoint's cut at step ", at_clock,
          " was not reached in time; behind: ", behind));
    }
    absl::SleepFor(absl::Microseconds(500));
  }
}

grpc::Status PsService::WriteCheckpoint(
    grpc::ServerContext* ctx, const v1::WriteCheckpointRequest* request,
    v1::WriteCheckpointResponse* response) {
  const ScopedLogJob log_job(request->job_id());
  const absl::Time start = absl::Now();
  absl::StatusOr<GroupHandle> group =
      store_->Group(request->job_id(), request->group());
  if (!group.ok()) return ToGrpcStatus(group.status());
  if (group->role() != v1::PRIMARY || group->epoch() != request->epoch()) {
    return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
        "job ", request->job_id(), " group ", request->group(), " is ",
        v1::ReplicaRole_Name(group->role()), " at epoch ", group->epoch(),
        " here; a checkpoint is written by the PRIMARY at epoch ",
        request->epoch())));
  }
  if (request->path().empty() || request->path()[0] != '/') {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "path: '", request->path(), "'; allowed: an absolute file path")));
  }
  // The snapshot's memory is touched now, before the cut: a first touch of
  // each page costs far more than the copy into it (a page fault; on some
  // virtual machines tens of microseconds), and would lengthen the pause.
  // The group's last checkpoint left its buffer, mapped, unless told not
  // to (TableStoreOptions::keep_checkpoint_buffers); it is kept again.
  std::string bytes = store_->TakeCheckpointBuffer(*group);
  absl::Cleanup keep = [&] {
    store_->KeepCheckpointBuffer(*group, std::move(bytes));
  };
  const size_t need =
      static_cast<size_t>(group->StateBytes()) + (size_t{1} << 20);
  if (bytes.capacity() < need) {
    bytes = std::string();  // freed before the larger one is mapped
    PrepareLargeBuffer(&bytes, need);
  }
  bytes.clear();  // keeps the capacity, and the pages
  const CheckpointGate::Key key{request->job_id(), request->group()};
  if (!checkpoints_.Arm(key, request->at_clock())) {
    return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
        "job ", request->job_id(), " group ", request->group(),
        ": another checkpoint is being taken")));
  }
  absl::Cleanup release = [&] { checkpoints_.Release(key); };
  const absl::Time deadline =
      std::min(absl::FromChrono(ctx->deadline()), absl::Now() + absl::Hours(1));
  if (absl::Status s = AwaitCut(*group, request->at_clock(), deadline);
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  const absl::Time cut = absl::Now();
  uint64_t op = 0;
  size_t state_at = 0;
  absl::Status s = store_->SnapshotGroupState(
      request->job_id(), request->group(), &bytes, &op, &state_at);
  // A push admitted before the gate was armed may have gone past the cut.
  if (std::string past = Past(group->ClockState(), request->at_clock());
      s.ok() && !past.empty()) {
    s = PastTheCut(*group, request->at_clock(), past);
  }
  std::move(release).Invoke();
  const absl::Time released = absl::Now();
  if (!s.ok()) return ToGrpcStatus(s);
  std::error_code ec;
  std::filesystem::create_directories(
      std::filesystem::path(request->path()).parent_path(), ec);
  // Pushes go on while the state is written; its checksum trailer is
  // computed while the disk writes the state.
  absl::StatusOr<FileDigest> written =
      WriteFileDurably(request->path(), bytes, [&] {
        SealGroupSnapshot(state_at, &bytes);
        const absl::string_view sealed = bytes;
        return FileEnd{
            .bytes = std::string(sealed.substr(sealed.size() -
                                               snapshot::kTrailerBytes)),
            .file_crc32 = snapshot::SnapshotFileCrc32(sealed)};
      });
  if (!written.ok()) return ToGrpcStatus(written.status());
  response->set_size(written->size);
  response->set_crc32(written->crc32);
  if (metrics_ != nullptr) metrics_->CheckpointWritten(written->size);
  response->set_pause_us(absl::ToInt64Microseconds(released - cut));
  response->set_wait_us(absl::ToInt64Microseconds(cut - start));
  Logger("server")->info(
      "{} group {}: checkpoint at step {} written to {} ({} bytes; pushes "
      "held {} us)",
      request->job_id(), request->group(), request->at_clock(),
      request->path(), written->size, response->pause_us());
  return grpc::Status::OK;
}

grpc::Status PsService::LoadCheckpoint(
    grpc::ServerContext* ctx, const v1::LoadCheckpointRequest* request,
    v1::LoadCheckpointResponse* response) {
  const ScopedLogJob log_job(request->job_id());
  const bool same = SamePartitioning(request->old_map(), request->map());
  const int old_groups = request->old_map().groups_size();
  if (request->group() < 0 || request->group() >= request->map().groups_size() ||
      (same && request->group() >= old_groups)) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "group: ", request->group(), "; allowed: [0, ",
        request->map().groups_size(), ") (the groups of the job's map)")));
  }
  if (request->files_size() != old_groups) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "files: ", request->files_size(), " for ", old_groups,
        " groups of the checkpoint's map")));
  }
  for (const v1::CheckpointFileRef& f : request->files()) {
    if (f.group() < 0 || f.group() >= old_groups) {
      return ToGrpcStatus(absl::InvalidArgumentError(
          absl::StrCat("files: group ", f.group(), " of ", f.path(),
                       " is not a group of the checkpoint's map")));
    }
  }
  if (same) {
    // The group's own file, read straight into its tables.
    const v1::CheckpointFileRef* mine = nullptr;
    for (const v1::CheckpointFileRef& f : request->files()) {
      if (f.group() == request->group()) mine = &f;
    }
    if (mine == nullptr) {
      return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
          "files: none for group ", request->group())));
    }
    absl::Status s = ReadFileWith(mine->path(), mine->size(), [&](int fd) {
      return store_->LoadGroupFile(request->job_id(), request->group(),
                                   request->epoch(), fd, mine->size(),
                                   mine->crc32(), mine->path());
    });
    if (!s.ok()) return ToGrpcStatus(s);
    response->set_bytes_read(mine->size());
    return grpc::Status::OK;
  }
  // Re-partitioned: each file read once, keeping what this group needs.
  absl::StatusOr<std::unique_ptr<RepartitionReader>> reader =
      RepartitionReader::Start(request->old_map(), request->map(),
                               request->group());
  if (!reader.ok()) return ToGrpcStatus(reader.status());
  uint64_t read = 0;
  for (const v1::CheckpointFileRef& f : request->files()) {
    absl::Status s = ReadFileWith(f.path(), f.size(), [&](int fd) {
      return (*reader)->AddFile(f.group(), fd, f.size(), f.crc32(), f.path());
    });
    if (!s.ok()) return ToGrpcStatus(s);
    read += f.size();
  }
  absl::StatusOr<std::string> snapshot = (*reader)->Finish(absl::MakeConstSpan(
      request->resume_steps().data(), request->resume_steps().size()));
  if (!snapshot.ok()) return ToGrpcStatus(snapshot.status());
  reader->reset();  // what it kept, before the group is loaded
  absl::Status s = store_->LoadGroup(request->job_id(), request->group(),
                                     request->epoch(), *snapshot);
  if (!s.ok()) return ToGrpcStatus(s);
  response->set_bytes_read(read);
  return grpc::Status::OK;
}

}  // namespace ps::server
