#include "client/ps_client.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"
#include "common/value_codec.h"

namespace ps::client {
namespace {

std::string ServerLabel(const v1::ServerEndpoint& server, int index) {
  const std::string name = server.member_id().empty() ? absl::StrCat("#", index)
                                                      : server.member_id();
  return absl::StrCat("server ", name, " at ", server.address());
}

// The keys of each sparse ref; *values gets where each one's rows (pull) or
// gradients (push) are.
template <typename Ref, typename Values>
std::vector<SparseKeys> SplitRefs(const std::vector<Ref>& refs,
                                  Values Ref::*field,
                                  std::vector<Values>* values) {
  std::vector<SparseKeys> keys;
  for (const Ref& ref : refs) {
    keys.push_back({&ref.table, ref.keys, ref.*field != nullptr});
    values->push_back(ref.*field);
  }
  return keys;
}

}  // namespace

absl::StatusOr<std::unique_ptr<PsClient>> PsClient::Create(
    std::string job_id, v1::PartitionMap map, PsClientOptions options) {
  if (job_id.empty()) return absl::InvalidArgumentError("job_id is empty");
  if (absl::Status s = ValidatePsClientOptions(options); !s.ok()) return s;
  if (absl::Status s = ValidateClientMap(map); !s.ok()) return s;
  std::vector<Server> servers = Connect(map, options);
  return absl::WrapUnique(new PsClient(std::move(job_id), std::move(map),
                                       std::move(options), std::move(servers)));
}

std::vector<PsClient::Server> PsClient::Connect(const v1::PartitionMap& map,
                                                const PsClientOptions& options,
                                                std::vector<Server> old) {
  std::vector<Server> servers(map.servers_size());
  for (int i = 0; i < map.servers_size(); ++i) {
    const v1::ServerEndpoint& primary =
        map.groups_size() > 0 ? map.groups(i).replicas(0) : map.servers(i);
    Server& server = servers[i];
    server.member_id = primary.member_id();
    server.address = primary.address();
    server.label = ServerLabel(primary, i);
    if (map.groups_size() > 0) absl::StrAppend(&server.label, " (group ", i, ")");
    for (Server& o : old) {
      if (o.address == server.address && !o.stubs.empty()) {
        server.stubs = std::move(o.stubs);
        break;
      }
    }
    if (!server.stubs.empty()) continue;
    for (int c = 0; c < options.channels_per_server; ++c) {
      server.stubs.push_back(std::make_unique<grpc::GenericStub>(
          MakeChannel(options.security.get(), server.address, c)));
    }
  }
  return servers;
}

absl::Status PsClient::WithFailover(
    const std::function<absl::Status()>& attempt) {
  const absl::Time give_up = absl::Now() + options_.failover_timeout;
  absl::Duration backoff = absl::Milliseconds(20);
  for (;;) {
    failed_.clear();
    absl::Status s = attempt();
    if (s.ok() || !options_.refresh_map) return s;
    const absl::StatusCode code = s.code();
    if (code != absl::StatusCode::kUnavailable &&
        code != absl::StatusCode::kFailedPrecondition &&
        code != absl::StatusCode::kAborted &&
        code != absl::StatusCode::kDeadlineExceeded) {
      return s;
    }
    if (absl::Now() >= give_up) {
      return Annotate(s, absl::StrCat("job ", job_id_, ": no failover within ",
                                      absl::FormatDuration(
                                          options_.failover_timeout)));
    }
    std::vector<std::string> unreachable;
    if (code == absl::StatusCode::kUnavailable ||
        code == absl::StatusCode::kDeadlineExceeded) {
      for (int i : failed_) {
        const std::string& id = servers_[i].member_id;
        if (!id.empty() && std::find(unreachable.begin(), unreachable.end(),
                                     id) == unreachable.end()) {
          unreachable.push_back(id);
        }
      }
    }
    absl::StatusOr<v1::PartitionMap> fresh =
        options_.refresh_map(map_.epoch(), unreachable);
    if (!fresh.ok()) return fresh.status();
    if (fresh->epoch() != map_.epoch()) {
      if (absl::Status v = ValidateClientMap(*fresh); !v.ok()) return v;
      if (fresh->servers_size() != map_.servers_size()) {
        return absl::FailedPreconditionError(absl::StrCat(
            "job ", job_id_, ": the partition map now has ",
            fresh->servers_size(), " groups, not ", map_.servers_size()));
      }
      servers_ = Connect(*fresh, options_, std::move(servers_));
      map_ = *std::move(fresh);
      pull_plan_ = Plan();
      push_plan_ = Plan();
      backoff = absl::Milliseconds(20);
      continue;
    }
    // The coordinator has not moved on yet (or a server has not heard).
    const absl::Time wake = absl::Now() + backoff;
    while (absl::Now() < wake) {
      if (options_.cancelled != nullptr && options_.cancelled->load()) {
        return absl::CancelledError(absl::StrCat("job ", job_id_,
                                                 ": cancelled during failover"));
      }
      absl::SleepFor(std::min(absl::Milliseconds(10), wake - absl::Now()));
    }
    backoff = std::min(backoff * 2, absl::Milliseconds(500));
  }
}

PsClient::PsClient(std::string job_id, v1::PartitionMap map,
                   PsClientOptions options, std::vector<Server> servers)
    : job_id_(std::move(job_id)),
      map_(std::move(map)),
      options_(std::move(options)),
      servers_(std::move(servers)),
      next_stub_(servers_.size(), 0),
      next_seq_(static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()))) {}

