// The cluster as separate hosts: every daemon in a network namespace of its
// own with its own address (tests/netns_testbed.h), mutual TLS with
// certificates for those addresses from `psctl certs`, and psctl run on the
// coordinator's host. Runs the shipped MLP example across five hosts, and
// cuts a server's link mid-job: as the README's fault tolerance table says
// for a server cut off, it is declared dead, the job goes on and succeeds,
// and once its link is back the server registers again as a new member.
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <regex>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"
#include "tests/netns_testbed.h"

namespace ps::testing {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class MultiHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
    dir_ = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }

  // Hosts: 0 the coordinator (and psctl), then `servers` servers, then
  // `workers` workers, each with a certificate for its address.
  void StartCluster(int servers, int workers) {
    servers_ = servers;
    auto bed = Testbed::Create(1 + servers + workers);
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = *std::move(bed);
    ASSERT_EQ(Psctl(-1, {"certs", "init", "--dir=" + dir_ + "/ca"}), 0);
    Issue("admin", "test", -1);
    Issue("coordinator", "coord", 0);
    coordinator_ = bed_->Address(0) + ":7000";
    Start(0, "coordinator/ps_coordinator", "coordinator-coord",
          {"--port=7000", "--state_dir=" + dir_ + "/state"});
    for (int i = 1; i < bed_->hosts(); ++i) {
      const bool server = i <= servers;
      const std::string name = absl::StrCat(server ? "s" : "w", i);
      Issue(server ? "server" : "worker", name, i);
      Start(i, server ? "server/ps_server" : "worker/ps_worker",
            absl::StrCat(server ? "server-" : "worker-", name),
            {"--port=0", "--coordinator=" + coordinator_});
    }
    // Every member registered, as psctl on the coordinator's host sees it.
    const absl::Time deadline = absl::Now() + absl::Seconds(60);
    int alive = 0;
    while (alive < bed_->hosts() - 1 && absl::Now() < deadline) {
      std::string out;
      if (Psctl(0, {"cluster"}, &out) == 0) {
        alive = 0;
        for (size_t at = 0; (at = out.find(" alive ", at)) != std::string::npos;
             ++at) {
          ++alive;
        }
      }
      if (alive < bed_->hosts() - 1) absl::SleepFor(absl::Milliseconds(200));
    }
    ASSERT_EQ(alive, bed_->hosts() - 1) << "members alive";
  }

  void Issue(const std::string& role, const std::string& name, int host) {
    std::vector<std::string> args = {"certs", "issue", "--dir=" + dir_ + "/ca",
                                     "--role=" + role, "--name=" + name};
    if (host >= 0) args.push_back("--ip=" + bed_->Address(host));
    ASSERT_EQ(Psctl(-1, args), 0) << role << " " << name;
  }

  void Start(int host, const std::string& binary, const std::string& tls,
             std::vector<std::string> flags) {
    std::vector<std::string> argv = {RunfilesBinDir() + "/" + binary,
                                     "--host=" + bed_->Address(host),
                                     "--tls_dir=" + dir_ + "/ca/" + tls};
    argv.insert(argv.end(), flags.begin(), flags.end());
    auto p = Subprocess::Start(bed_->InHost(host, argv),
                               absl::StrCat(dir_, "/host", host, ".log"));
    ASSERT_TRUE(p.ok()) << p.status();
    daemons_[host] = *std::move(p);
  }

  // psctl `args` as the admin, on `host` (-1: outside the test bed, for
  // the certificate commands); its exit code, its output in *out.
  int Psctl(int host, std::vector<std::string> args, std::string* out = nullptr,
            absl::Duration timeout = absl::Seconds(60)) {
    std::vector<std::string> argv = {RunfilesBinDir() + "/client/psctl/psctl"};
    argv.insert(argv.end(), args.begin(), args.end());
    if (host >= 0) {
      argv.push_back("--coordinator=" + coordinator_);
      argv.push_back("--tls_dir=" + dir_ + "/ca/admin-test");
      argv = bed_->InHost(host, argv);
    }
    std::string output;
    absl::StatusOr<int> code = RunCommand(argv, timeout, &output);
    if (out != nullptr) *out = output;
    EXPECT_TRUE(code.ok()) << code.status();
    return code.ok() ? *code : -1;
  }

  // The MLP example with `servers` servers, as a spec file.
  std::string MlpSpec(int servers) {
    std::string spec = Read(RunfilesBinDir() + "/examples/fashion_mnist_mlp.json");
    spec = std::regex_replace(spec, std::regex("\"numServers\": [0-9]+"),
                              absl::StrCat("\"numServers\": ", servers));
    const std::string path = dir_ + "/mlp.json";
    std::ofstream(path) << spec;
    return path;
  }

  std::string Submit(const std::string& spec) {
    std::string out;
    EXPECT_EQ(Psctl(0, {"submit", spec}, &out), 0) << out;
    while (!out.empty() && (out.back() == '\n')) out.pop_back();
    return out.substr(out.rfind('\n') + 1);
  }

  std::string dir_;
  int servers_ = 0;
  std::string coordinator_;
  std::unique_ptr<Testbed> bed_;
  std::map<int, std::unique_ptr<Subprocess>> daemons_;  // before bed_ goes

  void TearDown() override {
    daemons_.clear();  // SIGTERM, then SIGKILL; before the namespaces go
    bed_.reset();
  }
};

