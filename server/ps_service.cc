#include "server/ps_service.h"

#include <chrono>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/daemon.h"
#include "common/job_token.h"
#include "common/logging.h"
#include "common/rpc.h"
#include "common/status.h"
#include "server/data_plane_call.h"
#include "server/pull_answer.h"
#include "server/value_pieces.h"
#include "server/wire_format.h"

namespace ps::server {
// A push request parsed, its values viewed in the slices it arrived in.
struct ParsedPush {
  grpc::ByteBuffer bytes;  // the request as it came (for forwarding)
  std::vector<grpc::Slice> slices;
  v1::PushRequest fields;
  std::vector<float> decoded;  // the values, when they came encoded
  std::unique_ptr<ValuePieces> values;
  PreparedPush prepared;
};

namespace {

// The bytes of `buffer` as views into its slices, which *slices keeps alive.
absl::Status PiecesOf(const grpc::ByteBuffer& buffer,
                      std::vector<grpc::Slice>* slices,
                      std::vector<absl::string_view>* pieces) {
  if (grpc::Status s = buffer.Dump(slices); !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("request bytes are unreadable: ", s.error_message()));
  }
  pieces->reserve(slices->size());
  for (const grpc::Slice& slice : *slices) {
    pieces->emplace_back(reinterpret_cast<const char*>(slice.begin()),
                         slice.size());
  }
  return absl::OkStatus();
}

grpc::ByteBuffer SerializedBytes(const google::protobuf::MessageLite& message) {
  // Always one slice, even when empty: a ByteBuffer without one is no
  // message at all to gRPC.
  grpc::Slice slice(message.SerializeAsString());
  return grpc::ByteBuffer(&slice, 1);
}

absl::StatusOr<PullPlan> PlanPull(const TableStore& store,
                                  const grpc::ByteBuffer& request) {
  std::vector<grpc::Slice> slices;
  std::vector<absl::string_view> pieces;
  if (absl::Status s = PiecesOf(request, &slices, &pieces); !s.ok()) return s;
  v1::PullRequest parsed;
  if (absl::Status s = ParseMessage(pieces, &parsed); !s.ok()) return s;
  return store.PlanPull(parsed);
}

absl::Status ParsePush(const grpc::ByteBuffer& request, ParsedPush* out) {
  std::vector<absl::string_view> pieces;
  if (absl::Status s = PiecesOf(request, &out->slices, &pieces); !s.ok()) {
    return s;
  }
  std::vector<absl::string_view> encoded;
  if (absl::Status s = ParsePushRequest(pieces, &out->fields, &encoded);
      !s.ok()) {
    return s;
  }
  std::vector<absl::string_view> values;
  if (absl::Status s = PushValues(out->fields, std::move(encoded),
                                  &out->decoded, &values);
      !s.ok()) {
    return s;
  }
  out->values = std::make_unique<ValuePieces>(std::move(values));
  out->bytes = request;
  return absl::OkStatus();
}

using MetricsClock = std::chrono::steady_clock;

double SecondsSince(MetricsClock::time_point start) {
  return std::chrono::duration<double>(MetricsClock::now() - start).count();
}

// Applies a prepared push and writes the answer; times the apply when
// `metrics` is not null.
absl::Status ApplyAndAnswer(TableStore& store, const ParsedPush& push,
                            grpc::ByteBuffer* response,
                            ServerMetrics* metrics) {
  bool duplicate = false;
  const MetricsClock::time_point start =
      metrics != nullptr ? MetricsClock::now() : MetricsClock::time_point();
  absl::Status s =
      store.ApplyPrepared(push.prepared, push.fields, *push.values, &duplicate);
  if (metrics != nullptr) metrics->PushApplied(SecondsSince(start));
  if (!s.ok()) return s;
  v1::PushResponse reply;
  reply.set_duplicate(duplicate);
  *response = SerializedBytes(reply);
  return absl::OkStatus();
}

}  // namespace

std::vector<std::string> RawDataPlaneMethods() {
  const std::string prefix =
      absl::StrCat("/", v1::ParameterServer::service_full_name(), "/");
  return {prefix + "Pull", prefix + "Push", prefix + "Replicate"};
}