// What a staged call keeps alive until its RPCs are done.
struct PsClient::Stage {
  std::string op;  // "pull from" / "push to"
  CallSet calls;
  PrepareFn prepare;
  CallBatch::OnResponse on_response;  // may be empty
  std::function<void()> finish;       // after every RPC succeeded; may be empty
  std::function<void()> cleanup;      // after the RPCs, whatever the outcome
  std::vector<SparseKeys> tables;     // the call's sparse refs
  std::vector<SparseRequest> sparse;
  SparseCall sparse_call;
  std::vector<bool> folded;  // per dense chunk: carried by a sparse request
  // Per sparse request; sized once, as calls point into it.
  std::vector<grpc::ByteBuffer> sparse_requests;
  std::vector<int64_t> sparse_staleness;  // pulls only
  grpc::Slice clock_field;
  std::vector<int32_t> per_server;
  std::vector<int> chunk_of;  // dense call -> chunk of the plan
  // Dense push values lent to gRPC from the caller's gradients.
  std::unique_ptr<Loan> loan;
};

absl::Status PsClient::Pull(const std::vector<TableRef>& refs, float* buffer) {
  return Pull(refs, buffer, /*sparse=*/{}, /*clock=*/0, /*staleness=*/nullptr);
}

absl::Status PsClient::Pull(const std::vector<TableRef>& refs, float* buffer,
                            int64_t clock, int64_t* staleness) {
  return Pull(refs, buffer, /*sparse=*/{}, clock, staleness);
}

absl::Status PsClient::Pull(const std::vector<TableRef>& refs, float* buffer,
                            const std::vector<SparsePullRef>& sparse,
                            int64_t clock, int64_t* staleness) {
  return WithFailover([&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<Stage>> pull =
        StagePull(refs, buffer, sparse, clock, staleness);
    if (!pull.ok()) return pull.status();
    return Run({pull->get()});
  });
}

absl::Status PsClient::Push(const std::vector<TableRef>& refs,
                            const float* grads) {
  return Push(refs, grads, /*sparse=*/{}, /*clock=*/0);
}

absl::Status PsClient::Push(const std::vector<TableRef>& refs,
                            const float* grads, int64_t clock) {
  return Push(refs, grads, /*sparse=*/{}, clock);
}

