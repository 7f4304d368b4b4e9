// Metrics end to end: a real coordinator, server and workers with
// --metrics_port=-1 train a job; each daemon's /metrics, read over HTTP at
// the address the coordinator lists, has the expected series with sane
// values and passes `promtool check metrics` (Debian's prometheus package;
// those checks are skipped, saying so, when /usr/bin/promtool is missing).
// Bad --metrics_port values stop every daemon at start-up naming the flag.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <fstream>
#include <map>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "absl/time/clock.h"
#include "common/http_get.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

constexpr char kPromtool[] = "/usr/bin/promtool";

using Labels = std::map<std::string, std::string>;

struct Sample {
  std::string name;
  Labels labels;
  double value = 0;
};

// Parses the text exposition format's sample lines (label values here hold
// no escaped quotes or commas).
std::vector<Sample> Parse(const std::string& text) {
  std::vector<Sample> out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    if (line.empty() || line[0] == '#') continue;
    Sample s;
    const size_t brace = line.find('{');
    const size_t space = line.rfind(' ');
    if (space == absl::string_view::npos) continue;
    if (brace != absl::string_view::npos && brace < space) {
      s.name = std::string(line.substr(0, brace));
      absl::string_view labels =
          line.substr(brace + 1, line.find('}') - brace - 1);
      for (absl::string_view pair : absl::StrSplit(labels, ',')) {
        std::pair<std::string, std::string> kv =
            absl::StrSplit(pair, absl::MaxSplits('=', 1));
        s.labels[kv.first] = std::string(
            absl::StripSuffix(absl::StripPrefix(kv.second, "\""), "\""));
      }
    } else {
      s.name = std::string(line.substr(0, space));
    }
    if (!absl::SimpleAtod(line.substr(space + 1), &s.value)) continue;
    out.push_back(std::move(s));
  }
  return out;
}

// The value of the series `name` with exactly `labels`; -1 when absent.
double Value(const std::string& text, const std::string& name,
             const Labels& labels = {}) {
  for (const Sample& s : Parse(text)) {
    if (s.name == name && s.labels == labels) return s.value;
  }
  return -1;
}

std::string Scrape(const std::string& address) {
  absl::StatusOr<HttpResponse> got = HttpGet(address, "/metrics");
  EXPECT_TRUE(got.ok()) << got.status();
  if (!got.ok()) return "";
  EXPECT_EQ(got->status, 200) << address;
  return got->body;
}

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// Waits (bounded) for `p` to exit and returns its exit code, or -1.
int ExitCode(Subprocess* p, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (p->Running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));  // polling the exit, bounded
  }
  return p->exit_code().value_or(-1);
}

// Runs `promtool check metrics` on `text`; "" when it passes, else what it
// said.
std::string Promtool(const std::string& text, const std::string& name) {
  const std::string dir = std::getenv("TEST_TMPDIR");
  const std::string file = absl::StrCat(dir, "/", name, ".prom");
  const std::string log = absl::StrCat(dir, "/", name, ".promtool");
  std::ofstream(file) << text;
  auto p = Subprocess::Start(
      {"/bin/sh", "-c",
       absl::StrCat(kPromtool, " check metrics < '", file, "'")},
      log);
  if (!p.ok()) return p.status().ToString();
  const int code = ExitCode(p->get(), absl::Seconds(30));
  return code == 0 ? "" : absl::StrCat("exit ", code, ": ", Read(log));
}

class MetricsTest : public ClusterTest {
 protected:
  // name -> metrics address, from the coordinator's member list.
  std::map<std::string, std::string> Endpoints() {
    absl::StatusOr<v1::GetClusterResponse> cluster =
        cluster_->client()->GetCluster();
    EXPECT_TRUE(cluster.ok()) << cluster.status();
    std::map<std::string, std::string> out;
    if (!cluster.ok()) return out;
    out["coordinator"] = cluster->metrics_address();
    for (const v1::Member& m : cluster->members()) {
      out[m.role() == v1::SERVER ? "server" : m.id()] = m.metrics_address();
    }
    return out;
  }
};