absl::Status PsService::CheckServing() const {
  if (!serving_ || serving_()) return absl::OkStatus();
  return absl::UnavailableError(
      "this server has not renewed its lease with the coordinator in time; "
      "it may have been replaced and serves nothing until it has");
}

absl::Status PsService::CheckToken(const grpc::ServerContextBase& ctx,
                                   const std::string& job_id,
                                   const std::string& job_key, bool ended,
                                   const std::string& worker_id,
                                   bool write) const {
  if (security_ == nullptr || !security_->tls()) return absl::OkStatus();
  if (job_key.empty()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "job ", job_id, " has no token key on this server (its tables were "
        "created without one), so no call may use them"));
  }
  const auto& metadata = ctx.client_metadata();
  auto token = metadata.find(kJobTokenMetadata);
  if (token == metadata.end()) {
    return absl::UnauthenticatedError(absl::StrCat(
        "no ", kJobTokenMetadata, " metadata: calls on job ", job_id,
        "'s tables need the job's token (workers get it with their task; "
        "readers from GetJobToken)"));
  }
  return CheckJobToken(
      absl::string_view(token->second.data(), token->second.size()), job_key,
      {.job_id = job_id, .worker_id = worker_id, .write = write,
       .ended = ended},
      absl::Now());
}

grpc::Status PsService::CreateTables(grpc::ServerContext*,
                                     const v1::CreateTablesRequest* request,
                                     v1::CreateTablesResponse*) {
  const ScopedLogJob log_job(request->job_id());
  absl::Status s = store_->CreateTables(*request);
  if (s.ok()) {
    int sparse = 0;
    for (const v1::TableDef& t : request->tables())
      sparse += t.kind() == v1::SPARSE;
    Logger("server")->info(
        "job {}: created {} tables ({} sparse), {} ranges, {} of {} sparse "
        "partitions at epoch {}",
        request->job_id(), request->tables_size(), sparse,
        request->ranges_size(), request->owned_partitions_size(),
        request->sparse_partitions(), request->epoch());
  } else {
    Logger("server")->warn("job {}: create tables failed: {}",
                           request->job_id(), s.ToString());
  }
  return ToGrpcStatus(s);
}

grpc::Status PsService::SealTables(grpc::ServerContext*,
                                   const v1::SealTablesRequest* request,
                                   v1::SealTablesResponse*) {
  const ScopedLogJob log_job(request->job_id());
  Logger("server")->info("job {}: sealed (ended; tables kept for readers)",
                         request->job_id());
  return ToGrpcStatus(store_->SealJob(request->job_id()));
}

grpc::Status PsService::DropTables(grpc::ServerContext*,
                                   const v1::DropTablesRequest* request,
                                   v1::DropTablesResponse*) {
  const ScopedLogJob log_job(request->job_id());
  Logger("server")->info("job {}: dropping tables", request->job_id());
  // A long-lived server serves many jobs: what this job held goes back to
  // the system, not only to malloc. (A call still reading the tables frees
  // them when it ends; the next drop returns that.)
  absl::Status dropped;
  ReleaseMemory([&] {
    dropped = request->has_group()
                  ? store_->DropGroup(request->job_id(), request->group())
                  : store_->DropTables(request->job_id());
  });
  return ToGrpcStatus(dropped);
}

grpc::ServerUnaryReactor* PsService::Pull(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) {
  const DataPlaneCall call(
      ctx, request, response,
      metrics_ != nullptr ? metrics_->pull_rpc() : nullptr);
  if (absl::Status s = CheckServing(); !s.ok()) {
    call.Finish(ToGrpcStatus(s));
    return call.reactor();
  }
  absl::StatusOr<PullPlan> plan = PlanPull(*store_, *request);
  absl::Status allowed =
      plan.ok() ? CheckToken(*ctx, plan->job_id(), plan->job_key(), plan->ended(),
                           "", /*write=*/false)
                : plan.status();
  if (!allowed.ok()) {
    call.Finish(ToGrpcStatus(allowed));
    return call.reactor();
  }
  const MetricsClock::time_point start =
      metrics_ != nullptr ? MetricsClock::now() : MetricsClock::time_point();
  pulls_.Schedule(
      *std::move(plan), absl::FromChrono(ctx->deadline()),
      /*cancelled=*/[ctx] { return ctx->IsCancelled(); },
      /*answer=*/
      [call, response, metrics = metrics_, start](
          const PullPlan& plan, absl::StatusOr<int64_t> staleness) {
        if (metrics != nullptr) {
          metrics->PullAnswered(SecondsSince(start),
                                staleness.ok() ? *staleness : -1);
        }
        call.Finish(ToGrpcStatus(AnswerPull(plan, staleness, response)));
      });
  return call.reactor();
}

