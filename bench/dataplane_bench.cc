// dataplane_bench: push, pull and push+pull throughput and latency of dense
// requests through PsClient against real standalone ps_server processes,
// next to an iperf3 single-stream loopback baseline measured in the same run.
//
// Prints a Markdown table. Throughput counts float32 value bytes (GB = 1e9
// bytes); push+pull alternates pushes and pulls (a training step's traffic)
// and counts both directions; p50/p99 are of single Push or Pull calls in
// that phase. Each row measures iperf3 and its three phases --repeats times
// in turn (iperf3, push, pull, push+pull, iperf3, ...) and reports the
// median of each, so that each ratio compares measurements interleaved
// seconds apart (this machine's loopback speed drifts by 20% within
// minutes) and neither side rests on one sample.
//
// --metrics=off,on measures each row against two sets of servers, one with
// Prometheus metrics off and one with them on (--metrics_port=-1, scraped
// once per repeat), in turn within each repeat (the order swapped every
// repeat), and prints on / off ratios: the metrics' cost on the data plane.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "bench/bench_cluster.h"
#include "client/ps_client.h"
#include "common/certs.h"
#include "common/job_token.h"
#include "common/daemon.h"
#include "common/http_get.h"
#include "common/partition.h"
#include "common/rpc.h"

ABSL_FLAG(std::string, server_binary, "",
          "ps_server binary; empty: bazel-bin/server/ps_server under "
          "$BUILD_WORKSPACE_DIRECTORY, else under the current directory");
ABSL_FLAG(std::string, iperf3, "/usr/bin/iperf3",
          "iperf3 binary for the loopback baseline; empty skips it");
ABSL_FLAG(int, iperf_seconds, 1,
          "length of each iperf3 test (--repeats per row)");
ABSL_FLAG(std::vector<std::string>, sizes,
          std::vector<std::string>({"4K", "1M", "16M", "64M"}),
          "request sizes in bytes; K and M suffixes are binary units");
ABSL_FLAG(std::vector<std::string>, servers,
          std::vector<std::string>({"1", "2"}), "server counts to measure");
ABSL_FLAG(std::vector<std::string>, replicas, {"1"},
          "copies of each range (replica groups on a ring, as a job's "
          "cluster.replicas); each value is measured in turn, all in one run");
ABSL_FLAG(double, seconds, 0.5,
          "target time of each of the three measurements of a row (push, "
          "pull, push+pull); scale it to trade run time for stability");
ABSL_FLAG(int, warmup, 3,
          "untimed push+pull rounds before each row and after each iperf3");
ABSL_FLAG(double, settle_seconds, 0.3,
          "after each iperf3, untimed push+pull rounds go on for this long "
          "(at least --warmup rounds)");
ABSL_FLAG(int, repeats, 5,
          "times each row's iperf3 baseline and three phases are measured, "
          "in turn; the table gives the median of each");
ABSL_FLAG(int64_t, chunk_bytes, ps::kDefaultChunkBytes,
          "PsClientOptions::chunk_bytes");
ABSL_FLAG(int, channels_per_server, 2, "PsClientOptions::channels_per_server");
ABSL_FLAG(bool, tune_process, true,
          "apply TuneMallocForBulkTransfers and DisableMutexDeadlockDetection "
          "(common/daemon.h) to this (the client) process, as ps_worker does "
          "(ps_server always does)");
ABSL_FLAG(std::vector<std::string>, security, {"plaintext"},
          "plaintext and/or tls: each measured in turn on servers started "
          "for it (tls: mutual TLS with a throwaway CA, and the job token "
          "on every call, as a cluster runs)");
ABSL_FLAG(std::vector<std::string>, server_flags, {},
          "extra flags for every ps_server, comma-separated, e.g. "
          "--server_flags=--batch_scheduling=false");
ABSL_FLAG(std::vector<std::string>, metrics, {"off"},
          "off and/or on: servers without and with Prometheus metrics "
          "(--metrics_port=-1); both: each row measures the two in turn "
          "within every repeat, and on / off ratios are printed");
ABSL_FLAG(std::string, work_dir, "",
          "folder for server logs and port files; empty: a new "
          "/tmp/dataplane_bench.XXXXXX");

