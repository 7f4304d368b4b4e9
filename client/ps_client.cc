#include "client/ps_client.h"

#include <algorithm>
#include <cstring>
#include <numeric>
#include <utility>

#include "absl/memory/memory.h"
#include "absl/strings/str_cat.h"
#include "common/status.h"

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
  return absl::OkStatus();
}

std::string ServerLabel(const v1::ServerEndpoint& server, int index) {
  const std::string name = server.member_id().empty() ? absl::StrCat("#", index)
                                                      : server.member_id();
  return absl::StrCat("server ", name, " at ", server.address());
}

// Calls moving at most this many value bytes are latency-bound (a small
// model's step): their wait polls for up to kSmallCallSpin before blocking.
constexpr int64_t kSmallCallBytes = 256 << 10;
constexpr absl::Duration kSmallCallSpin = absl::Microseconds(100);

absl::Duration Backoff(int attempt) {
  return std::min(absl::Milliseconds(100) * (1 << std::min(attempt - 1, 4)),
                  absl::Seconds(1));
}

}  // namespace

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
      next_seq_(static_cast<uint64_t>(absl::ToUnixMicros(absl::Now()))) {}

absl::Status PsClient::Pull(const std::vector<TableRef>& refs, float* buffer) {
  return Pull(refs, buffer, /*clock=*/0, /*staleness=*/nullptr);
}

absl::Status PsClient::Pull(const std::vector<TableRef>& refs, float* buffer,
                            int64_t clock, int64_t* staleness) {
  const std::string op = absl::StrCat("job ", job_id_, ": pull");
  if (clock < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": clock ", clock, " must be >= 0"));
  }
  if (absl::Status s = UpdatePlan(refs, &pull_plan_); !s.ok()) {
    return Annotate(s, op);
  }
  Plan* plan = &pull_plan_;
  const grpc::Slice clock_field =
      clock == 0 ? grpc::Slice()
                 : grpc::Slice(VarintField(v1::PullRequest::kClockFieldNumber,
                                           static_cast<uint64_t>(clock)));
  auto prepare = [this, plan, &clock_field](int i) {
    PreparePull(plan, i, clock_field);
  };
  auto scatter = [plan, buffer](int i, grpc::ByteBuffer* response) {
    return ScatterPullResponse(response, plan->chunks[i], buffer,
                               &plan->staleness[i]);
  };
  absl::Status status =
      Execute("pull from", PullMethod(), plan, prepare, scatter);
  if (status.ok() && staleness != nullptr) {
    *staleness = 0;
    for (int64_t s : plan->staleness) *staleness = std::max(*staleness, s);
  }
  return status;
}

absl::Status PsClient::Push(const std::vector<TableRef>& refs,
                            const float* grads) {
  return Push(refs, grads, /*clock=*/0);
}

absl::Status PsClient::Push(const std::vector<TableRef>& refs,
                            const float* grads, int64_t clock) {
  const std::string op = absl::StrCat("job ", job_id_, ": push");
  if (clock < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat(op, ": clock ", clock, " must be >= 0"));
  }
  if (absl::Status s = UpdatePlan(refs, &push_plan_); !s.ok()) {
    return Annotate(s, op);
  }
  Plan* plan = &push_plan_;
  auto prepare = [this, plan, grads, clock](int i) {
    PreparePush(plan, i, grads, clock);
  };
  absl::Status status =
      Execute("push to", PushMethod(), plan, prepare, /*on_response=*/nullptr);
  // Drop this side's references, so a send buffer reads as idle as soon as
  // gRPC has finished with it.
  for (grpc::ByteBuffer& request : plan->requests) request.Clear();
  return status;
}

absl::Status PsClient::UpdatePlan(const std::vector<TableRef>& refs,
                                  Plan* plan) {
  if (plan->valid && plan->refs == refs) return absl::OkStatus();
  absl::StatusOr<std::vector<Chunk>> chunks = PlanChunks(
      map_, refs, options_.chunk_bytes / static_cast<int64_t>(sizeof(float)));
  if (!chunks.ok()) return chunks.status();
  Plan fresh;
  fresh.refs = refs;
  fresh.chunks = *std::move(chunks);
  const size_t n = fresh.chunks.size();
  for (const Chunk& chunk : fresh.chunks) {
    fresh.bytes += chunk.values * int64_t{sizeof(float)};
  }
  fresh.server_chunks.assign(servers_.size(), 0);
  for (const Chunk& chunk : fresh.chunks) {
    const Server& server = servers_[chunk.server_index];
    int32_t& k = fresh.server_chunks[chunk.server_index];
    fresh.stubs.push_back(server.stubs[k++ % server.stubs.size()].get());
  }
  fresh.requests.resize(n);
  fresh.pull_prefixes.resize(n);
  fresh.staleness.resize(n);
  fresh.push_prefixes.resize(n);
  fresh.send.resize(n);
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

void PsClient::PreparePush(Plan* plan, int i, const float* grads,
                           int64_t clock) {
  const Chunk& chunk = plan->chunks[i];
  std::string& prefix = plan->push_prefixes[i];
  if (prefix.empty()) {
    prefix = PushRequestPrefix(job_id_, map_.epoch(), options_.worker_id,
                               plan->server_chunks[chunk.server_index], chunk);
  }
  const int64_t value_bytes = chunk.values * int64_t{sizeof(float)};
  const std::string tail = PushRequestTail(next_seq_++, clock, value_bytes);
  std::shared_ptr<SharedBytes>& send = plan->send[i];
  if (send == nullptr || send->busy()) send = SharedBytes::Make();
  char* out = send->Resize(prefix.size() + tail.size() + value_bytes);
  std::memcpy(out, prefix.data(), prefix.size());
  out += prefix.size();
  std::memcpy(out, tail.data(), tail.size());
  out += tail.size();
  for (const RoutedSlice& piece : chunk.pieces) {
    const size_t bytes = piece.count * sizeof(float);
    std::memcpy(out, grads + piece.buffer_offset, bytes);
    out += bytes;
  }
  plan->requests[i] = SharedBytes::Share(send);
}

absl::Status PsClient::Execute(absl::string_view op, const std::string& method,
                               Plan* plan, const PrepareFn& prepare,
                               const CallBatch::OnResponse& on_response) {
  std::vector<int> todo(plan->chunks.size());
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
                      std::move(consume));
      for (size_t k = 0; k < todo.size(); ++k) {
        const int i = todo[k];
        if (attempt == 1) prepare(i);
        batch.Start(static_cast<int>(k), plan->stubs[i], method,
                    plan->requests[i]);
      }
      results =
          batch.Wait(plan->bytes <= kSmallCallBytes ? kSmallCallSpin
                                                    : absl::ZeroDuration());
    }
    std::vector<int> retry;
    for (size_t k = 0; k < todo.size(); ++k) {
      if (results[k].ok()) continue;
      if (absl::IsUnavailable(results[k]) && attempt < options_.max_attempts) {
        retry.push_back(todo[k]);
        continue;
      }
      const Server& server = servers_[plan->chunks[todo[k]].server_index];
      return Annotate(results[k], absl::StrCat("job ", job_id_, ": ", op, " ",
                                               server.label));
    }
    todo = std::move(retry);
    if (!todo.empty()) absl::SleepFor(Backoff(attempt));
  }
  return absl::OkStatus();
}

}  // namespace ps::client