grpc::ServerUnaryReactor* PsService::Push(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) {
  const DataPlaneCall call(
      ctx, request, response,
      metrics_ != nullptr ? metrics_->push_rpc() : nullptr);
  auto push = std::make_shared<ParsedPush>();
  absl::Status s = CheckServing();
  if (s.ok()) s = ParsePush(*request, push.get());
  if (s.ok()) {
    absl::StatusOr<PreparedPush> prepared = store_->PreparePush(
        push->fields, *push->values, TableStore::PushSource::kClient);
    if (prepared.ok()) {
      push->prepared = *std::move(prepared);
      s = CheckToken(*ctx, push->fields.job_id(),
                     push->prepared.group.job_key(),
                     push->prepared.group.ended(), push->fields.worker_id(),
                     /*write=*/true);
    } else {
      s = prepared.status();
    }
  }
  if (!s.ok()) {
    call.Finish(ToGrpcStatus(s));
    return call.reactor();
  }
  // A checkpoint's cut holds pushes of later steps (checkpoint_gate.h).
  const GroupHandle& group = push->prepared.group;
  if (!push->fields.worker_id().empty() &&
      checkpoints_.Hold({group.job_id(), group.group()}, push->fields.clock(),
                        [this, push, call, response] {
                          ContinuePush(push, call, response);
                        })) {
    return call.reactor();
  }
  ContinuePush(push, call, response);
  return call.reactor();
}

void PsService::ContinuePush(std::shared_ptr<ParsedPush> push,
                             DataPlaneCall call,
                             grpc::ByteBuffer* response) {
  const GroupHandle group = push->prepared.group;
  if (!group.ordered()) {
    call.Finish(
        ToGrpcStatus(ApplyAndAnswer(*store_, *push, response, metrics_)));
    return;
  }
  // Numbered together with the backups it goes to, so that a backup added
  // for a copy gets every push after the copy's point.
  std::vector<v1::ServerEndpoint> backups;
  const uint64_t op =
      group.order().Assign([&](uint64_t) { backups = group.backups(); });
  forwarder_.Forward(
      group, op, push->bytes, backups,
      [this, push, group, op, call, response,
       backups = static_cast<int>(backups.size())](absl::Status forwarded) {
        if (metrics_ != nullptr) metrics_->Forwarded(backups, forwarded.ok());
        OpOrder::Step step;
        if (forwarded.ok()) {
          step.apply = [this, push, call, response] {
            call.Finish(ToGrpcStatus(
                ApplyAndAnswer(*store_, *push, response, metrics_)));
          };
        } else {
          // Not applied here: the op is passed over in this server's order.
          step.apply = [call, forwarded] {
            call.Finish(ToGrpcStatus(forwarded));
          };
        }
        step.drop = [call, group](bool) {
          call.Finish(ToGrpcStatus(absl::AbortedError(absl::StrCat(
              "job ", group.job_id(), " group ", group.group(),
              ": tables dropped or replaced while the push was forwarded")))); 
        };
        group.order().Ready(op, std::move(step));
      });
}