namespace ps::bench {
namespace {

struct Row {
  std::string security = "plaintext";
  std::string metrics = "off";
  int servers = 0;
  int replicas = 1;
  int64_t bytes = 0;
  double loopback_bps = 0;  // iperf3, interleaved with the phases
  double push_bps = 0, pull_bps = 0, step_bps = 0;  // value bytes per second
  double p50_ms = 0, p99_ms = 0;                    // per call
  // The servers' CPU time per Push and per Pull call, all servers summed.
  double push_cpu_us = 0, pull_cpu_us = 0;
  // This process's (the client's) CPU time per Push call, and how many
  // vCPUs the push phase kept busy: servers' and client's CPU time over
  // the phase's wall time.
  double client_push_cpu_us = 0, push_busy_cpus = 0;
  // Each repeat's push, pull and push+pull bytes per second and CPU per
  // call, for ratios of rows measured in the same repeats.
  std::vector<double> push_runs, pull_runs, step_runs;
  std::vector<double> push_cpu_runs, pull_cpu_runs;
};

absl::StatusOr<int64_t> ParseSize(const std::string& text) {
  int64_t unit = 1;
  std::string digits = text;
  if (!digits.empty() && (digits.back() == 'K' || digits.back() == 'M')) {
    unit = digits.back() == 'K' ? 1 << 10 : 1 << 20;
    digits.pop_back();
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(digits, &n) || n <= 0 || (n * unit) % 4 != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--sizes: ", text, " is not a positive multiple of 4 bytes"));
  }
  return n * unit;
}

std::string SizeLabel(int64_t bytes) {
  if (bytes % (1 << 20) == 0) return absl::StrCat(bytes >> 20, " MB");
  if (bytes % (1 << 10) == 0) return absl::StrCat(bytes >> 10, " KB");
  return absl::StrCat(bytes, " B");
}

// Runs `op` `n` times; returns each call's duration in seconds.
absl::StatusOr<std::vector<double>> TimeCalls(
    int n, const std::function<absl::Status()>& op) {
  std::vector<double> seconds;
  seconds.reserve(n);
  for (int i = 0; i < n; ++i) {
    const auto start = std::chrono::steady_clock::now();
    if (absl::Status s = op(); !s.ok()) return s;
    const std::chrono::duration<double> took =
        std::chrono::steady_clock::now() - start;
    seconds.push_back(took.count());
  }
  return seconds;
}

double Sum(const std::vector<double>& v) {
  double total = 0;
  for (double x : v) total += x;
  return total;
}

// Enough calls of about `estimate` seconds to fill --seconds.
int Iterations(double estimate) {
  const double n = absl::GetFlag(FLAGS_seconds) / std::max(estimate, 1e-6);
  return static_cast<int>(std::clamp(n, 5.0, 200000.0));
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v.size() % 2 == 1 ? v[v.size() / 2]
                           : (v[v.size() / 2 - 1] + v[v.size() / 2]) / 2;
}

// One configuration of a row: its client, where its results go, and what
// to do once per repeat after its phases (may be empty).
struct Variant {
  client::PsClient* client;
  Row* row;
  std::function<absl::Status()> after_repeat;
  std::vector<pid_t> servers;  // whose CPU time the phases measure
};

// One variant's samples over the repeats.
struct Samples {
  double one_push = 0, one_pull = 0;  // a first call's seconds: the pace
  std::vector<double> push_bps, pull_bps, step_bps, step_calls;
  std::vector<double> push_cpu_us, pull_cpu_us;  // servers' CPU per call
  std::vector<double> client_push_cpu_us, push_busy_cpus;
};

// CPU seconds the processes `pids` have used so far, all threads, from
// their CPU-time clocks (nanosecond resolution, unlike /proc's ticks). A
// measure of the servers' own work that other load on the machine changes
// far less than it changes throughput.
double CpuSeconds(const std::vector<pid_t>& pids) {
  double total = 0;
  for (pid_t pid : pids) {
    clockid_t clock;
    timespec t{};
    if (clock_getcpuclockid(pid, &clock) == 0 &&
        clock_gettime(clock, &t) == 0) {
      total += t.tv_sec + t.tv_nsec * 1e-9;
    }
  }
  return total;
}

// Warms `v` up and times one push and one pull.
absl::Status WarmUp(const Variant& v, int64_t bytes, Samples* out) {
  const int64_t values = bytes / 4;
  const std::vector<client::TableRef> refs = {{"w", 0, values, 0}};
  std::vector<float> buffer(values), grads(values, 1e-3f);
  auto push = [&] { return v.client->Push(refs, grads.data()); };
  auto pull = [&] { return v.client->Pull(refs, buffer.data()); };
  auto step = [&] {
    absl::Status s = push();
    return s.ok() ? pull() : s;
  };
  absl::StatusOr<std::vector<double>> warm =
      TimeCalls(std::max(1, absl::GetFlag(FLAGS_warmup)), step);
  if (!warm.ok()) return warm.status();
  absl::StatusOr<std::vector<double>> one_push = TimeCalls(1, push);
  absl::StatusOr<std::vector<double>> one_pull = TimeCalls(1, pull);
  if (!one_push.ok()) return one_push.status();
  if (!one_pull.ok()) return one_pull.status();
  out->one_push = (*one_push)[0];
  out->one_pull = (*one_pull)[0];
  return absl::OkStatus();
}

// One repeat of `v`'s phases: settling rounds, then push, pull and
// push+pull, each timed.
absl::Status Phases(const Variant& v, int64_t bytes, Samples* out) {
  const int64_t values = bytes / 4;
  const std::vector<client::TableRef> refs = {{"w", 0, values, 0}};
  std::vector<float> buffer(values), grads(values, 1e-3f);
  auto push = [&] { return v.client->Push(refs, grads.data()); };
  auto pull = [&] { return v.client->Pull(refs, buffer.data()); };
  auto step = [&] {
    absl::Status s = push();
    return s.ok() ? pull() : s;
  };
  // The first ~0.2 s after an iperf3 run are disturbed on this machine:
  // a 1 MB push right after it took 90 ms, 23-42 ms after a 50 ms pause,
  // 1.2 ms after a 200 ms one, and 1-1.7 ms after an idle second with no
  // iperf3. Untimed rounds for --settle_seconds absorb that (and, between
  // variants, the switch to the other servers).
  const absl::Time settled =
      absl::Now() + absl::Seconds(absl::GetFlag(FLAGS_settle_seconds));
  do {
    absl::StatusOr<std::vector<double>> settle =
        TimeCalls(std::max(1, absl::GetFlag(FLAGS_warmup)), step);
    if (!settle.ok()) return settle.status();
  } while (absl::Now() < settled);
  const std::vector<pid_t> self = {getpid()};
  const double cpu_start = CpuSeconds(v.servers);
  const double client_cpu_start = CpuSeconds(self);
  absl::StatusOr<std::vector<double>> pushes =
      TimeCalls(Iterations(out->one_push), push);
  if (!pushes.ok()) return pushes.status();
  const double cpu_pushed = CpuSeconds(v.servers);
  const double client_cpu_pushed = CpuSeconds(self);
  absl::StatusOr<std::vector<double>> pulls =
      TimeCalls(Iterations(out->one_pull), pull);
  if (!pulls.ok()) return pulls.status();
  const double cpu_pulled = CpuSeconds(v.servers);
  out->push_cpu_us.push_back(1e6 * (cpu_pushed - cpu_start) / pushes->size());
  out->client_push_cpu_us.push_back(
      1e6 * (client_cpu_pushed - client_cpu_start) / pushes->size());
  out->push_busy_cpus.push_back(
      (cpu_pushed - cpu_start + client_cpu_pushed - client_cpu_start) /
      Sum(*pushes));
  out->pull_cpu_us.push_back(1e6 * (cpu_pulled - cpu_pushed) / pulls->size());
  int next = 0;
  auto alternate = [&] { return next++ % 2 == 0 ? push() : pull(); };
  absl::StatusOr<std::vector<double>> calls =
      TimeCalls(2 * Iterations(out->one_push + out->one_pull), alternate);
  if (!calls.ok()) return calls.status();
  out->push_bps.push_back(bytes * pushes->size() / Sum(*pushes));
  out->pull_bps.push_back(bytes * pulls->size() / Sum(*pulls));
  out->step_bps.push_back(bytes * calls->size() / Sum(*calls));
  out->step_calls.insert(out->step_calls.end(), calls->begin(), calls->end());
  return absl::OkStatus();
}

// Measures the row's phases for every variant, calling `loopback` (an
// iperf3 measurement, in bytes per second) before each repeat; within a
// repeat the variants go in turn, in reverse order every other repeat.
absl::Status Measure(const std::vector<Variant>& variants, int64_t bytes,
                     const std::function<absl::StatusOr<double>()>& loopback) {
  std::vector<Samples> samples(variants.size());
  for (size_t i = 0; i < variants.size(); ++i) {
    if (absl::Status s = WarmUp(variants[i], bytes, &samples[i]); !s.ok()) {
      return s;
    }
  }
  std::vector<double> loopback_bps;
  for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
    absl::StatusOr<double> lo = loopback();  // the servers sit idle meanwhile
    if (!lo.ok()) return lo.status();
    loopback_bps.push_back(*lo);
    for (size_t k = 0; k < variants.size(); ++k) {
      const size_t i = r % 2 == 0 ? k : variants.size() - 1 - k;
      if (absl::Status s = Phases(variants[i], bytes, &samples[i]); !s.ok()) {
        return s;
      }
      if (variants[i].after_repeat) {
        if (absl::Status s = variants[i].after_repeat(); !s.ok()) return s;
      }
    }
  }
  for (size_t i = 0; i < variants.size(); ++i) {
    Row* row = variants[i].row;
    const Samples& got = samples[i];
    row->loopback_bps = Median(loopback_bps);
    row->push_bps = Median(got.push_bps);
    row->pull_bps = Median(got.pull_bps);
    row->step_bps = Median(got.step_bps);
    row->p50_ms = 1e3 * Percentile(got.step_calls, 0.5);
    row->p99_ms = 1e3 * Percentile(got.step_calls, 0.99);
    row->push_cpu_us = Median(got.push_cpu_us);
    row->pull_cpu_us = Median(got.pull_cpu_us);
    row->client_push_cpu_us = Median(got.client_push_cpu_us);
    row->push_busy_cpus = Median(got.push_busy_cpus);
    row->push_runs = got.push_bps;
    row->pull_runs = got.pull_bps;
    row->step_runs = got.step_bps;
    row->push_cpu_runs = got.push_cpu_us;
    row->pull_cpu_runs = got.pull_cpu_us;
  }
  return absl::OkStatus();
}

// One row: a fresh job with one SGD table of `bytes` over the first
// `count` servers.
// How the bench reaches its servers: plaintext, or TLS as the coordinator
// (control calls) and as a worker with the job's token (data plane).
struct Access {
  std::string name = "plaintext";
  std::shared_ptr<const RpcSecurity> coordinator;  // null: plaintext
  std::shared_ptr<const RpcSecurity> worker;
};

// Servers started for one metrics setting.
struct ServerSet {
  std::string metrics = "off";
  std::vector<ServerProcess> servers;
  std::vector<std::string> metrics_addresses;  // with metrics on
};

// Reads each server's /metrics once (as Prometheus would, every 15 s or
// so); UNAVAILABLE when one does not answer 200.
absl::Status Scrape(const ServerSet& set) {
  for (const std::string& address : set.metrics_addresses) {
    absl::StatusOr<HttpResponse> got = HttpGet(address, "/metrics");
    if (!got.ok()) return got.status();
    if (got->status != 200 ||
        got->body.find("ps_server_push_apply_seconds_count") ==
            std::string::npos) {
      return absl::UnavailableError(absl::StrCat(
          "http://", address, "/metrics answered ", got->status,
          " without ps_server_push_apply_seconds_count"));
    }
  }
  return absl::OkStatus();
}

// One job's tables on one set of servers, and a client of them; the tables
// are dropped when it is destroyed.
class BenchJob {
 public:
  static absl::StatusOr<std::unique_ptr<BenchJob>> Create(
      const ServerSet& set, int count, int replicas, int64_t bytes,
      const Access& access) {
    std::vector<v1::ServerEndpoint> endpoints;
    for (int i = 0; i < count; ++i) endpoints.push_back(set.servers[i].endpoint);
    v1::TableDef table;
    table.set_name("w");
    table.set_size(bytes / 4);
    table.mutable_init()->set_kind(v1::Initializer::ZEROS);
    table.mutable_optimizer()->set_type(v1::SGD);
    table.mutable_optimizer()->set_learning_rate(1e-3f);
    absl::StatusOr<v1::PartitionMap> map =
        BuildPartitionMap(/*epoch=*/1, endpoints, {table});
    if (!map.ok()) return map.status();
    if (replicas > 1) PlaceReplicaGroups(replicas, &*map);
    auto job = std::unique_ptr<BenchJob>(new BenchJob(
        absl::StrCat("bench-", count, "-", replicas, "-", bytes), *map,
        access.coordinator.get()));
    std::string key;
    if (access.coordinator != nullptr) {
      absl::StatusOr<std::string> k = NewJobKey();
      if (!k.ok()) return k.status();
      key = *k;
      v1::JobTokenClaims claims;
      claims.set_job_id(job->id_);
      claims.set_worker_id("bench");
      claims.set_expires_unix_ms(
          absl::ToUnixMillis(absl::Now() + absl::Hours(24)));
      job->token_.Set(MintJobToken(claims, key));
    }
    if (absl::Status s =
            CreateTables(job->id_, job->map_, access.coordinator.get(), key);
        !s.ok()) {
      return s;
    }
    job->created_ = true;
    client::PsClientOptions options;
    options.security = access.worker;
    if (access.worker != nullptr) options.job_token = &job->token_;
    options.worker_id = "bench";
    options.chunk_bytes = absl::GetFlag(FLAGS_chunk_bytes);
    options.channels_per_server = absl::GetFlag(FLAGS_channels_per_server);
    absl::StatusOr<std::unique_ptr<client::PsClient>> client =
        client::PsClient::Create(job->id_, job->map_, options);
    if (!client.ok()) return client.status();
    job->client_ = *std::move(client);
    return job;
  }
  ~BenchJob() {
    client_.reset();
    if (created_) DropTables(id_, map_, security_).IgnoreError();
  }
  client::PsClient* client() { return client_.get(); }

