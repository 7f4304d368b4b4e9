#include "client/ps_client.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <thread>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "common/status.h"
#include "grpcpp/support/proto_buffer_reader.h"

namespace ps::client {
namespace {

const std::string& PullMethod() {
  static const auto* method = new std::string("/ps.v1.ParameterServer/Pull");
  return *method;
}

const std::string& PushMethod() {
  static const auto* method = new std::string("/ps.v1.ParameterServer/Push");
  return *method;
}

absl::Status ValidateOptions(const PsClientOptions& o) {
  if (o.small_call_spin < absl::ZeroDuration() ||
      o.small_call_spin > absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "small_call_spin ", absl::FormatDuration(o.small_call_spin),
        " must be in [0, 1ms]"));
  }
  if (o.rpc_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rpc_timeout ", absl::FormatDuration(o.rpc_timeout), " must be > 0"));
  }
  if (o.max_attempts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts ", o.max_attempts, " must be >= 1"));
  }
  if (o.chunk_bytes < 4 || o.chunk_bytes > kMaxMessageBytes / 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_bytes ", o.chunk_bytes, " must be in [4, ",
                     kMaxMessageBytes / 2, "]"));
  }
  if (o.channels_per_server < 1 || o.channels_per_server > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "channels_per_server ", o.channels_per_server, " must be in [1, 64]"));
  }
  return absl::OkStatus();
}

absl::Status ValidateMap(const v1::PartitionMap& map) {
  if (map.servers_size() == 0) {
    return absl::InvalidArgumentError("partition map has no servers");
  }
  for (int i = 0; i < map.servers_size(); ++i) {
    if (map.servers(i).address().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("partition map: servers[", i, "].address is empty"));
    }
  }
  for (const v1::DenseRange& r : map.ranges()) {
    if (r.server_index() < 0 || r.server_index() >= map.servers_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "partition map: a range of table ", r.table(), " names server_index ",
          r.server_index(), "; the map has ", map.servers_size(), " servers"));
    }
  }
  if (map.partition_servers_size() !=
      static_cast<int64_t>(map.sparse_partitions())) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition map: ", map.partition_servers_size(),
                     " partition_servers for ", map.sparse_partitions(),
                     " sparse_partitions; expected one per partition"));
  }
  for (int p = 0; p < map.partition_servers_size(); ++p) {
    if (map.partition_servers(p) < 0 ||
        map.partition_servers(p) >= map.servers_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("partition map: partition ", p, " names server_index ",
                       map.partition_servers(p), "; the map has ",
                       map.servers_size(), " servers"));
    }
  }
  return absl::OkStatus();
}

std::string ServerLabel(const v1::ServerEndpoint& server, int index) {
  const std::string name = server.member_id().empty() ? absl::StrCat("#", index)
                                                      : server.member_id();
  return absl::StrCat("server ", name, " at ", server.address());
}

// Calls moving at most this many value bytes are latency-bound (a small
// model's step): their wait polls for up to PsClientOptions::small_call_spin
// before blocking.
constexpr int64_t kSmallCallBytes = 256 << 10;
// Dense requests are not split below this (see ChunkValues), and the end
// of each server's part of a call is cut down to requests of this size
// (PlanChunks' taper). Measured with bench/dataplane_bench, three
// alternating runs with and without the taper, when requests were 4 MiB
// (kDefaultChunkBytes is now 2 MiB): a 16 MB push to one server 2.84 / 2.96
// / 2.73 -> 2.93 / 3.31 / 3.07 GB/s, pull 2.86 / 2.88 / 2.50 -> 2.99 / 3.38
// / 3.25 GB/s, p50 of a call 6.2 / 5.6 / 6.4 -> 5.5 / 5.0 / 5.3 ms; 64 MB and
// two servers within noise.
constexpr int64_t kMinSplitChunkBytes = 512 << 10;

absl::Duration Backoff(int attempt) {
  return std::min(absl::Milliseconds(100) * (1 << std::min(attempt - 1, 4)),
                  absl::Seconds(1));
}

}  // namespace

absl::Duration DefaultSmallCallSpin() {
  return std::thread::hardware_concurrency() >= 4 ? absl::Microseconds(100)
                                                  : absl::ZeroDuration();
}