grpc::ServerUnaryReactor* PsService::Replicate(
    grpc::CallbackServerContext* ctx, const grpc::ByteBuffer* request,
    grpc::ByteBuffer* response) {
  const DataPlaneCall call(
      ctx, request, response,
      metrics_ != nullptr ? metrics_->replicate_rpc() : nullptr);
  auto push = std::make_shared<ParsedPush>();
  absl::Status s = ParsePush(*request, push.get());
  const v1::PushRequest& f = push->fields;
  if (s.ok() && f.replica_op() == 0) {
    s = absl::InvalidArgumentError(
        "replica_op: 0; a forwarded push carries its place in the group's "
        "order (>= 1)");
  }
  absl::StatusOr<GroupHandle> group =
      s.ok() ? store_->Group(f.job_id(), f.group()) : absl::StatusOr<GroupHandle>(s);
  if (!group.ok()) {
    call.Finish(ToGrpcStatus(group.status()));
    return call.reactor();
  }
  if (f.epoch() > group->epoch()) {
    call.Finish(ToGrpcStatus(absl::UnavailableError(absl::StrCat(
        "job ", f.job_id(), " group ", f.group(), ": this backup is at epoch ",
        group->epoch(), ", the primary at ", f.epoch(), "; try again"))));
    return call.reactor();
  }
  if (f.epoch() < group->epoch() || group->role() == v1::PRIMARY) {
    // Only a backup promoted in the sender's place proves the sender was
    // replaced (FAILED_PRECONDITION fences it). A backup that merely heard
    // of a newer epoch first (another group's failover or copy) makes the
    // primary try again once the coordinator has told it too.
    const bool replaced = group->role() == v1::PRIMARY;
    call.Finish(ToGrpcStatus(
        replaced
            ? absl::FailedPreconditionError(absl::StrCat(
                  "job ", f.job_id(), " group ", f.group(),
                  " is led by this server since epoch ", group->epoch(),
                  "; the sender (epoch ", f.epoch(), ") was replaced"))
            : absl::UnavailableError(absl::StrCat(
                  "job ", f.job_id(), " group ", f.group(),
                  ": this backup is at epoch ", group->epoch(),
                  ", the primary at ", f.epoch(), "; try again"))));
    return call.reactor();
  }
  absl::StatusOr<PreparedPush> prepared = store_->PreparePush(
      f, *push->values, TableStore::PushSource::kPrimary);
  const bool joining = group->role() == v1::JOINING;
  OpOrder::Step step;
  if (prepared.ok()) {
    push->prepared = *std::move(prepared);
    step.apply = [this, push, call, response, joining] {
      grpc::ByteBuffer ignored;
      // The primary gets the same outcome from its own apply; a backup's
      // part is to have applied it in order.
      absl::Status applied =
          ApplyAndAnswer(*store_, *push, &ignored, metrics_);
      if (!applied.ok()) {
        Logger("server")->debug("job {} group {} op {}: {}",
                                push->fields.job_id(), push->fields.group(),
                                push->fields.replica_op(), applied.ToString());
      }
      if (!joining) {
        *response = SerializedBytes(v1::PushResponse());
        call.Finish(grpc::Status::OK);
      }
    };
  } else {
    // Refused here as on the primary; it still takes its place.
    step.apply = [call, joining, status = prepared.status()] {
      if (!joining) call.Finish(ToGrpcStatus(status));
    };
  }
  step.drop = [call, response, joining](bool applied_before) {
    if (joining) return;
    if (applied_before) {
      *response = SerializedBytes(v1::PushResponse());
      call.Finish(grpc::Status::OK);
    } else {
      call.Finish(ToGrpcStatus(absl::AbortedError(
          "the group's order was reset (new primary, or tables dropped)")));
    }
  };
  group->order().Ready(f.replica_op(), std::move(step));
  if (joining) {
    // A copy in progress holds the push until its snapshot is installed.
    *response = SerializedBytes(v1::PushResponse());
    call.Finish(grpc::Status::OK);
  }
  return call.reactor();
}

