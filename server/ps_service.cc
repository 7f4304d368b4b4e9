#include "server/ps_service.h"

#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/daemon.h"
#include "common/logging.h"
#include "common/status.h"
#include "server/dense_shard.h"
#include "server/value_pieces.h"
#include "server/wire_format.h"

namespace ps::server {
namespace {

// How often a waiting pull checks whether its call was cancelled (the
// client gave up, or the server is shutting down).
constexpr absl::Duration kCancelCheckInterval = absl::Milliseconds(100);

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

// A reference keeps its whole block of DenseShard::kStripeValues values
// alive: pieces smaller than this are copied instead, so that a response
// never pins more than 4x its own size.
constexpr int64_t kMinReferencedValues = DenseShard::kStripeValues / 4;

// A slice over `values`: a copy when they are few, else a reference that
// keeps their block (and so the values) alive until gRPC has written it.
grpc::Slice SliceOf(DenseShard::SharedValues values) {
  const size_t bytes = values.count * sizeof(float);
  if (values.count < kMinReferencedValues) {
    return grpc::Slice(values.data.get(), bytes);  // copies
  }
  auto* held = new std::shared_ptr<const float>(std::move(values.data));
  return grpc::Slice(
      const_cast<float*>(held->get()), bytes,
      [](void* p) { delete static_cast<std::shared_ptr<const float>*>(p); },
      held);
}

// Serialises the PullResponse. The values of a dense pull whose slices are
// big (kMinReferencedValues on average) go out by reference from the
// shards (PullPlan::Share): the socket write is their only copy on this
// side. Otherwise the response is one buffer of exactly its size (one
// allocation, where a small model's many pieces would each take a slice),
// with the values copied from the shards straight into place.
absl::Status WritePullResponse(const PullPlan& plan, int64_t staleness,
                               grpc::ByteBuffer* response) {
  const int64_t value_bytes = plan.values() * int64_t{sizeof(float)};
  const PullResponseFraming framing = FramePullResponse(value_bytes, staleness);
  if (plan.dense_only() && plan.dense_slices() > 0 &&
      plan.values() >= kMinReferencedValues * plan.dense_slices()) {
    std::vector<DenseShard::SharedValues> shared;
    plan.Share(&shared);
    std::vector<grpc::Slice> parts;
    parts.reserve(shared.size() + 2);
    if (!framing.head.empty()) parts.emplace_back(framing.head);
    for (DenseShard::SharedValues& values : shared) {
      parts.push_back(SliceOf(std::move(values)));
    }
    if (!framing.tail.empty()) parts.emplace_back(framing.tail);
    *response = grpc::ByteBuffer(parts.data(), parts.size());
    return absl::OkStatus();
  }
  const size_t size = framing.head.size() + value_bytes + framing.tail.size();
  char* bytes = static_cast<char*>(std::malloc(size));
  if (bytes == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a pull response of ", size, " bytes"));
  }
  std::memcpy(bytes, framing.head.data(), framing.head.size());
  plan.Read(bytes + framing.head.size());
  std::memcpy(bytes + framing.head.size() + value_bytes, framing.tail.data(),
              framing.tail.size());
  grpc::Slice slice(bytes, size, std::free);  // owns `bytes` from here
  *response = grpc::ByteBuffer(&slice, 1);
  return absl::OkStatus();
}

grpc::Status Respond(const PullPlan& plan,
                     const absl::StatusOr<int64_t>& staleness,
                     grpc::ByteBuffer* response) {
  if (!staleness.ok()) return ToGrpcStatus(staleness.status());
  return ToGrpcStatus(WritePullResponse(plan, *staleness, response));
}

// plan.Await(deadline), except that it gives up soon after the call is
// cancelled, so that a server shutting down is not held up by waits.
absl::StatusOr<int64_t> AwaitUnlessCancelled(
    const grpc::CallbackServerContext& ctx, const PullPlan& plan,
    absl::Time deadline) {
  while (true) {
    const absl::Time until =
        std::min(deadline, absl::Now() + kCancelCheckInterval);
    absl::StatusOr<int64_t> staleness = plan.Await(until);
    if (!absl::IsDeadlineExceeded(staleness.status()) || until == deadline) {
      return staleness;
    }
    if (ctx.IsCancelled()) {
      return absl::CancelledError(
          "the pull was cancelled while it waited for the job's clocks");
    }
  }
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
  // Readable now (always under ASP): answer on this thread.
  absl::StatusOr<int64_t> staleness = plan->Await(absl::InfinitePast());
  if (!absl::IsDeadlineExceeded(staleness.status())) {
    reactor->Finish(Respond(*plan, staleness, response));
    return reactor;
  }
  // Each waiting pull holds a thread: bound them, so that a peer sending
  // pulls far ahead of every worker's clock cannot exhaust the process.
  if (waiting_.fetch_add(1) >= max_waiting_pulls_) {
    waiting_.fetch_sub(1);
    reactor->Finish(ToGrpcStatus(absl::ResourceExhaustedError(absl::StrCat(
        "more than ", max_waiting_pulls_,
        " pulls are already waiting for their jobs' clocks; retry later"))));
    return reactor;
  }
  // A waiting pull never outlives its caller's deadline, nor kMaxPullWait.
  const absl::Time deadline =
      std::min(absl::FromChrono(ctx->deadline()), absl::Now() + kMaxPullWait);
  waits_.Run([this, ctx, reactor, response, deadline, plan = *std::move(plan)] {
    reactor->Finish(
        Respond(plan, AwaitUnlessCancelled(*ctx, plan, deadline), response));
    waiting_.fetch_sub(1);
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