absl::Status PsClient::Push(const std::vector<TableRef>& refs,
                            const float* grads,
                            const std::vector<SparsePushRef>& sparse,
                            int64_t clock) {
  uint64_t seq_base = 0;
  const float* sent = WithFeedback(refs, grads);
  return WithFailover([&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<Stage>> push =
        StagePush(refs, sent, sparse, clock, &seq_base);
    if (!push.ok()) return push.status();
    return Run({push->get()});
  });
}

absl::Status PsClient::PushAndPull(
    const std::vector<TableRef>& push_refs, const float* grads,
    const std::vector<SparsePushRef>& push_sparse, int64_t push_clock,
    const std::vector<TableRef>& pull_refs, float* buffer,
    const std::vector<SparsePullRef>& pull_sparse, int64_t pull_clock,
    int64_t* staleness) {
  uint64_t seq_base = 0;
  const float* sent = WithFeedback(push_refs, grads);
  return WithFailover([&]() -> absl::Status {
    absl::StatusOr<std::unique_ptr<Stage>> push =
        StagePush(push_refs, sent, push_sparse, push_clock, &seq_base);
    if (!push.ok()) return push.status();
    absl::StatusOr<std::unique_ptr<Stage>> pull =
        StagePull(pull_refs, buffer, pull_sparse, pull_clock, staleness);
    if (!pull.ok()) return pull.status();
    return Run({push->get(), pull->get()});
  });
}

absl::StatusOr<std::unique_ptr<PsClient::Stage>> PsClient::StartStage(
    absl::string_view kind, int64_t clock, const std::vector<TableRef>& refs,
    std::vector<SparseKeys> tables, Plan* plan) {
  const std::string op = absl::StrCat("job ", job_id_, ": ", kind);
  if (clock < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": clock ", clock, " must be >= 0"));
  }
  if (absl::Status s = UpdatePlan(refs, plan); !s.ok()) return Annotate(s, op);
  for (const SparseKeys& t : tables) {
    if (!t.has_values && !t.keys.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat(op, ": sparse table ", *t.table, ": ",
                       kind == "pull" ? "rows" : "grads", " is null"));
    }
  }
  auto stage = std::make_unique<Stage>();
  stage->op = kind == "pull" ? "pull from" : "push to";
  stage->tables = std::move(tables);
  absl::StatusOr<std::vector<int>> dims = SparseDims(map_, stage->tables);
  if (!dims.ok()) return Annotate(dims.status(), op);
  absl::StatusOr<std::vector<SparseRequest>> routed =
      RouteSparse(map_, options_.chunk_bytes, stage->tables, *dims);
  if (!routed.ok()) return Annotate(routed.status(), op);
  stage->sparse = *std::move(routed);
  // An encoded dense push keeps every chunk in a request of its own
  // (folded ones would travel as sparse rows do, by sparse_push).
  const bool encoded_push =
      kind == "push" && options_.compression.push() != v1::FLOAT32;
  stage->folded = FoldDenseChunks(plan->chunks,
                                  encoded_push ? 0 : kSmallCallBytes,
                                  options_.chunk_bytes, &stage->sparse);
  stage->sparse_call = {&plan->chunks, &stage->tables, *std::move(dims)};
  stage->calls = DenseCalls(plan, kind == "pull" ? PullMethod() : PushMethod(),
                            stage->folded, &stage->chunk_of);
  return stage;
}

void PsClient::AddSparseCalls(Stage* st, const std::string& method,
                              const SerializeFn& serialize) {
  st->sparse_requests.resize(st->sparse.size());
  for (size_t i = 0; i < st->sparse.size(); ++i) {
    const SparseRequest& r = st->sparse[i];
    grpc::Slice bytes(serialize(r));
    st->sparse_requests[i] = grpc::ByteBuffer(&bytes, 1);
    AddCall(&st->calls, r.server_index, &st->sparse_requests[i], method);
    st->calls.bytes += (r.dense_values + r.values) * int64_t{sizeof(float)};
  }
}

