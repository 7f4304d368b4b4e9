#include "server/ps_service.h"

#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/daemon.h"
#include "common/logging.h"
#include "common/status.h"
#include "server/pull_answer.h"
#include "server/value_pieces.h"
#include "server/wire_format.h"

namespace ps::server {
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

absl::Status PushFromBytes(TableStore& store, const grpc::ByteBuffer& request,
                           grpc::ByteBuffer* response) {
  std::vector<grpc::Slice> slices;
  std::vector<absl::string_view> pieces;
  if (absl::Status s = PiecesOf(request, &slices, &pieces); !s.ok()) return s;
  v1::PushRequest fields;
  std::vector<absl::string_view> values;
  if (absl::Status s = ParsePushRequest(pieces, &fields, &values); !s.ok()) {
    return s;
  }
  bool duplicate = false;
  absl::Status s =
      store.Push(fields, ValuePieces(std::move(values)), &duplicate);
  if (!s.ok()) return s;
  v1::PushResponse reply;
  reply.set_duplicate(duplicate);
  *response = SerializedBytes(reply);
  return absl::OkStatus();
}

}  // namespace

grpc::Status PsService::CreateTables(grpc::ServerContext*,
                                     const v1::CreateTablesRequest* request,
                                     v1::CreateTablesResponse*) {
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

grpc::Status PsService::DropTables(grpc::ServerContext*,
                                   const v1::DropTablesRequest* request,
                                   v1::DropTablesResponse*) {
  Logger("server")->info("job {}: dropping tables", request->job_id());
  // A long-lived server serves many jobs: what this job held goes back to
  // the system, not only to malloc. (A call still reading the tables frees
  // them when it ends; the next drop returns that.)
  absl::Status dropped;
  ReleaseMemory([&] { dropped = store_->DropTables(request->job_id()); });
  return ToGrpcStatus(dropped);
}

grpc::ServerUnaryReactor* PsService::Pull(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  absl::StatusOr<PullPlan> plan = PlanPull(*store_, *request);
  if (!plan.ok()) {
    reactor->Finish(ToGrpcStatus(plan.status()));
    return reactor;
  }
  pulls_.Schedule(
      *std::move(plan), absl::FromChrono(ctx->deadline()),
      /*cancelled=*/[ctx] { return ctx->IsCancelled(); },
      /*answer=*/
      [reactor, response](const PullPlan& plan,
                          absl::StatusOr<int64_t> staleness) {
        reactor->Finish(ToGrpcStatus(AnswerPull(plan, staleness, response)));
      });
  return reactor;
}

grpc::ServerUnaryReactor* PsService::Push(grpc::CallbackServerContext* ctx,
                                          const grpc::ByteBuffer* request,
                                          grpc::ByteBuffer* response) {
  grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
  reactor->Finish(ToGrpcStatus(PushFromBytes(*store_, *request, response)));
  return reactor;
}

grpc::Status PsService::ScanRows(grpc::ServerContext* ctx,
                                 const v1::ScanRowsRequest* request,
                                 grpc::ServerWriter<v1::RowBlock>* writer) {
  bool broken = false;  // the client went away: the scan stops
  absl::Status s = store_->ScanRows(
      request->job_id(), request->epoch(), request->table(),
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