absl::StatusOr<std::unique_ptr<PsClient>> PsClient::Create(
    std::string job_id, v1::PartitionMap map, PsClientOptions options) {
  if (job_id.empty()) return absl::InvalidArgumentError("job_id is empty");
  if (absl::Status s = ValidateOptions(options); !s.ok()) return s;
  if (absl::Status s = ValidateMap(map); !s.ok()) return s;
  std::vector<Server> servers(map.servers_size());
  for (int i = 0; i < map.servers_size(); ++i) {
    servers[i].label = ServerLabel(map.servers(i), i);
    for (int c = 0; c < options.channels_per_server; ++c) {
      servers[i].stubs.push_back(std::make_unique<grpc::GenericStub>(
          MakeChannel(map.servers(i).address(), c)));
    }
  }
  return absl::WrapUnique(new PsClient(std::move(job_id), std::move(map),
                                       std::move(options), std::move(servers)));
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
  std::vector<SparseRequest> sparse;
  std::vector<int> dims;
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
  absl::StatusOr<std::unique_ptr<Stage>> pull =
      StagePull(refs, buffer, sparse, clock, staleness);
  if (!pull.ok()) return pull.status();
  return Run({pull->get()});
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
  absl::StatusOr<std::unique_ptr<Stage>> push =
      StagePush(refs, grads, sparse, clock);
  if (!push.ok()) return push.status();
  return Run({push->get()});
}

absl::Status PsClient::PushAndPull(
    const std::vector<TableRef>& push_refs, const float* grads,
    const std::vector<SparsePushRef>& push_sparse, int64_t push_clock,
    const std::vector<TableRef>& pull_refs, float* buffer,
    const std::vector<SparsePullRef>& pull_sparse, int64_t pull_clock,
    int64_t* staleness) {
  absl::StatusOr<std::unique_ptr<Stage>> push =
      StagePush(push_refs, grads, push_sparse, push_clock);
  if (!push.ok()) return push.status();
  absl::StatusOr<std::unique_ptr<Stage>> pull =
      StagePull(pull_refs, buffer, pull_sparse, pull_clock, staleness);
  if (!pull.ok()) return pull.status();
  return Run({push->get(), pull->get()});
}

absl::StatusOr<std::unique_ptr<PsClient::Stage>> PsClient::StartStage(
    absl::string_view kind, int64_t clock, const std::vector<TableRef>& refs,
    const std::vector<SparseKeys>& tables, Plan* plan,
    std::vector<bool>* folded) {
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
  absl::StatusOr<std::vector<SparseRequest>> routed =
      RouteSparse(tables, &stage->dims);
  if (!routed.ok()) return Annotate(routed.status(), op);
  stage->sparse = *std::move(routed);
  *folded = FoldDenseChunks(*plan, &stage->sparse);
  return stage;
}