absl::StatusOr<std::unique_ptr<PsClient::Stage>> PsClient::StagePull(
    const std::vector<TableRef>& refs, float* buffer,
    const std::vector<SparsePullRef>& sparse, int64_t clock,
    int64_t* staleness) {
  std::vector<float*> rows;  // where each ref's rows go
  Plan* plan = &pull_plan_;
  absl::StatusOr<std::unique_ptr<Stage>> stage =
      StartStage("pull", clock, refs,
                 SplitRefs(sparse, &SparsePullRef::rows, &rows), plan);
  if (!stage.ok()) return stage.status();
  Stage* st = stage->get();
  const int dense_calls = static_cast<int>(st->calls.stubs.size());
  AddSparseCalls(st, PullMethod(), [&](const SparseRequest& r) {
    v1::PullRequest request;
    request.set_job_id(job_id_);
    request.set_epoch(map_.epoch());
    request.set_group(r.server_index);
    request.set_clock(clock);
    request.set_codec(options_.compression.pull());
    WriteSparseSlices(r, st->sparse_call, request.mutable_slices(),
                      request.mutable_sparse(), request.mutable_keys());
    return request.SerializeAsString();
  });
  if (clock != 0) {
    st->clock_field = grpc::Slice(VarintField(
        v1::PullRequest::kClockFieldNumber, static_cast<uint64_t>(clock)));
  }
  st->prepare = [this, plan, dense_calls, st](int i) {
    if (i < dense_calls) PreparePull(plan, st->chunk_of[i], st->clock_field);
  };
  ReadPullInto(st, plan, buffer, std::move(rows), staleness,
               options_.compression.pull());
  return stage;
}

void PsClient::ReadPullInto(Stage* st, Plan* plan, float* buffer,
                            std::vector<float*> rows, int64_t* staleness,
                            v1::ValueCodec codec) {
  const int dense_calls = static_cast<int>(st->chunk_of.size());
  st->sparse_staleness.assign(st->sparse.size(), 0);
  st->on_response = [plan, buffer, dense_calls, st, rows = std::move(rows),
                     codec](
                        int i, grpc::ByteBuffer* response) -> absl::Status {
    if (i < dense_calls) {
      const int c = st->chunk_of[i];
      return ScatterPullResponse(response, plan->chunks[c], buffer,
                                 &plan->staleness[c], codec);
    }
    const int k = i - dense_calls;
    return ScatterSparsePullResponse(response, st->sparse[k], st->sparse_call,
                                     buffer, rows, &st->sparse_staleness[k],
                                     codec);
  };
  for (size_t c = 0; c < st->folded.size(); ++c) {
    if (st->folded[c]) plan->staleness[c] = 0;
  }
  if (staleness != nullptr) {
    st->finish = [plan, st, staleness] {
      *staleness = 0;
      for (int64_t s : plan->staleness) *staleness = std::max(*staleness, s);
      for (int64_t s : st->sparse_staleness) {
        *staleness = std::max(*staleness, s);
      }
    };
  }
}