TEST_F(MetricsTest, EveryDaemonServesSaneMetricsThatPromtoolAccepts) {
  metrics_ = true;
  StartCluster(/*servers=*/1, /*workers=*/2);
  const std::map<std::string, std::string> endpoints = Endpoints();
  ASSERT_EQ(endpoints.size(), 4u);  // the coordinator, a server, 2 workers
  for (const auto& [name, address] : endpoints) {
    ASSERT_FALSE(address.empty()) << name << " lists no metrics address";
  }
  v1::JobSpec spec = Spec(/*workers=*/2, /*epochs=*/1000);
  spec.mutable_training()->set_consistency(v1::SSP);
  spec.mutable_training()->set_staleness(1);
  const std::string id = Submit(spec);
  const Labels job = {{"job_id", id}};

  // Running: the coordinator shows the job's progress.
  std::string coordinator;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (absl::Now() < deadline) {
    coordinator = Scrape(endpoints.at("coordinator"));
    if (Value(coordinator, "ps_coordinator_job_steps", job) > 10) break;
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_GT(Value(coordinator, "ps_coordinator_job_steps", job), 10)
      << coordinator;
  EXPECT_GT(Value(coordinator, "ps_coordinator_job_total_steps", job), 1000);
  EXPECT_GT(Value(coordinator, "ps_coordinator_job_loss", job), 0);
  EXPECT_GT(Value(coordinator, "ps_coordinator_job_examples_per_second", job),
            0);
  EXPECT_LE(Value(coordinator, "ps_coordinator_job_max_staleness", job), 1);
  EXPECT_EQ(Value(coordinator, "ps_coordinator_jobs", {{"state", "RUNNING"}}),
            1);
  EXPECT_EQ(Value(coordinator, "ps_coordinator_members",
                  {{"role", "WORKER"}, {"state", "ALIVE"}}),
            2);
  EXPECT_GT(Value(coordinator, "ps_rpc_server_handled_total",
                  {{"service", "ps.v1.Coordinator"},
                   {"method", "Heartbeat"},
                   {"code", "OK"}}),
            0);

  const std::string server = Scrape(endpoints.at("server"));
  const Labels push = {{"service", "ps.v1.ParameterServer"},
                       {"method", "Push"}};
  Labels push_ok = push;
  push_ok["code"] = "OK";
  EXPECT_GT(Value(server, "ps_rpc_server_handled_total", push_ok), 0);
  EXPECT_GT(Value(server, "ps_rpc_server_handling_seconds_count", push), 0);
  EXPECT_GT(Value(server, "ps_rpc_server_received_bytes_total", push),
            1000 * Value(server, "ps_rpc_server_handled_total", push_ok) / 2);
  EXPECT_GT(Value(server, "ps_rpc_server_sent_bytes_total",
                  {{"service", "ps.v1.ParameterServer"}, {"method", "Pull"}}),
            0);
  EXPECT_GT(Value(server, "ps_server_push_apply_seconds_count"), 0);
  EXPECT_GT(Value(server, "ps_server_pull_wait_seconds_count"), 0);
  EXPECT_EQ(Value(server, "ps_server_pull_staleness_bucket", {{"le", "1"}}),
            Value(server, "ps_server_pull_staleness_count"));  // SSP(1)
  EXPECT_GT(Value(server, "ps_server_job_pushes_applied_total", job), 0);
  EXPECT_GT(Value(server, "ps_server_table_bytes",
                  {{"job_id", id}, {"table", "layer0.weight"}}),
            784 * 32 * 4 - 1);

  std::vector<std::string> workers;
  for (const auto& [name, address] : endpoints) {
    if (absl::StartsWith(name, "worker-")) workers.push_back(address);
  }
  for (const std::string& address : workers) {
    const std::string worker = Scrape(address);
    EXPECT_GT(Value(worker, "ps_worker_steps_total", job), 0) << worker;
    EXPECT_GT(Value(worker, "ps_worker_examples_total", job),
              Value(worker, "ps_worker_steps_total", job));
    EXPECT_GT(Value(worker, "ps_worker_examples_per_second", job), 0);
    EXPECT_GT(Value(worker, "ps_worker_accuracy", job), 0);
  }

  if (access(kPromtool, X_OK) != 0) {
    std::cout << "SKIPPED promtool checks: " << kPromtool
              << " is missing (Debian package prometheus)" << std::endl;
  } else {
    EXPECT_EQ(Promtool(coordinator, "coordinator"), "") << coordinator;
    EXPECT_EQ(Promtool(server, "server"), "") << server;
    for (size_t i = 0; i < workers.size(); ++i) {
      const std::string worker = Scrape(workers[i]);
      EXPECT_EQ(Promtool(worker, absl::StrCat("worker", i)), "") << worker;
    }
  }

  // Cancelled: the job's series go with it (its tables are dropped).
  grpc::ClientContext ctx;
  v1::CancelJobRequest cancel;
  cancel.set_job_id(id);
  v1::CancelJobResponse cancelled;
  ASSERT_TRUE(
      cluster_->coordinator()->CancelJob(&ctx, cancel, &cancelled).ok());
  coordinator = Scrape(endpoints.at("coordinator"));
  EXPECT_EQ(Value(coordinator, "ps_coordinator_jobs", {{"state", "CANCELLED"}}),
            1);
  EXPECT_EQ(Value(coordinator, "ps_coordinator_job_steps", job), -1);
  std::string after;
  const absl::Time dropped_by = absl::Now() + absl::Seconds(30);
  do {
    after = Scrape(endpoints.at("server"));
    if (Value(after, "ps_server_job_pushes_applied_total", job) < 0) break;
    absl::SleepFor(absl::Milliseconds(50));
  } while (absl::Now() < dropped_by);
  EXPECT_EQ(Value(after, "ps_server_job_pushes_applied_total", job), -1)
      << after;
}

// A port that is bound, and not closed until the test ends.
class BoundPort {
 public:
  BoundPort() {
    fd_ = socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    if (bind(fd_, reinterpret_cast<sockaddr*>(&addr), len) == 0 &&
        listen(fd_, 1) == 0 &&
        getsockname(fd_, reinterpret_cast<sockaddr*>(&addr), &len) == 0) {
      port_ = ntohs(addr.sin_port);
    }
  }
  ~BoundPort() { close(fd_); }
  int port() const { return port_; }

 private:
  int fd_ = -1;
  int port_ = 0;
};

class MetricsFlagTest : public ::testing::TestWithParam<const char*> {};

TEST_P(MetricsFlagTest, BadMetricsPortIsRefusedNamingTheFlag) {
  const std::string binary = RunfilesBinDir() + "/" + GetParam();
  const std::string log =
      std::string(std::getenv("TEST_TMPDIR")) + "/metrics_port.log";
  BoundPort taken;
  ASSERT_GT(taken.port(), 0);
  struct Case {
    std::string flag;
    int exit_code;
    std::string says;
  };
  const std::string in_use = absl::StrCat("--metrics_port=", taken.port());
  for (const Case& c : std::vector<Case>{
           {"--metrics_port=-2", 2,
            "--metrics_port=-2 is out of range; allowed: 0 (no metrics), -1 "
            "(any free port) or a port in [1, 65535]"},
           {"--metrics_port=70000", 2, "--metrics_port=70000 is out of range"},
           {in_use, 1,
            absl::StrCat(in_use, ": cannot serve metrics on 127.0.0.1:",
                         taken.port())}}) {
    std::remove(log.c_str());
    std::vector<std::string> argv = {binary, "--port=0", "--insecure", c.flag};
    // Nothing answers there: the flag is checked before any dialling.
    if (!absl::StrContains(binary, "coordinator")) {
      argv.push_back("--coordinator=127.0.0.1:1");
    }
    auto p = Subprocess::Start(argv, log);
    ASSERT_TRUE(p.ok()) << p.status();
    EXPECT_EQ(ExitCode(p->get(), absl::Seconds(20)), c.exit_code) << c.flag;
    const std::string output = Read(log);
    EXPECT_NE(output.find(c.says), std::string::npos) << output;
  }
}

INSTANTIATE_TEST_SUITE_P(EveryDaemon, MetricsFlagTest,
                         ::testing::Values("coordinator/ps_coordinator",
                                           "server/ps_server",
                                           "worker/ps_worker"));

}  // namespace
}  // namespace ps::testing
