// sparse_bench: keys per second of sparse pulls and pushes through PsClient
// against real standalone ps_server processes (the shape: 8,192
// distinct keys of dimension 16 per request, 2 servers).
//
// Each round draws a fresh set of distinct keys uniformly from a key space
// of --key_space keys, so early rounds create rows (first touch) and later
// ones mostly find them; --warmup_rounds creates most rows before timing.
// Prints a Markdown table: keys/s and value throughput of pull, push and
// pull+push (a training step), p50/p99 per call, and the servers' rows and
// bytes per raw byte afterwards.
#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <random>
#include <string>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "bench/bench_cluster.h"
#include "client/ps_client.h"
#include "common/daemon.h"
#include "common/partition.h"
#include "common/rpc.h"
#include "common/status.h"
#include "proto/ps/v1/ps.grpc.pb.h"

ABSL_FLAG(std::string, server_binary, "",
          "ps_server binary; empty: bazel-bin/server/ps_server under "
          "$BUILD_WORKSPACE_DIRECTORY, else under the current directory");
ABSL_FLAG(int, servers, 2, "ps_server processes");
ABSL_FLAG(int, keys, 8192, "distinct keys per request");
ABSL_FLAG(int, dim, 16, "row width");
ABSL_FLAG(int64_t, key_space, 1 << 20, "keys are drawn from [0, key_space)");
ABSL_FLAG(std::string, optimizer, "ADAGRAD", "SGD, ADAGRAD, ADAM or FTRL");
ABSL_FLAG(int, warmup_rounds, 300, "untimed pull+push rounds first");
ABSL_FLAG(double, seconds, 2.0, "time of each measurement");
ABSL_FLAG(std::string, work_dir, "",
          "folder for server logs; empty: a new /tmp/sparse_bench.XXXXXX");

namespace ps::bench {
namespace {

using Clock = std::chrono::steady_clock;

struct Result {
  double calls_per_sec = 0;
  double p50_ms = 0, p99_ms = 0;
};

// Runs `op(round)` until --seconds pass; returns calls/s and latencies.
template <typename Op>
absl::StatusOr<Result> Time(Op op) {
  std::vector<double> ms;
  const Clock::time_point start = Clock::now();
  const double budget = absl::GetFlag(FLAGS_seconds);
  for (int round = 0;; ++round) {
    const Clock::time_point t0 = Clock::now();
    absl::Status s = op(round);
    if (!s.ok()) return s;
    ms.push_back(std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
    if (std::chrono::duration<double>(Clock::now() - start).count() >= budget) break;
  }
  const double total = std::chrono::duration<double>(Clock::now() - start).count();
  return Result{ms.size() / total, Percentile(ms, 0.5), Percentile(ms, 0.99)};
}

absl::Status Run() {
  const int n_servers = absl::GetFlag(FLAGS_servers);
  const int n_keys = absl::GetFlag(FLAGS_keys);
  const int dim = absl::GetFlag(FLAGS_dim);
  const int64_t space = absl::GetFlag(FLAGS_key_space);
  if (n_servers < 1 || n_keys < 1 || dim < 1 || space < n_keys) {
    return absl::InvalidArgumentError(
        "need --servers >= 1, --keys >= 1, --dim >= 1, --key_space >= --keys");
  }
  v1::OptimizerType type;
  if (!v1::OptimizerType_Parse(absl::GetFlag(FLAGS_optimizer), &type)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--optimizer ", absl::GetFlag(FLAGS_optimizer),
        "; allowed: SGD, ADAGRAD, ADAM, FTRL"));
  }
  absl::StatusOr<std::string> binary =
      FindServerBinary(absl::GetFlag(FLAGS_server_binary));
  if (!binary.ok()) return binary.status();
  absl::StatusOr<std::string> dir =
      MakeWorkDir(absl::GetFlag(FLAGS_work_dir), "sparse_bench");
  if (!dir.ok()) return dir.status();
  std::cerr << "logs in " << *dir << " (removed after a successful run)\n";
  absl::StatusOr<std::vector<ServerProcess>> servers =
      StartServers(*binary, n_servers, *dir);
  if (!servers.ok()) return servers.status();
  std::vector<v1::ServerEndpoint> endpoints;
  for (const ServerProcess& s : *servers) endpoints.push_back(s.endpoint);