absl::StatusOr<std::unique_ptr<PsClient::Stage>> PsClient::StagePush(
    const std::vector<TableRef>& refs, const float* grads,
    const std::vector<SparsePushRef>& sparse, int64_t clock,
    uint64_t* seq_base) {
  std::vector<const float*> rows;  // each ref's row gradients
  Plan* plan = &push_plan_;
  absl::StatusOr<std::unique_ptr<Stage>> stage =
      StartStage("push", clock, refs,
                 SplitRefs(sparse, &SparsePushRef::grads, &rows), plan);
  if (!stage.ok()) return stage.status();
  Stage* st = stage->get();
  // A worker's clock advances on a server once all of that clock's pushes
  // arrived there; with sparse tables every server must hear of every clock.
  st->per_server = CountPushesPerServer(
      plan->chunks, st->folded, static_cast<int>(servers_.size()),
      /*every_server=*/map_.sparse_partitions() > 0 &&
          !options_.worker_id.empty(),
      &st->sparse);
  const int dense_calls = static_cast<int>(st->calls.stubs.size());
  // One sequence number per dense chunk, then one per sparse request: the
  // same layout, hence the same numbers, when the push is sent again.
  const uint64_t chunks = plan->chunks.size();
  if (*seq_base == 0) {
    *seq_base =
        options_.seq_numbering == SeqNumbering::kByClock
            ? (static_cast<uint64_t>(clock) + 1) * kSeqsPerClock
            : next_seq_.fetch_add(chunks + st->sparse.size());
  }
  const uint64_t base = *seq_base;
  uint64_t k = 0;
  AddSparseCalls(st, PushMethod(), [&](const SparseRequest& r) {
    return SparsePushBytes(*st, r, grads, rows, clock, base + chunks + k++);
  });
  st->loan = std::make_unique<Loan>();
  st->prepare = [this, plan, grads, clock, dense_calls, st, base](int i) {
    if (i < dense_calls) {
      const int c = st->chunk_of[i];
      PreparePush(plan, c, grads, clock,
                  st->per_server[plan->chunks[c].server_index], base + c,
                  st->loan.get());
    }
  };
  // Drop this side's references, so that only gRPC's keep the loan out.
  st->cleanup = [plan] {
    for (grpc::ByteBuffer& request : plan->requests) request.Clear();
  };
  return stage;
}

std::string PsClient::SparsePushBytes(const Stage& st, const SparseRequest& r,
                                      const float* grads,
                                      const std::vector<const float*>& rows,
                                      int64_t clock, uint64_t seq) {
  v1::PushRequest request;
  request.set_job_id(job_id_);
  request.set_epoch(map_.epoch());
  request.set_group(r.server_index);
  request.set_worker_id(options_.worker_id);
  request.set_seq(seq);
  request.set_clock(clock);
  request.set_clock_pushes(st.per_server[r.server_index]);
  WriteSparseSlices(r, st.sparse_call, request.mutable_slices(),
                    request.mutable_sparse(), request.mutable_keys());
  std::string values = GatherSparseValues(r, st.sparse_call, grads, rows);
  const v1::ValueCodec codec = options_.compression.sparse_push();
  if (codec != v1::FLOAT32) {
    std::string encoded;
    EncodeValues(codec, CodecOptionsOf(options_.compression),
                 reinterpret_cast<const float*>(values.data()),
                 static_cast<int64_t>(values.size() / sizeof(float)),
                 &encoded);
    values = std::move(encoded);
    request.set_codec(codec);
  }
  request.set_values(std::move(values));
  return request.SerializeAsString();
}

absl::Status PsClient::Run(const std::vector<Stage*>& stages) {
  CallSet all;
  std::vector<int> first;  // index of each stage's first call in `all`
  for (Stage* st : stages) {
    first.push_back(static_cast<int>(all.stubs.size()));
    AppendCalls(st->calls, &st->op, &all);
  }
  // The stage of call i, and i's index within it.
  auto locate = [&](int i) {
    size_t k = stages.size() - 1;
    while (i < first[k]) --k;
    return std::pair<Stage*, int>(stages[k], i - first[k]);
  };
  auto prepare = [&](int i) {
    auto [st, j] = locate(i);
    st->prepare(j);
  };
  CallBatch::OnResponse on_response;
  for (Stage* st : stages) {
    if (st->on_response) {
      on_response = [&](int i, grpc::ByteBuffer* response) -> absl::Status {
        auto [st, j] = locate(i);
        return st->on_response ? st->on_response(j, response)
                               : absl::OkStatus();
      };
    }
  }
  absl::Status status = Execute(all, prepare, on_response);
  for (Stage* st : stages) {
    if (status.ok() && st->finish) st->finish();
    if (st->cleanup) st->cleanup();
  }
  return AwaitLoans(stages, status);
}

