// Gradient compression over a slow link: trains one job spec (default: the
// Fashion-MNIST MLP example) on a cluster of separate hosts, each a network
// namespace of its own (tests/netns_testbed.h), whose links are limited to
// a rate by tc tbf, once per codec, and prints one Markdown row per run:
// test accuracy, training time, and the bytes each worker's link carried
// per step, both ways (from the interface counters, so with every header
// and heartbeat).
//
// Hosts: 0 the coordinator and psctl, 1..S servers, S+1..S+W workers;
// plaintext (--insecure --allow_insecure_remote: the namespaces' network is
// the benchmark's own), so the figures are the codecs', not TLS's. Each
// rate limits what the bridge sends to every host (a worker's pulls, a
// server's pushes); "0" leaves the links unlimited.
//
//   bazel build -c opt //bench:compression_bench //client/psctl \
//     //coordinator:ps_coordinator //server:ps_server //worker:ps_worker
//   sudo bazel-bin/bench/compression_bench --rates=1g,10g
//
// Needs root (namespaces), iproute2 and tc.
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/subprocess.h"
#include "nlohmann/json.hpp"
#include "tests/netns_testbed.h"

ABSL_FLAG(std::string, bin_dir, "",
          "where the binaries are (default: bazel-bin of the workspace)");
ABSL_FLAG(std::string, spec, "examples/fashion_mnist_mlp.json",
          "the job spec trained (its numServers and numWorkers are set)");
ABSL_FLAG(std::string, rates, "1g,10g",
          "link rates, comma-separated: 1g, 10g, 500m, ... or 0 (no limit)");
ABSL_FLAG(std::string, codecs, "none,fp16,int8,topk,topk+fp16pull",
          "runs per rate: none, fp16, bf16, int8, topk, topk+fp16pull, "
          "fp16+fp16pull");
ABSL_FLAG(double, topk_ratio, 0.01, "topk runs: training.compression.topkRatio");
ABSL_FLAG(std::string, consistency, "", "override training.consistency");
ABSL_FLAG(int, servers, 2, "server hosts");
ABSL_FLAG(int, workers, 2, "worker hosts");
ABSL_FLAG(std::string, work_dir, "", "logs and specs (default: a new /tmp dir)");