  v1::TableDef table;
  table.set_name("embed");
  table.set_kind(v1::SPARSE);
  table.set_dim(dim);
  table.mutable_init()->set_kind(v1::Initializer::UNIFORM);
  table.mutable_init()->set_scale(0.1f);
  table.mutable_optimizer()->set_type(type);
  table.mutable_optimizer()->set_learning_rate(0.01f);
  absl::StatusOr<v1::PartitionMap> map =
      BuildPartitionMap(/*epoch=*/1, endpoints, {table});
  if (!map.ok()) return map.status();
  const std::string job_id = "sparse-bench";
  if (absl::Status s = CreateTables(job_id, *map); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<client::PsClient>> client =
      client::PsClient::Create(job_id, *map, {});
  if (!client.ok()) return client.status();

  // A pool of key sets, drawn up front so that timing excludes drawing.
  constexpr int kSets = 64;
  std::mt19937_64 rng(42);
  std::uniform_int_distribution<uint64_t> pick(0, space - 1);
  std::vector<std::vector<uint64_t>> sets(kSets);
  for (auto& set : sets) {
    absl::flat_hash_set<uint64_t> seen;
    while (static_cast<int>(set.size()) < n_keys) {
      const uint64_t k = pick(rng);
      if (seen.insert(k).second) set.push_back(k);
    }
  }
  std::vector<float> rows(static_cast<size_t>(n_keys) * dim);
  std::vector<float> grads(rows.size(), 1e-3f);
  auto pull = [&](int round) {
    return (*client)->Pull({}, nullptr,
                           {{"embed", sets[round % kSets], rows.data()}},
                           /*clock=*/0, nullptr);
  };
  auto push = [&](int round) {
    return (*client)->Push({}, nullptr,
                           {{"embed", sets[round % kSets], grads.data()}},
                           /*clock=*/0);
  };
  auto step = [&](int round) {
    absl::Status s = pull(round);
    return s.ok() ? push(round) : s;
  };
  for (int i = 0; i < absl::GetFlag(FLAGS_warmup_rounds); ++i) {
    if (absl::Status s = step(i); !s.ok()) return s;
  }
  absl::StatusOr<Result> r_pull = Time(pull);
  if (!r_pull.ok()) return r_pull.status();
  absl::StatusOr<Result> r_push = Time(push);
  if (!r_push.ok()) return r_push.status();
  absl::StatusOr<Result> r_step = Time(step);
  if (!r_step.ok()) return r_step.status();

  int64_t rows_held = 0, bytes = 0, raw = 0;
  for (const v1::ServerEndpoint& e : endpoints) {
    auto stub = v1::ParameterServer::NewStub(MakeChannel(e.address()));
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
    v1::ServerStatusResponse status;
    absl::Status s = FromGrpcStatus(stub->ServerStatus(&ctx, {}, &status));
    if (!s.ok()) return s;
    for (const v1::TableStatus& t : status.tables()) {
      rows_held += t.rows();
      bytes += t.bytes();
      raw += t.raw_bytes();
    }
  }

  const double row_bytes = dim * 4.0;
  std::cout << absl::StrFormat(
      "%d servers, %d distinct keys x dim %d per request, keys drawn from %d, "
      "%s\n\n",
      n_servers, n_keys, dim, space, absl::GetFlag(FLAGS_optimizer));
  std::cout << "| op | keys/s | value MB/s | p50 ms | p99 ms |\n"
               "|---|---:|---:|---:|---:|\n";
  auto line = [&](const char* name, const Result& r, int keys_per_call) {
    const double keys = r.calls_per_sec * keys_per_call;
    std::cout << absl::StrFormat("| %s | %.2fM | %.0f | %.2f | %.2f |\n", name,
                                 keys / 1e6, keys * row_bytes / 1e6, r.p50_ms,
                                 r.p99_ms);
  };
  line("pull", *r_pull, n_keys);
  line("push", *r_push, n_keys);
  line("pull+push (step)", *r_step, 2 * n_keys);
  std::cout << absl::StrFormat(
      "\nservers hold %d rows in %.1f MB: %.2f bytes per raw byte (values + "
      "optimizer state)\n",
      rows_held, bytes / 1e6, raw > 0 ? static_cast<double>(bytes) / raw : 0.0);
  if (absl::Status s = DropTables(job_id, *map); !s.ok()) return s;
  client->reset();
  servers->clear();  // stops them, so their logs can go
  RemoveWorkDir(absl::GetFlag(FLAGS_work_dir), *dir);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ps::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "sparse_bench: sparse pull/push keys per second against real servers");
  absl::ParseCommandLine(argc, argv);
  ps::DisableMutexDeadlockDetection();
  ps::TuneMallocForBulkTransfers().IgnoreError();
  absl::Status s = ps::bench::Run();
  if (!s.ok()) {
    std::cerr << "sparse_bench: " << s << "\n";
    return 1;
  }
  return 0;
}