absl::StatusOr<std::unique_ptr<PsClient::Stage>> PsClient::StagePull(
    const std::vector<TableRef>& refs, float* buffer,
    const std::vector<SparsePullRef>& sparse, int64_t clock,
    int64_t* staleness) {
  std::vector<SparseKeys> tables;
  for (const SparsePullRef& ref : sparse) {
    tables.push_back({&ref.table, ref.keys, ref.rows != nullptr});
  }
  Plan* plan = &pull_plan_;
  std::vector<bool> folded;
  absl::StatusOr<std::unique_ptr<Stage>> stage =
      StartStage("pull", clock, refs, tables, plan, &folded);
  if (!stage.ok()) return stage.status();
  Stage* st = stage->get();
  st->calls = DenseCalls(plan, PullMethod(), folded, &st->chunk_of);
  const int dense_calls = static_cast<int>(st->calls.stubs.size());
  for (SparseRequest& r : st->sparse) {
    v1::PullRequest request;
    request.set_job_id(job_id_);
    request.set_epoch(map_.epoch());
    request.set_clock(clock);
    for (int c : r.dense_chunks) {
      for (const RoutedSlice& piece : plan->chunks[c].pieces) {
        v1::DenseSlice* slice = request.add_slices();
        slice->set_table(piece.table);
        slice->set_offset(piece.offset);
        slice->set_count(piece.count);
      }
    }
    std::string* keys = request.mutable_keys();
    keys->resize(r.keys.size() * sizeof(uint64_t));
    char* out = keys->data();
    for (const uint64_t* key : r.keys) {
      std::memcpy(out, key, sizeof(uint64_t));
      out += sizeof(uint64_t);
    }
    for (const auto& [ref, count] : r.slices) {
      v1::SparseSlice* slice = request.add_sparse();
      slice->set_table(sparse[ref].table);
      slice->set_keys(count);
    }
    grpc::Slice bytes(request.SerializeAsString());
    r.request = grpc::ByteBuffer(&bytes, 1);
    AddCall(&st->calls, r.server_index, &r.request, PullMethod());
    st->calls.bytes += (r.dense_values + r.values) * int64_t{sizeof(float)};
  }
  if (clock != 0) {
    st->clock_field = grpc::Slice(VarintField(
        v1::PullRequest::kClockFieldNumber, static_cast<uint64_t>(clock)));
  }
  st->prepare = [this, plan, dense_calls, st](int i) {
    if (i < dense_calls) PreparePull(plan, st->chunk_of[i], st->clock_field);
  };
  // Sparse rows go to the caller's rows pointers, captured per ref.
  std::vector<float*> rows;
  for (const SparsePullRef& ref : sparse) rows.push_back(ref.rows);
  st->on_response = [plan, buffer, dense_calls, st, rows = std::move(rows)](
                        int i, grpc::ByteBuffer* response) -> absl::Status {
    if (i < dense_calls) {
      const int c = st->chunk_of[i];
      return ScatterPullResponse(response, plan->chunks[c], buffer,
                                 &plan->staleness[c]);
    }
    SparseRequest& r = st->sparse[i - dense_calls];
    v1::PullResponse parsed;
    grpc::ProtoBufferReader reader(response);
    if (!parsed.ParseFromZeroCopyStream(&reader)) {
      return absl::DataLossError("sparse pull response is not a PullResponse");
    }
    const int64_t expected =
        (r.dense_values + r.values) * int64_t{sizeof(float)};
    if (static_cast<int64_t>(parsed.values().size()) != expected) {
      return absl::DataLossError(
          absl::StrCat("pull answered ", parsed.values().size(),
                       " bytes of values; expected ", expected));
    }
    const char* in = parsed.values().data();
    for (int c : r.dense_chunks) {
      for (const RoutedSlice& piece : plan->chunks[c].pieces) {
        const size_t bytes = piece.count * sizeof(float);
        std::memcpy(buffer + piece.buffer_offset, in, bytes);
        in += bytes;
      }
    }
    size_t row = 0;
    for (const auto& [ref, count] : r.slices) {
      const int dim = st->dims[ref];
      const size_t bytes = dim * sizeof(float);
      for (int64_t k = 0; k < count; ++k, ++row) {
        std::memcpy(rows[ref] + r.rows[row] * dim, in, bytes);
        in += bytes;
      }
    }
    r.staleness = parsed.staleness();
    return absl::OkStatus();
  };
  for (size_t c = 0; c < folded.size(); ++c) {
    if (folded[c]) plan->staleness[c] = 0;
  }
  if (staleness != nullptr) {
    st->finish = [plan, st, staleness] {
      *staleness = 0;
      for (int64_t s : plan->staleness) *staleness = std::max(*staleness, s);
      for (const SparseRequest& r : st->sparse) {
        *staleness = std::max(*staleness, r.staleness);
      }
    };
  }
  return stage;
}