namespace ps::bench {
namespace {

using ps::testing::RunCommand;
using ps::testing::Testbed;

absl::StatusOr<int64_t> ParseRate(absl::string_view text) {
  int64_t scale = 1;
  if (absl::EndsWith(text, "g")) scale = 1000000000;
  if (absl::EndsWith(text, "m")) scale = 1000000;
  if (scale > 1) text.remove_suffix(1);
  int64_t n = 0;
  if (!absl::SimpleAtoi(text, &n) || n < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--rates: '", text, "'; allowed: N, Nm, Ng, 0"));
  }
  return n * scale;
}

// The training.compression of a run.
absl::StatusOr<nlohmann::json> CompressionOf(const std::string& codec) {
  nlohmann::json c = nlohmann::json::object();
  for (absl::string_view part : absl::StrSplit(codec, '+')) {
    if (part == "none") continue;
    if (part == "fp16") c["push"] = "FLOAT16";
    else if (part == "bf16") c["push"] = "BFLOAT16";
    else if (part == "int8") c["push"] = "INT8";
    else if (part == "topk") {
      c["push"] = "TOPK";
      c["topkRatio"] = absl::GetFlag(FLAGS_topk_ratio);
    } else if (part == "fp16pull") c["pull"] = "FLOAT16";
    else {
      return absl::InvalidArgumentError(absl::StrCat(
          "--codecs: '", codec, "'; allowed: none, fp16, bf16, int8, topk, "
          "each optionally +fp16pull"));
    }
  }
  return c;
}

class Bench {
 public:
  absl::Status Run() {
    bin_ = absl::GetFlag(FLAGS_bin_dir);
    if (bin_.empty()) {
      const char* ws = std::getenv("BUILD_WORKSPACE_DIRECTORY");
      bin_ = absl::StrCat(ws != nullptr ? ws : ".", "/bazel-bin");
    }
    dir_ = absl::GetFlag(FLAGS_work_dir);
    if (dir_.empty()) {
      char tmpl[] = "/tmp/compression_bench.XXXXXX";
      if (mkdtemp(tmpl) == nullptr) return absl::InternalError("mkdtemp");
      dir_ = tmpl;
    }
    std::ifstream in(absl::GetFlag(FLAGS_spec));
    if (!in) {
      return absl::NotFoundError(
          absl::StrCat("--spec: cannot read ", absl::GetFlag(FLAGS_spec)));
    }
    spec_ = nlohmann::json::parse(in);
    servers_ = absl::GetFlag(FLAGS_servers);
    workers_ = absl::GetFlag(FLAGS_workers);
    spec_["cluster"]["numServers"] = servers_;
    spec_["cluster"]["numWorkers"] = workers_;
    if (!absl::GetFlag(FLAGS_consistency).empty()) {
      spec_["training"]["consistency"] = absl::GetFlag(FLAGS_consistency);
    }
    absl::StatusOr<std::unique_ptr<Testbed>> bed =
        Testbed::Create(1 + servers_ + workers_);
    if (!bed.ok()) return bed.status();
    bed_ = *std::move(bed);
    if (absl::Status s = StartCluster(); !s.ok()) return s;

    std::printf("| link | codec | test accuracy | trained in | worker sent "
                "/ step | worker received / step |\n|---|---|--:|--:|--:|--:|\n");
    for (absl::string_view rate_text :
         absl::StrSplit(absl::GetFlag(FLAGS_rates), ',')) {
      absl::StatusOr<int64_t> rate = ParseRate(rate_text);
      if (!rate.ok()) return rate.status();
      for (int host = 0; host < bed_->hosts(); ++host) {
        if (*rate > 0) {
          if (absl::Status s = bed_->LimitRate(host, *rate); !s.ok()) return s;
        }
      }
      for (absl::string_view codec :
           absl::StrSplit(absl::GetFlag(FLAGS_codecs), ',')) {
        if (absl::Status s = Train(std::string(rate_text), std::string(codec));
            !s.ok()) {
          return s;
        }
      }
      for (int host = 0; host < bed_->hosts(); ++host) {
        if (*rate > 0) (void)bed_->LimitRate(host, 0);
      }
    }
    daemons_.clear();
    bed_.reset();
    std::filesystem::remove_all(dir_);
    return absl::OkStatus();
  }

 private:
  absl::Status StartCluster() {
    coordinator_ = bed_->Address(0) + ":7000";
    if (absl::Status s = Start(0, "coordinator/ps_coordinator", {"--port=7000"});
        !s.ok()) {
      return s;
    }
    for (int i = 1; i < bed_->hosts(); ++i) {
      const bool server = i <= servers_;
      absl::Status s =
          Start(i, server ? "server/ps_server" : "worker/ps_worker",
                {"--port=0", "--coordinator=" + coordinator_});
      if (!s.ok()) return s;
    }
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    std::string out;
    for (;;) {
      int alive = 0;
      if (Psctl({"cluster"}, &out).value_or(1) == 0) {
        for (size_t at = 0; (at = out.find(" alive ", at)) != std::string::npos;
             ++at) {
          ++alive;
        }
      }
      if (alive == bed_->hosts() - 1) return absl::OkStatus();
      if (absl::Now() > deadline) {
        return absl::DeadlineExceededError(absl::StrCat(
            "waiting for ", bed_->hosts() - 1, " members to register; ",
            alive, " alive (logs in ", dir_, "); psctl cluster: ", out));
      }
      absl::SleepFor(absl::Milliseconds(200));
    }
  }

  absl::Status Start(int host, const std::string& binary,
                     std::vector<std::string> flags) {
    std::vector<std::string> argv = {bin_ + "/" + binary,
                                     "--host=" + bed_->Address(host),
                                     "--insecure", "--allow_insecure_remote"};
    argv.insert(argv.end(), flags.begin(), flags.end());
    absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(
        bed_->InHost(host, argv), absl::StrCat(dir_, "/host", host, ".log"));
    if (!p.ok()) return p.status();
    daemons_[host] = *std::move(p);
    return absl::OkStatus();
  }

  absl::StatusOr<int> Psctl(std::vector<std::string> args, std::string* out,
                            absl::Duration timeout = absl::Seconds(60)) {
    std::vector<std::string> argv = {bin_ + "/client/psctl/psctl"};
    argv.insert(argv.end(), args.begin(), args.end());
    argv.push_back("--coordinator=" + coordinator_);
    argv.push_back("--insecure");
    argv.push_back("--allow_insecure_remote");
    return RunCommand(bed_->InHost(0, argv), timeout, out);
  }