grpc::Status PsService::ReadSnapshot(
    grpc::ServerContext* ctx, const v1::ReadSnapshotRequest* request,
    grpc::ServerWriter<v1::SnapshotChunk>* writer) {
  std::string bytes;
  uint64_t op = 0;
  absl::Status s =
      store_->SnapshotGroup(request->job_id(), request->group(), &bytes, &op);
  if (!s.ok()) return ToGrpcStatus(s);
  constexpr size_t kChunk = size_t{4} << 20;
  size_t at = 0;
  do {
    v1::SnapshotChunk chunk;
    if (at == 0) {
      chunk.set_job_id(request->job_id());
      chunk.set_group(request->group());
      chunk.set_op(op);
    }
    const size_t n = std::min(kChunk, bytes.size() - at);
    chunk.set_data(bytes.data() + at, n);
    at += n;
    if (!streams_.Write(ctx, writer, chunk)) {
      return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
    }
  } while (at < bytes.size());
  return grpc::Status::OK;
}

grpc::Status PsService::CopyGroup(grpc::ServerContext* ctx,
                                  const v1::CopyGroupRequest* request,
                                  v1::CopyGroupResponse* response) {
  const ScopedLogJob log_job(request->job_id());
  absl::StatusOr<GroupHandle> group =
      store_->Group(request->job_id(), request->group());
  if (!group.ok()) return ToGrpcStatus(group.status());
  if (group->role() != v1::PRIMARY || group->epoch() != request->epoch() ||
      !group->ordered()) {
    return ToGrpcStatus(absl::FailedPreconditionError(absl::StrCat(
        "job ", request->job_id(), " group ", request->group(), " is ",
        v1::ReplicaRole_Name(group->role()), " at epoch ", group->epoch(),
        group->ordered() ? "" : " (unreplicated)", "; CopyGroup needs its "
        "replicated PRIMARY at epoch ", request->epoch())));
  }
  const v1::ServerEndpoint& target = request->target();
  // Every push numbered after `at` goes to the target too; the snapshot
  // holds every push up to `at`.
  const uint64_t at = group->order().Boundary(
      [&](uint64_t) { group->AddBackup(target, /*joining=*/true); });
  std::string bytes;
  uint64_t snapshot_op = 0;  // `at`: the target joined right after it
  absl::Duration pause;
  if (absl::Status s =
          store_->SnapshotGroupAt(*group, at, &bytes, &snapshot_op, &pause);
      !s.ok()) {
    group->RemoveBackup(target.member_id());
    return ToGrpcStatus(s);
  }
  auto stub = v1::ParameterServer::NewStub(
      MakeChannel(security_.get(), target.address()));
  grpc::ClientContext call;
  call.set_deadline(ctx->deadline());
  v1::InstallSnapshotResponse installed;
  auto writer = stub->InstallSnapshot(&call, &installed);
  constexpr size_t kChunk = size_t{4} << 20;
  size_t offset = 0;
  bool sent = true;
  do {
    v1::SnapshotChunk chunk;
    if (offset == 0) {
      chunk.set_job_id(request->job_id());
      chunk.set_epoch(request->epoch());
      chunk.set_group(request->group());
      chunk.set_op(snapshot_op);
    }
    const size_t n = std::min(kChunk, bytes.size() - offset);
    chunk.set_data(bytes.data() + offset, n);
    offset += n;
    sent = writer->Write(chunk);
  } while (sent && offset < bytes.size());
  writer->WritesDone();
  absl::Status s = FromGrpcStatus(writer->Finish());
  if (!s.ok() || !group->FinishJoining(target.member_id())) {
    group->RemoveBackup(target.member_id());
    return ToGrpcStatus(Annotate(
        s.ok() ? absl::UnavailableError("a forwarded push failed") : s,
        absl::StrCat("copying job ", request->job_id(), " group ",
                     request->group(), " to ", target.member_id(), " at ",
                     target.address())));
  }
  response->set_snapshot_bytes(static_cast<int64_t>(bytes.size()));
  response->set_snapshot_op(snapshot_op);
  if (metrics_ != nullptr) {
    metrics_->GroupCopied(static_cast<int64_t>(bytes.size()));
  }
  response->set_pause_us(absl::ToInt64Microseconds(pause));
  Logger("server")->info(
      "job {} group {}: copied to {} ({} bytes at op {}; pushes waited {})",
      request->job_id(), request->group(), target.member_id(), bytes.size(),
      at, absl::FormatDuration(pause));
  return grpc::Status::OK;
}