absl::StatusOr<std::unique_ptr<PsClient::Stage>> PsClient::StagePush(
    const std::vector<TableRef>& refs, const float* grads,
    const std::vector<SparsePushRef>& sparse, int64_t clock) {
  std::vector<SparseKeys> tables;
  for (const SparsePushRef& ref : sparse) {
    tables.push_back({&ref.table, ref.keys, ref.grads != nullptr});
  }
  Plan* plan = &push_plan_;
  std::vector<bool> folded;
  absl::StatusOr<std::unique_ptr<Stage>> stage =
      StartStage("push", clock, refs, tables, plan, &folded);
  if (!stage.ok()) return stage.status();
  Stage* st = stage->get();
  // A worker's clock advances on a server once all of that clock's pushes
  // arrived there; with sparse tables every server must hear of every clock.
  st->per_server.assign(servers_.size(), 0);
  for (size_t c = 0; c < plan->chunks.size(); ++c) {
    if (!folded[c]) ++st->per_server[plan->chunks[c].server_index];
  }
  for (const SparseRequest& r : st->sparse) ++st->per_server[r.server_index];
  if (map_.sparse_partitions() > 0 && !options_.worker_id.empty()) {
    for (size_t s = 0; s < servers_.size(); ++s) {
      if (st->per_server[s] > 0) continue;
      SparseRequest& empty = st->sparse.emplace_back();
      empty.server_index = static_cast<int>(s);
      st->per_server[s] = 1;
    }
  }
  st->calls = DenseCalls(plan, PushMethod(), folded, &st->chunk_of);
  const int dense_calls = static_cast<int>(st->calls.stubs.size());
  for (SparseRequest& r : st->sparse) {
    v1::PushRequest request;
    request.set_job_id(job_id_);
    request.set_epoch(map_.epoch());
    request.set_worker_id(options_.worker_id);
    request.set_seq(next_seq_++);
    request.set_clock(clock);
    request.set_clock_pushes(st->per_server[r.server_index]);
    std::string* keys = request.mutable_keys();
    keys->resize(r.keys.size() * sizeof(uint64_t));
    std::string* values = request.mutable_values();
    values->resize((r.dense_values + r.values) * sizeof(float));
    char* key_out = keys->data();
    char* value_out = values->data();
    for (int c : r.dense_chunks) {
      for (const RoutedSlice& piece : plan->chunks[c].pieces) {
        v1::DenseSlice* slice = request.add_slices();
        slice->set_table(piece.table);
        slice->set_offset(piece.offset);
        slice->set_count(piece.count);
        const size_t bytes = piece.count * sizeof(float);
        std::memcpy(value_out, grads + piece.buffer_offset, bytes);
        value_out += bytes;
      }
    }
    size_t row = 0;
    for (const auto& [ref, count] : r.slices) {
      v1::SparseSlice* slice = request.add_sparse();
      slice->set_table(sparse[ref].table);
      slice->set_keys(count);
      const int dim = st->dims[ref];
      const size_t bytes = dim * sizeof(float);
      for (int64_t k = 0; k < count; ++k, ++row) {
        std::memcpy(key_out, r.keys[row], sizeof(uint64_t));
        key_out += sizeof(uint64_t);
        std::memcpy(value_out, sparse[ref].grads + r.rows[row] * dim, bytes);
        value_out += bytes;
      }
    }
    grpc::Slice bytes(request.SerializeAsString());
    r.request = grpc::ByteBuffer(&bytes, 1);
    AddCall(&st->calls, r.server_index, &r.request, PushMethod());
    st->calls.bytes += (r.dense_values + r.values) * int64_t{sizeof(float)};
  }
  st->loan = std::make_unique<Loan>();
  st->prepare = [this, plan, grads, clock, dense_calls, st](int i) {
    if (i < dense_calls) {
      const int c = st->chunk_of[i];
      PreparePush(plan, c, grads, clock,
                  st->per_server[plan->chunks[c].server_index], st->loan.get());
    }
  };
  // Drop this side's references, so that only gRPC's keep the loan out.
  st->cleanup = [plan] {
    for (grpc::ByteBuffer& request : plan->requests) request.Clear();
  };
  return stage;
}