absl::Status PsClient::AwaitLoans(const std::vector<Stage*>& stages,
                                  const absl::Status& status) const {
  for (Stage* st : stages) {
    if (st->loan == nullptr) continue;
    // Immediate after answered calls; after a failed one, gRPC lets go when
    // the connection holding its queued bytes closes, which keepalive
    // bounds.
    if (st->loan->AwaitReturn(absl::Now() + kMaxTransportHold)) continue;
    return absl::InternalError(
        absl::StrCat("job ", job_id_, ": push: gRPC still holds ",
                     st->loan->out(), " slices of the caller's gradients ",
                     absl::FormatDuration(kMaxTransportHold),
                     " after the call ended; that memory must stay valid (",
                     status.ToString(), ")"));
  }
  return status;
}

CallSet PsClient::DenseCalls(Plan* plan, const std::string& method,
                             const std::vector<bool>& folded,
                             std::vector<int>* chunk_of) const {
  CallSet calls;
  chunk_of->clear();
  for (size_t i = 0; i < plan->chunks.size(); ++i) {
    if (folded[i]) continue;
    chunk_of->push_back(static_cast<int>(i));
    calls.stubs.push_back(plan->stubs[i]);
    calls.requests.push_back(&plan->requests[i]);
    calls.servers.push_back(plan->chunks[i].server_index);
    calls.methods.push_back(&method);
    calls.bytes += plan->chunks[i].values * int64_t{sizeof(float)};
  }
  return calls;
}

void PsClient::AddCall(CallSet* calls, int server_index,
                       grpc::ByteBuffer* request, const std::string& method) {
  const Server& server = servers_[server_index];
  uint32_t& k = next_stub_[server_index];
  calls->stubs.push_back(server.stubs[k].get());
  k = (k + 1) % server.stubs.size();
  calls->requests.push_back(request);
  calls->servers.push_back(server_index);
  calls->methods.push_back(&method);
}

absl::Status PsClient::UpdatePlan(const std::vector<TableRef>& refs,
                                  Plan* plan) {
  if (plan->valid && plan->refs == refs) return absl::OkStatus();
  absl::StatusOr<std::vector<Chunk>> chunks = PlanChunks(
      map_, refs,
      ChunkValues(refs, static_cast<int>(servers_.size()),
                  options_.channels_per_server, options_.chunk_bytes),
      /*taper_min_values=*/kMinSplitChunkBytes / sizeof(float));
  if (!chunks.ok()) return chunks.status();
  Plan fresh;
  fresh.refs = refs;
  fresh.chunks = *std::move(chunks);
  const size_t n = fresh.chunks.size();
  std::vector<int32_t> server_chunks(servers_.size(), 0);
  for (const Chunk& chunk : fresh.chunks) {
    const Server& server = servers_[chunk.server_index];
    int32_t& k = server_chunks[chunk.server_index];
    fresh.stubs.push_back(server.stubs[k++ % server.stubs.size()].get());
  }
  fresh.requests.resize(n);
  fresh.pull_prefixes.resize(n);
  fresh.staleness.resize(n);
  fresh.push_prefixes.resize(n);
  fresh.valid = true;
  *plan = std::move(fresh);
  return absl::OkStatus();
}

void PsClient::PreparePull(Plan* plan, int i, const grpc::Slice& clock_field) {
  grpc::Slice& prefix = plan->pull_prefixes[i];
  if (prefix.size() == 0) {
    prefix = grpc::Slice(PullRequestBytes(job_id_, map_.epoch(),
                                          plan->chunks[i],
                                          options_.compression.pull()));
  }
  const grpc::Slice parts[2] = {prefix, clock_field};
  plan->requests[i] = grpc::ByteBuffer(parts, clock_field.size() == 0 ? 1 : 2);
  plan->staleness[i] = 0;
}