  // Bytes host `host`'s eth0 has sent and received so far.
  absl::StatusOr<std::pair<int64_t, int64_t>> Counters(int host) {
    std::pair<int64_t, int64_t> out;
    for (int i = 0; i < 2; ++i) {
      std::string text;
      absl::StatusOr<int> code = RunCommand(
          bed_->InHost(host, {"cat", absl::StrCat("/sys/class/net/eth0/statistics/",
                                                  i == 0 ? "tx" : "rx",
                                                  "_bytes")}),
          absl::Seconds(10), &text);
      if (!code.ok()) return code.status();
      int64_t n = 0;
      if (*code != 0 || !absl::SimpleAtoi(absl::StripAsciiWhitespace(text), &n)) {
        return absl::InternalError(absl::StrCat("reading counters: ", text));
      }
      (i == 0 ? out.first : out.second) = n;
    }
    return out;
  }

  absl::Status Train(const std::string& rate, const std::string& codec) {
    absl::StatusOr<nlohmann::json> compression = CompressionOf(codec);
    if (!compression.ok()) return compression.status();
    nlohmann::json spec = spec_;
    spec["name"] = absl::StrCat("compression-", codec);
    spec["training"]["compression"] = *compression;
    const std::string path = absl::StrCat(dir_, "/spec-", ++runs_, ".json");
    std::ofstream(path) << spec.dump(2);

    std::vector<std::pair<int64_t, int64_t>> before;
    for (int w = 0; w < workers_; ++w) {
      absl::StatusOr<std::pair<int64_t, int64_t>> c =
          Counters(1 + servers_ + w);
      if (!c.ok()) return c.status();
      before.push_back(*c);
    }
    std::string out;
    absl::StatusOr<int> code = Psctl({"submit", path}, &out);
    if (!code.ok() || *code != 0) {
      return absl::InternalError(absl::StrCat("psctl submit: ", out));
    }
    while (!out.empty() && out.back() == '\n') out.pop_back();
    const std::string job = out.substr(out.rfind('\n') + 1);
    code = Psctl({"watch", job}, &out, absl::Minutes(30));
    if (!code.ok()) return code.status();
    int64_t sent = 0, received = 0;
    for (int w = 0; w < workers_; ++w) {
      absl::StatusOr<std::pair<int64_t, int64_t>> c =
          Counters(1 + servers_ + w);
      if (!c.ok()) return c.status();
      sent += c->first - before[w].first;
      received += c->second - before[w].second;
    }
    code = Psctl({"status", job}, &out);
    if (!code.ok()) return code.status();
    std::smatch m;
    std::string accuracy = "FAILED", trained = "-";
    if (std::regex_search(out, m, std::regex("test accuracy ([0-9.]+%)"))) {
      accuracy = m[1];
    }
    if (std::regex_search(out, m, std::regex("trained in ([0-9.]+ s)"))) {
      trained = m[1];
    }
    int64_t steps = 0;  // summed over workers
    if (std::regex_search(out, m, std::regex("step ([0-9]+)/([0-9]+)"))) {
      steps = std::stoll(m[1]);
    }
    auto per_step = [&](int64_t bytes) {
      return steps > 0 ? absl::StrFormat("%.1f KB", bytes / 1e3 / steps)
                       : std::string("-");
    };
    std::printf("| %s | %s | %s | %s | %s | %s |\n",
                rate == "0" ? "unlimited" : (rate + "bit/s").c_str(),
                codec.c_str(), accuracy.c_str(), trained.c_str(),
                per_step(sent).c_str(), per_step(received).c_str());
    std::fflush(stdout);
    return absl::OkStatus();
  }

  std::string bin_, dir_, coordinator_;
  nlohmann::json spec_;
  int servers_ = 0, workers_ = 0, runs_ = 0;
  std::unique_ptr<Testbed> bed_;
  std::map<int, std::unique_ptr<Subprocess>> daemons_;  // before bed_ goes
};

}  // namespace
}  // namespace ps::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  if (geteuid() != 0) {
    std::fprintf(stderr, "compression_bench: needs root (network namespaces)\n");
    return 2;
  }
  ps::bench::Bench bench;
  absl::Status s = bench.Run();
  if (!s.ok()) {
    std::fprintf(stderr, "compression_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  return 0;
}