absl::Status PsClient::Run(const std::vector<Stage*>& stages) {
  CallSet all;
  std::vector<int> first;  // index of each stage's first call in `all`
  for (Stage* st : stages) {
    first.push_back(static_cast<int>(all.stubs.size()));
    const CallSet& c = st->calls;
    all.stubs.insert(all.stubs.end(), c.stubs.begin(), c.stubs.end());
    all.requests.insert(all.requests.end(), c.requests.begin(),
                        c.requests.end());
    all.servers.insert(all.servers.end(), c.servers.begin(), c.servers.end());
    all.methods.insert(all.methods.end(), c.methods.begin(), c.methods.end());
    all.ops.insert(all.ops.end(), c.stubs.size(), &st->op);
    all.bytes += c.bytes;
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

absl::StatusOr<std::vector<PsClient::SparseRequest>> PsClient::RouteSparse(
    const std::vector<SparseKeys>& tables, std::vector<int>* dims) const {
  std::vector<SparseRequest> out;
  dims->clear();
  if (tables.empty()) return out;
  for (const SparseKeys& t : tables) {
    const std::string* name = t.table;
    const v1::TableDef* def = nullptr;
    for (const v1::TableDef& d : map_.tables()) {
      if (d.name() == *name) def = &d;
    }
    if (def == nullptr) {
      return absl::NotFoundError(absl::StrCat(
          "table ", *name, " is not in partition map epoch ", map_.epoch()));
    }
    if (def->kind() != v1::SPARSE) {
      return absl::InvalidArgumentError(absl::StrCat(
          "table ", *name, " is DENSE; sparse keys need a SPARSE table"));
    }
    if (def->dim() < 1) {
      return absl::InvalidArgumentError(absl::StrCat(
          "sparse table ", *name, " has dim ", def->dim(),
          " in partition map epoch ", map_.epoch(), "; it must be >= 1"));
    }
    dims->push_back(def->dim());
  }
  const uint32_t partitions = map_.sparse_partitions();
  if (partitions == 0 ||
      map_.partition_servers_size() != static_cast<int>(partitions)) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition map epoch ", map_.epoch(), " has ", partitions,
                     " sparse partitions and ", map_.partition_servers_size(),
                     " partition servers; expected equal and >= 1"));
  }
  // A request's rows and keys together stay within chunk_bytes (at least
  // one row per request).
  // The request each server is filling now, as an index into `out`.
  std::vector<int> open(servers_.size(), -1);
  // Key indexes of each (server, ref), gathered ref by ref.
  std::vector<std::vector<int64_t>> by_server(servers_.size());
  for (size_t ref = 0; ref < tables.size(); ++ref) {
    const absl::Span<const uint64_t> keys = tables[ref].keys;
    const int dim = (*dims)[ref];
    for (auto& v : by_server) v.clear();
    for (size_t i = 0; i < keys.size(); ++i) {
      const int server =
          map_.partition_servers(SparsePartition(keys[i], partitions));
      by_server[server].push_back(static_cast<int64_t>(i));
    }
    const int64_t row_bytes = dim * int64_t{sizeof(float)} + 8;
    for (size_t s = 0; s < servers_.size(); ++s) {
      for (int64_t i : by_server[s]) {
        // An open request holds at least one row, so a row bigger than
        // chunk_bytes still goes, alone.
        if (open[s] < 0 ||
            out[open[s]].values * int64_t{sizeof(float)} +
                    static_cast<int64_t>(out[open[s]].keys.size()) * 8 +
                    row_bytes >
                options_.chunk_bytes) {
          open[s] = static_cast<int>(out.size());
          out.emplace_back().server_index = static_cast<int>(s);
        }
        SparseRequest& r = out[open[s]];
        if (r.slices.empty() ||
            r.slices.back().first != static_cast<int>(ref)) {
          r.slices.emplace_back(static_cast<int>(ref), 0);
        }
        ++r.slices.back().second;
        r.keys.push_back(&keys[i]);
        r.rows.push_back(i);
        r.values += dim;
      }
    }
  }
  return out;
}

std::vector<bool> PsClient::FoldDenseChunks(
    const Plan& plan, std::vector<SparseRequest>* sparse) const {
  std::vector<bool> folded(plan.chunks.size(), false);
  if (sparse->empty()) return folded;
  std::vector<SparseRequest*> first(servers_.size(), nullptr);
  for (SparseRequest& r : *sparse) {
    if (first[r.server_index] == nullptr) first[r.server_index] = &r;
  }
  for (size_t c = 0; c < plan.chunks.size(); ++c) {
    const Chunk& chunk = plan.chunks[c];
    SparseRequest* r = first[chunk.server_index];
    // Big chunks keep their own RPC and its copy-free path, and a request
    // takes no more than fits in chunk_bytes (keys included).
    if (r == nullptr ||
        chunk.values * int64_t{sizeof(float)} > kSmallCallBytes ||
        (r->values + r->dense_values + chunk.values) * int64_t{sizeof(float)} +
                static_cast<int64_t>(r->keys.size()) * 8 >
            options_.chunk_bytes) {
      continue;
    }
    r->dense_chunks.push_back(static_cast<int>(c));
    r->dense_values += chunk.values;
    folded[c] = true;
  }
  return folded;
}