 private:
  BenchJob(std::string id, v1::PartitionMap map, const RpcSecurity* security)
      : id_(std::move(id)), map_(std::move(map)), security_(security) {}
  const std::string id_;
  const v1::PartitionMap map_;
  const RpcSecurity* const security_;  // the coordinator's; may be null
  client::JobTokenHolder token_;
  bool created_ = false;
  std::unique_ptr<client::PsClient> client_;
};

// One row per server set: a fresh job with one SGD table of `bytes` over
// the first `count` servers of each set, measured in turn.
absl::StatusOr<std::vector<Row>> MeasureRows(
    const std::vector<ServerSet>& sets, int count, int replicas,
    int64_t bytes, const std::function<absl::StatusOr<double>()>& loopback,
    const Access& access) {
  std::vector<std::unique_ptr<BenchJob>> jobs;
  std::vector<Row> rows(sets.size());
  std::vector<Variant> variants;
  for (size_t i = 0; i < sets.size(); ++i) {
    absl::StatusOr<std::unique_ptr<BenchJob>> job =
        BenchJob::Create(sets[i], count, replicas, bytes, access);
    if (!job.ok()) return job.status();
    jobs.push_back(*std::move(job));
    rows[i] = Row{.security = access.name,
                  .metrics = sets[i].metrics,
                  .servers = count,
                  .replicas = replicas,
                  .bytes = bytes};
    const ServerSet* set = &sets[i];
    std::vector<pid_t> pids;
    for (int s = 0; s < count; ++s) {
      pids.push_back(set->servers[s].process->pid());
    }
    variants.push_back({jobs.back()->client(), &rows[i],
                        [set] { return Scrape(*set); }, std::move(pids)});
  }
  if (absl::Status s = Measure(variants, bytes, loopback); !s.ok()) return s;
  return rows;
}

void PrintTable(const std::vector<Row>& rows) {
  const double gb = 1e9;
  absl::PrintF(
      "| security | metrics | servers | replicas | size | loopback GB/s | "
      "push GB/s | pull GB/s | push+pull GB/s | p50 ms | p99 ms | "
      "push / loopback | pull / loopback | server CPU us/push | "
      "server CPU us/pull | client CPU us/push | vCPUs busy in push |\n"
      "|--|--|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
  for (const Row& r : rows) {
    const double lo = r.loopback_bps > 0 ? r.loopback_bps : NAN;
    absl::PrintF(
        "| %s | %s | %d | %d | %s | %.2f | %.2f | %.2f | %.2f | %.3f | %.3f "
        "| %.2f | %.2f | %.1f | %.1f | %.1f | %.2f |\n",
        r.security, r.metrics, r.servers, r.replicas, SizeLabel(r.bytes),
        r.loopback_bps / gb, r.push_bps / gb,
        r.pull_bps / gb, r.step_bps / gb, r.p50_ms, r.p99_ms, r.push_bps / lo,
        r.pull_bps / lo, r.push_cpu_us, r.pull_cpu_us, r.client_push_cpu_us,
        r.push_busy_cpus);
  }
  absl::PrintF(
      "\nGB = 1e9 bytes of float32 values. Each column is the median of %d "
      "measurements taken in turn: loopback (iperf3, one stream, %d s), push, "
      "pull and push+pull (about %.2f s each); push+pull alternates Push and "
      "Pull calls and counts both directions; p50/p99 are per call in that "
      "phase; server CPU is the servers' CPU time (all threads, all servers) "
      "per Push or Pull call in those phases, client CPU this process's per "
      "Push, and vCPUs busy the servers' and client's CPU time in the push "
      "phase over its wall time. "
      "chunk_bytes=%d, channels_per_server=%d, client process tuned: %s, "
      "server flags: %s. Metrics on: servers with --metrics_port=-1, each "
      "scraped once per repeat; off and on rows of a size were measured in "
      "turn within each repeat.\n",
      absl::GetFlag(FLAGS_repeats), absl::GetFlag(FLAGS_iperf_seconds),
      absl::GetFlag(FLAGS_seconds), absl::GetFlag(FLAGS_chunk_bytes),
      absl::GetFlag(FLAGS_channels_per_server),
      absl::GetFlag(FLAGS_tune_process) ? "yes" : "no",
      absl::GetFlag(FLAGS_server_flags).empty()
          ? "none"
          : absl::StrJoin(absl::GetFlag(FLAGS_server_flags), " "));
}

// TLS over plaintext, for each (servers, replicas, size) measured both ways.
void PrintSecurityRatios(const std::vector<Row>& rows) {
  bool header = false;
  for (const Row& tls : rows) {
    if (tls.security != "tls") continue;
    for (const Row& plain : rows) {
      if (plain.security != "plaintext" || plain.servers != tls.servers ||
          plain.replicas != tls.replicas || plain.bytes != tls.bytes ||
          plain.metrics != tls.metrics) {
        continue;
      }
      if (!header) {
        absl::PrintF(
            "\n| servers | replicas | size | TLS push / plaintext | "
            "TLS pull / plaintext | TLS push+pull / plaintext |\n"
            "|--:|--:|--:|--:|--:|--:|\n");
        header = true;
      }
      absl::PrintF("| %d | %d | %s | %.2f | %.2f | %.2f |\n", tls.servers,
                   tls.replicas, SizeLabel(tls.bytes),
                   tls.push_bps / plain.push_bps,
                   tls.pull_bps / plain.pull_bps,
                   tls.step_bps / plain.step_bps);
    }
  }
}

// "median (min-max)" of on[r] / off[r] over the repeats r.
std::string PairedRatio(const std::vector<double>& on,
                        const std::vector<double>& off) {
  std::vector<double> ratios;
  for (size_t r = 0; r < on.size() && r < off.size(); ++r) {
    ratios.push_back(on[r] / off[r]);
  }
  if (ratios.empty()) return "-";
  const auto [lo, hi] = std::minmax_element(ratios.begin(), ratios.end());
  return absl::StrFormat("%.3f (%.2f-%.2f)", Median(ratios), *lo, *hi);
}

// Metrics on over off, for each row measured both ways: the median of the
// ratios of measurements taken in the same repeat, seconds apart, with
// their range.
void PrintMetricsRatios(const std::vector<Row>& rows) {
  bool header = false;
  for (const Row& on : rows) {
    if (on.metrics != "on") continue;
    for (const Row& off : rows) {
      if (off.metrics != "off" || off.security != on.security ||
          off.servers != on.servers || off.replicas != on.replicas ||
          off.bytes != on.bytes) {
        continue;
      }
      if (!header) {
        absl::PrintF(
            "\n| security | servers | replicas | size | push on / off | "
            "pull on / off | push+pull on / off | p50 on / off | "
            "server CPU/push on / off | server CPU/pull on / off |\n"
            "|--|--:|--:|--:|--:|--:|--:|--:|--:|--:|\n");
        header = true;
      }
      absl::PrintF("| %s | %d | %d | %s | %s | %s | %s | %.3f | %s | %s |\n",
                   on.security, on.servers, on.replicas, SizeLabel(on.bytes),
                   PairedRatio(on.push_runs, off.push_runs),
                   PairedRatio(on.pull_runs, off.pull_runs),
                   PairedRatio(on.step_runs, off.step_runs),
                   on.p50_ms / off.p50_ms,
                   PairedRatio(on.push_cpu_runs, off.push_cpu_runs),
                   PairedRatio(on.pull_cpu_runs, off.pull_cpu_runs));
    }
  }
  if (header) {
    absl::PrintF(
        "\nEach on / off ratio is the median (and range) over the repeats "
        "of the ratio of the two measurements taken in the same repeat.\n");
  }
}

// Access for `mode` ("plaintext" or "tls"); for tls, the credentials
// (written under work_dir/pki once) and the servers' flag.
absl::StatusOr<Access> AccessFor(const std::string& mode,
                                 const std::string& work_dir,
                                 std::vector<std::string>* server_flags) {
  Access access;
  access.name = mode;
  if (mode == "plaintext") return access;
  if (mode != "tls") {
    return absl::InvalidArgumentError(absl::StrCat(
        "--security: ", mode, "; allowed: plaintext, tls"));
  }
  const std::string pki = work_dir + "/pki";
  if (!std::filesystem::exists(pki + "/ca.crt")) {
    std::vector<certs::CertRequest> requests;
    for (auto [role, name] : {std::pair{Role::kCoordinator, "bench"},
                              std::pair{Role::kServer, "bench"},
                              std::pair{Role::kWorker, "bench"}}) {
      certs::CertRequest r;
      r.identity = {role, name};
      r.ip_addresses = {"127.0.0.1"};
      r.validity = certs::ValidFor(absl::Hours(24));
      requests.push_back(r);
    }
    if (absl::Status s = certs::CreateClusterCredentials(pki, requests);
        !s.ok()) {
      return s;
    }
  }
  absl::StatusOr<std::shared_ptr<const RpcSecurity>> coordinator =
      RpcSecurity::Tls(TlsFilesInDir(pki + "/coordinator-bench"));
  if (!coordinator.ok()) return coordinator.status();
  absl::StatusOr<std::shared_ptr<const RpcSecurity>> worker =
      RpcSecurity::Tls(TlsFilesInDir(pki + "/worker-bench"));
  if (!worker.ok()) return worker.status();
  access.coordinator = *coordinator;
  access.worker = *worker;
  server_flags->push_back("--tls_dir=" + pki + "/server-bench");
  return access;
}

struct Plan {
  std::vector<int64_t> sizes;
  std::vector<int> server_counts;
  std::vector<int> replicas;
  std::string server_binary;
  std::string work_dir;
};

absl::StatusOr<Plan> PlanFromFlags() {
  if (absl::GetFlag(FLAGS_repeats) < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--repeats: ", absl::GetFlag(FLAGS_repeats), " must be >= 1"));
  }
  if (absl::GetFlag(FLAGS_iperf_seconds) < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("--iperf_seconds: ", absl::GetFlag(FLAGS_iperf_seconds),
                     " must be >= 1 (iperf3 reads 0 as forever)"));
  }
  if (!(absl::GetFlag(FLAGS_seconds) > 0)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--seconds: ", absl::GetFlag(FLAGS_seconds), " must be > 0"));
  }
  Plan plan;
  for (const std::string& s : absl::GetFlag(FLAGS_sizes)) {
    absl::StatusOr<int64_t> bytes = ParseSize(s);
    if (!bytes.ok()) return bytes.status();
    plan.sizes.push_back(*bytes);
  }
  for (const std::string& s : absl::GetFlag(FLAGS_servers)) {
    int n = 0;
    if (!absl::SimpleAtoi(s, &n) || n < 1 || n > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("--servers: ", s, " is not in [1, 64]"));
    }
    plan.server_counts.push_back(n);
  }
  for (const std::string& s : absl::GetFlag(FLAGS_replicas)) {
    int n = 0;
    if (!absl::SimpleAtoi(s, &n) || n < 1 || n > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("--replicas: ", s, " is not in [1, 64]"));
    }
    plan.replicas.push_back(n);
  }
  if (plan.sizes.empty() || plan.server_counts.empty()) {
    return absl::InvalidArgumentError(
        "--sizes and --servers must not be empty");
  }
  absl::StatusOr<std::string> binary =
      FindServerBinary(absl::GetFlag(FLAGS_server_binary));
  if (!binary.ok()) return binary.status();
  plan.server_binary = *binary;
  absl::StatusOr<std::string> work_dir =
      MakeWorkDir(absl::GetFlag(FLAGS_work_dir), "dataplane_bench");
  if (!work_dir.ok()) return work_dir.status();
  plan.work_dir = *work_dir;
  return plan;
}