grpc::Status PsService::InstallSnapshot(
    grpc::ServerContext*, grpc::ServerReader<v1::SnapshotChunk>* reader,
    v1::InstallSnapshotResponse*) {
  v1::SnapshotChunk first;
  if (!reader->Read(&first)) {
    return ToGrpcStatus(absl::InvalidArgumentError("empty snapshot stream"));
  }
  std::string bytes = std::move(*first.mutable_data());
  v1::SnapshotChunk chunk;
  while (reader->Read(&chunk)) {
    if (bytes.size() + chunk.data().size() > (size_t{64} << 30)) {
      return ToGrpcStatus(
          absl::InvalidArgumentError("snapshot larger than 64 GiB"));
    }
    bytes += chunk.data();
  }
  absl::Status s = store_->InstallSnapshot(first.job_id(), first.group(),
                                           first.epoch(), first.op(), bytes);
  Logger("server")->info("job {} group {}: snapshot of {} bytes at op {}: {}",
                         first.job_id(), first.group(), bytes.size(),
                         first.op(), s.ToString());
  return ToGrpcStatus(s);
}

grpc::Status PsService::SetReplicas(grpc::ServerContext*,
                                    const v1::SetReplicasRequest* request,
                                    v1::SetReplicasResponse* response) {
  const ScopedLogJob log_job(request->job_id());
  uint64_t applied = 0;
  absl::Status s = store_->SetReplicas(*request, &applied);
  if (s.ok()) {
    response->set_applied_op(applied);
    std::string backups;
    for (const v1::ServerEndpoint& b : request->backups()) {
      absl::StrAppend(&backups, backups.empty() ? "" : ", ", b.member_id());
    }
    Logger("server")->info("job {} group {}: epoch {}, {} (backups: {}), "
                           "last applied op {}",
                           request->job_id(), request->group(),
                           request->epoch(),
                           v1::ReplicaRole_Name(request->role()),
                           backups.empty() ? "none" : backups, applied);
  } else {
    Logger("server")->warn("job {} group {}: SetReplicas: {}",
                           request->job_id(), request->group(), s.ToString());
  }
  return ToGrpcStatus(s);
}

grpc::Status PsService::ScanRows(grpc::ServerContext* ctx,
                                 const v1::ScanRowsRequest* request,
                                 grpc::ServerWriter<v1::RowBlock>* writer) {
  bool broken = false;  // the client went away: the scan stops
  if (security_ != nullptr && security_->tls()) {
    absl::StatusOr<GroupHandle> group =
        store_->Group(request->job_id(), request->group());
    absl::Status allowed =
        group.ok() ? CheckToken(*ctx, request->job_id(), group->job_key(),
                                group->ended(), "", /*write=*/false)
                   : group.status();
    if (!allowed.ok()) return ToGrpcStatus(allowed);
  }
  absl::Status s = store_->ScanRows(
      request->job_id(), request->group(), request->epoch(), request->table(),
      /*block_bytes=*/int64_t{1} << 20,
      [&](absl::Span<const uint64_t> keys, const float* rows, int dim) {
        if (ctx->IsCancelled()) {
          broken = true;
          return false;
        }
        v1::RowBlock block;
        block.set_keys(keys.data(), keys.size() * sizeof(uint64_t));
        block.set_values(rows, keys.size() * dim * sizeof(float));
        broken = !streams_.Write(ctx, writer, block);
        return !broken;
      });
  if (!s.ok()) return ToGrpcStatus(s);
  if (broken)
    return grpc::Status(grpc::StatusCode::CANCELLED, "client went away");
  return grpc::Status::OK;
}

grpc::Status PsService::ServerStatus(grpc::ServerContext*,
                                     const v1::ServerStatusRequest*,
                                     v1::ServerStatusResponse* response) {
  for (v1::TableStatus& t : store_->Status()) {
    *response->add_tables() = std::move(t);
  }
  for (v1::JobServerStats& j : store_->JobStats()) {
    *response->add_jobs() = std::move(j);
  }
  return grpc::Status::OK;
}

}  // namespace ps::server