int64_t PsClient::ChunkValues(const std::vector<TableRef>& refs) const {
  // Split a call into at least one request per connection (a 1 MB pull to
  // one server as two of 512 KB, over its two connections), so that both
  // connections and both ends' threads work on it, but into requests of no
  // less than kMinSplitChunkBytes (a 1 MB call to two servers is one request
  // to each, not two) nor more than chunk_bytes. Measured with
  // bench/dataplane_bench: two servers, 1 MB pushes as 4 x 256 KB ran at
  // 1.1-2.0 GB/s, as 2 x 512 KB at 1.9-2.8 GB/s; smaller requests than
  // that were slower still.
  int64_t values = 0;
  for (const TableRef& r : refs) values += std::max<int64_t>(r.count, 0);
  const int64_t ways =
      static_cast<int64_t>(servers_.size()) * options_.channels_per_server;
  const int64_t even = (values + ways - 1) / ways;
  const int64_t max_values = options_.chunk_bytes / int64_t{sizeof(float)};
  const int64_t min_values = std::min(
      max_values, kMinSplitChunkBytes / static_cast<int64_t>(sizeof(float)));
  return std::clamp(even, min_values, max_values);
}

PsClient::CallSet PsClient::DenseCalls(Plan* plan, const std::string& method,
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
  absl::StatusOr<std::vector<Chunk>> chunks =
      PlanChunks(map_, refs, ChunkValues(refs),
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
    prefix =
        grpc::Slice(PullRequestBytes(job_id_, map_.epoch(), plan->chunks[i]));
  }
  const grpc::Slice parts[2] = {prefix, clock_field};
  plan->requests[i] = grpc::ByteBuffer(parts, clock_field.size() == 0 ? 1 : 2);
  plan->staleness[i] = 0;
}

void PsClient::PreparePush(Plan* plan, int i, const float* grads, int64_t clock,
                           int32_t clock_pushes, Loan* loan) {
  const Chunk& chunk = plan->chunks[i];
  std::string& prefix = plan->push_prefixes[i];
  if (prefix.empty()) {
    prefix =
        PushRequestPrefix(job_id_, map_.epoch(), options_.worker_id, chunk);
  }
  const int64_t value_bytes = chunk.values * int64_t{sizeof(float)};
  std::vector<grpc::Slice> parts;
  parts.reserve(1 + chunk.pieces.size());
  parts.emplace_back(absl::StrCat(
      prefix, PushRequestTail(next_seq_++, clock, clock_pushes, value_bytes)));
  for (const RoutedSlice& piece : chunk.pieces) {
    parts.push_back(
        loan->Lend(grads + piece.buffer_offset, piece.count * sizeof(float)));
  }
  plan->requests[i] = grpc::ByteBuffer(parts.data(), parts.size());
}

absl::Status PsClient::Execute(const CallSet& calls, const PrepareFn& prepare,
                               const CallBatch::OnResponse& on_response) {
  std::vector<int> todo(calls.stubs.size());
  std::iota(todo.begin(), todo.end(), 0);
  for (int attempt = 1; !todo.empty(); ++attempt) {
    std::vector<absl::Status> results;
    {
      CallBatch::OnResponse consume;
      if (on_response) {
        consume = [&todo, &on_response](int k, grpc::ByteBuffer* response) {
          return on_response(todo[k], response);
        };
      }
      CallBatch batch(static_cast<int>(todo.size()), options_.rpc_timeout,
                      std::move(consume), options_.cancelled);
      for (size_t k = 0; k < todo.size(); ++k) {
        const int i = todo[k];
        if (attempt == 1) prepare(i);
        batch.Start(static_cast<int>(k), calls.stubs[i], *calls.methods[i],
                    *calls.requests[i]);
      }
      results =
          batch.Wait(calls.bytes <= kSmallCallBytes ? options_.small_call_spin
                                                    : absl::ZeroDuration());
    }
    std::vector<int> retry;
    for (size_t k = 0; k < todo.size(); ++k) {
      if (results[k].ok()) continue;
      if (absl::IsUnavailable(results[k]) && attempt < options_.max_attempts) {
        retry.push_back(todo[k]);
        continue;
      }
      const Server& server = servers_[calls.servers[todo[k]]];
      return Annotate(results[k],
                      absl::StrCat("job ", job_id_, ": ", *calls.ops[todo[k]],
                                   " ", server.label));
    }
    todo = std::move(retry);
    if (!todo.empty()) absl::SleepFor(Backoff(attempt));
  }
  return absl::OkStatus();
}

}  // namespace ps::client