void PsClient::PreparePush(Plan* plan, int i, const float* grads, int64_t clock,
                           int32_t clock_pushes, uint64_t seq, Loan* loan) {
  const Chunk& chunk = plan->chunks[i];
  const v1::ValueCodec codec = options_.compression.push();
  std::string& prefix = plan->push_prefixes[i];
  if (prefix.empty()) {
    prefix = PushRequestPrefix(job_id_, map_.epoch(), options_.worker_id,
                               chunk, codec);
  }
  if (codec != v1::FLOAT32) {
    // The chunk's values in one run, encoded whole; with error feedback,
    // what the encoding lost goes back to the residual, piece by piece.
    std::vector<float> values(chunk.values), lost;
    int64_t at = 0;
    for (const RoutedSlice& piece : chunk.pieces) {
      std::copy_n(grads + piece.buffer_offset, piece.count,
                  values.begin() + at);
      at += piece.count;
    }
    std::string encoded;
    const CodecOptions codec_options = CodecOptionsOf(options_.compression);
    if (UsesErrorFeedback(options_.compression)) {
      lost.resize(chunk.values);
      EncodeValuesWithLoss(codec, codec_options, values.data(), chunk.values,
                           lost.data(), &encoded);
      at = 0;
      for (const RoutedSlice& piece : chunk.pieces) {
        std::copy_n(lost.begin() + at, piece.count,
                    feedback_.residual.begin() + piece.buffer_offset);
        at += piece.count;
      }
    } else {
      EncodeValues(codec, codec_options, values.data(), chunk.values,
                   &encoded);
    }
    const grpc::Slice parts[2] = {
        grpc::Slice(absl::StrCat(
            prefix, PushRequestTail(seq, clock, clock_pushes,
                                    static_cast<int64_t>(encoded.size())))),
        grpc::Slice(encoded)};
    plan->requests[i] = grpc::ByteBuffer(parts, 2);
    return;
  }
  const int64_t value_bytes = chunk.values * int64_t{sizeof(float)};
  std::vector<grpc::Slice> parts;
  parts.reserve(1 + chunk.pieces.size());
  parts.emplace_back(absl::StrCat(
      prefix, PushRequestTail(seq, clock, clock_pushes, value_bytes)));
  for (const RoutedSlice& piece : chunk.pieces) {
    parts.push_back(
        loan->Lend(grads + piece.buffer_offset, piece.count * sizeof(float)));
  }
  plan->requests[i] = grpc::ByteBuffer(parts.data(), parts.size());
}

const float* PsClient::WithFeedback(const std::vector<TableRef>& refs,
                                   const float* grads) {
  if (!UsesErrorFeedback(options_.compression) || grads == nullptr) {
    return grads;
  }
  int64_t extent = 0;
  for (const TableRef& r : refs) {
    extent = std::max(extent, r.buffer_offset + r.count);
  }
  if (feedback_.refs != refs ||
      static_cast<int64_t>(feedback_.residual.size()) != extent) {
    // Other refs: what was lost belongs to other values. Start afresh.
    feedback_.refs = refs;
    feedback_.residual.assign(extent, 0.0f);
    feedback_.meant.assign(extent, 0.0f);
  }
  for (const TableRef& r : refs) {
    for (int64_t i = r.buffer_offset; i < r.buffer_offset + r.count; ++i) {
      feedback_.meant[i] = grads[i] + feedback_.residual[i];
    }
  }
  return feedback_.meant.data();
}

absl::Status PsClient::Execute(const CallSet& calls, const PrepareFn& prepare,
                               const CallBatch::OnResponse& on_response) {
  return RunCalls(
      calls, prepare, on_response, options_,
      [&](int i) {
        failed_.push_back(calls.servers[i]);
        return absl::StrCat("job ", job_id_, ": ", *calls.ops[i], " ",
                            servers_[calls.servers[i]].label);
      },
      map_.epoch());
}

}  // namespace ps::client