TEST_F(MultiHostTest, MlpExampleTrainsAcrossFiveHosts) {
  StartCluster(/*servers=*/2, /*workers=*/2);
  if (HasFatalFailure()) return;
  const std::string job = Submit(MlpSpec(2));
  ASSERT_EQ(job, "job-1");
  std::string out;
  EXPECT_EQ(Psctl(0, {"watch", job}, &out, absl::Minutes(5)), 0) << out;
  ASSERT_EQ(Psctl(0, {"status", job}, &out), 0);
  EXPECT_NE(out.find("SUCCEEDED"), std::string::npos) << out;
  // Every member is at its host's address, not loopback.
  ASSERT_EQ(Psctl(0, {"cluster"}, &out), 0);
  for (int host = 1; host < bed_->hosts(); ++host) {
    EXPECT_NE(out.find(bed_->Address(host) + ":"), std::string::npos) << out;
  }
}

TEST_F(MultiHostTest, AServerCutOffIsReplacedAndTheJobSucceeds) {
  StartCluster(/*servers=*/3, /*workers=*/2);
  if (HasFatalFailure()) return;
  const std::string job = Submit(MlpSpec(3));
  // Training: a few steps reported.
  std::string out;
  const std::regex step("step ([0-9]+)/");
  for (absl::Time deadline = absl::Now() + absl::Seconds(90);;) {
    ASSERT_EQ(Psctl(0, {"status", job}, &out), 0) << out;
    std::smatch m;
    if (std::regex_search(out, m, step) && std::stoll(m[1]) > 0) break;
    ASSERT_LT(absl::Now(), deadline) << out;
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(bed_->CutLink(1).ok());  // server on host 1: "server-1"
  // Declared dead within a lease or so; the job goes on without it.
  for (absl::Time deadline = absl::Now() + absl::Seconds(30);;) {
    ASSERT_EQ(Psctl(0, {"cluster"}, &out), 0) << out;
    if (std::regex_search(out, std::regex("server-1 +server +" +
                                          bed_->Address(1) + ":[0-9]+ +dead"))) {
      break;
    }
    ASSERT_LT(absl::Now(), deadline) << out;
    absl::SleepFor(absl::Milliseconds(200));
  }
  ASSERT_TRUE(bed_->RestoreLink(1).ok());
  EXPECT_EQ(Psctl(0, {"watch", job}, &out, absl::Minutes(5)), 0) << out;
  ASSERT_EQ(Psctl(0, {"status", job}, &out), 0);
  EXPECT_NE(out.find("SUCCEEDED"), std::string::npos) << out;
  // Back on the network, the server registers again as a new member.
  for (absl::Time deadline = absl::Now() + absl::Seconds(30);;) {
    ASSERT_EQ(Psctl(0, {"cluster"}, &out), 0) << out;
    if (std::regex_search(out, std::regex("server-[0-9]+ +server +" +
                                          bed_->Address(1) +
                                          ":[0-9]+ +alive"))) {
      break;
    }
    ASSERT_LT(absl::Now(), deadline) << out;
    absl::SleepFor(absl::Milliseconds(200));
  }
  EXPECT_NE(Read(dir_ + "/host1.log").find("registered"), std::string::npos);
}

}  // namespace
}  // namespace ps::testing