// One iperf3 measurement, or 0 when --iperf3 is empty.
absl::StatusOr<double> MeasureLoopback(const std::string& work_dir) {
  if (absl::GetFlag(FLAGS_iperf3).empty()) return 0.0;
  return IperfLoopbackBytesPerSecond(
      absl::GetFlag(FLAGS_iperf3),
      absl::Seconds(absl::GetFlag(FLAGS_iperf_seconds)), work_dir);
}

// Where a server started with --metrics_port=-1 serves them, from the
// line it logs at start-up.
absl::StatusOr<std::string> MetricsAddressFromLog(const std::string& log) {
  std::ifstream in(log);
  std::string line;
  const std::string kSays = "metrics on http://";
  while (std::getline(in, line)) {
    const size_t at = line.find(kSays);
    if (at == std::string::npos) continue;
    const std::string rest = line.substr(at + kSays.size());
    return rest.substr(0, rest.find('/'));
  }
  return absl::NotFoundError(
      absl::StrCat(log, " does not say where the server serves metrics"));
}

// Starts the servers of each --metrics setting, each set in a folder of
// its own under `work_dir`. `flags`: every server's flags.
absl::StatusOr<std::vector<ServerSet>> StartServerSets(
    const Plan& plan, const std::vector<std::string>& flags) {
  const std::vector<std::string> settings = absl::GetFlag(FLAGS_metrics);
  const bool any_on =
      std::find(settings.begin(), settings.end(), "on") != settings.end();
  std::vector<ServerSet> sets;
  for (const std::string& metrics : settings) {
    if (metrics != "off" && metrics != "on") {
      return absl::InvalidArgumentError(
          absl::StrCat("--metrics: ", metrics, "; allowed: off, on"));
    }
    ServerSet& set = sets.emplace_back();
    set.metrics = metrics;
    std::vector<std::string> set_flags = flags;
    // The same log level for every set: the on set's logs its metrics
    // address at info (the data plane logs nothing per request).
    if (any_on) set_flags.push_back("--log_level=info");
    if (metrics == "on") set_flags.push_back("--metrics_port=-1");
    const std::string dir = absl::StrCat(plan.work_dir, "/metrics-", metrics);
    std::error_code ec;
    std::filesystem::create_directories(dir, ec);
    absl::StatusOr<std::vector<ServerProcess>> servers = StartServers(
        plan.server_binary,
        *std::max_element(plan.server_counts.begin(),
                          plan.server_counts.end()),
        dir, set_flags);
    if (!servers.ok()) return servers.status();
    set.servers = *std::move(servers);
    if (metrics == "off") continue;
    for (const ServerProcess& server : set.servers) {
      absl::StatusOr<std::string> address =
          MetricsAddressFromLog(server.process->log_path());
      if (!address.ok()) return address.status();
      set.metrics_addresses.push_back(*address);
    }
  }
  return sets;
}

absl::Status Run() {
  absl::StatusOr<Plan> plan = PlanFromFlags();
  if (!plan.ok()) return plan.status();
  std::cerr << "logs in " << plan->work_dir
            << " (removed after a successful run)\n";
  std::vector<Row> rows;
  for (const std::string& mode : absl::GetFlag(FLAGS_security)) {
    std::vector<std::string> flags = absl::GetFlag(FLAGS_server_flags);
    absl::StatusOr<Access> access = AccessFor(mode, plan->work_dir, &flags);
    if (!access.ok()) return access.status();
    // Owns the server processes: they are stopped on every return below.
    absl::StatusOr<std::vector<ServerSet>> sets =
        StartServerSets(*plan, flags);
    if (!sets.ok()) return sets.status();
    for (int replicas : plan->replicas) {
      for (int count : plan->server_counts) {
        if (replicas > count) continue;
        for (int64_t bytes : plan->sizes) {
          std::cerr << "measuring " << count << " server(s), " << replicas
                    << " replica(s), " << SizeLabel(bytes) << "\n";
          absl::StatusOr<std::vector<Row>> measured =
              MeasureRows(*sets, count, replicas, bytes,
                          [&] { return MeasureLoopback(plan->work_dir); },
                          *access);
          if (!measured.ok()) return measured.status();
          rows.insert(rows.end(), measured->begin(), measured->end());
        }
      }
    }
    sets->clear();  // stops the servers, so their logs can go
  }
  PrintTable(rows);
  PrintSecurityRatios(rows);
  PrintMetricsRatios(rows);
  RemoveWorkDir(absl::GetFlag(FLAGS_work_dir), plan->work_dir);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ps::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "dataplane_bench [--server_binary=PATH] [--sizes=4K,1M] [--servers=1,2]");
  absl::ParseCommandLine(argc, argv);
  // Before any thread starts (mallopt's requirement).
  if (absl::GetFlag(FLAGS_tune_process)) {
    ps::DisableMutexDeadlockDetection();
    if (absl::Status s = ps::TuneMallocForBulkTransfers(); !s.ok()) {
      std::cerr << "dataplane_bench: " << s << "\n";
      return 1;
    }
  }
  absl::Status s = ps::bench::Run();
  if (!s.ok()) {
    std::cerr << "dataplane_bench: " << s << "\n";
    return 1;
  }
  return 0;
}
