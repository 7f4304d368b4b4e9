// psctl as a user runs it: the real binary, its exit code and its output.
#include <signal.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"
#include "tests/synthetic_data.h"

namespace ps::testing {
namespace {

class PsctlTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(std::getenv("TEST_TMPDIR"), "/",
                        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_ + "/data");
    ASSERT_TRUE(WriteSyntheticFashionMnist(dir_ + "/data", 2000, 500, 11).ok());
  }

  std::string WriteSpec(int epochs, const std::string& extra = "") {
    const std::string path = dir_ + "/spec.json";
    std::ofstream(path) << R"({"name": "cli", "model": {"type": "SOFTMAX"},
      "data": {"dataset": "FASHION_MNIST", "dir": ")" << dir_ << R"(/data"},
      "optimizer": {"type": "SGD", "learningRate": 0.1},
      "training": {"epochs": )" << epochs << R"(, "batchSize": 32, "reportEverySteps": 5},
      "cluster": {"numWorkers": 1})" << extra << "}";
    return path;
  }

  // Starts psctl with `args`; output goes to dir_/psctl.log.
  std::unique_ptr<Subprocess> Psctl(std::vector<std::string> args) {
    args.insert(args.begin(), RunfilesBinDir() + "/client/psctl/psctl");
    auto p = Subprocess::Start(args, dir_ + "/psctl.log");
    EXPECT_TRUE(p.ok()) << p.status();
    return p.ok() ? *std::move(p) : nullptr;
  }

  int Wait(Subprocess* p, absl::Duration timeout) {
    const absl::Time deadline = absl::Now() + timeout;
    while (p->Running() && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
    EXPECT_FALSE(p->Running()) << "psctl still running; output:\n" << Output();
    return p->exit_code().value_or(-1);
  }

  std::string Output() {
    std::ifstream in(dir_ + "/psctl.log");
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
  }

  std::string dir_;
};

TEST_F(PsctlTest, LocalRunsJobToSucceededAndExports) {
  auto p = Psctl({"local", WriteSpec(2), "--servers=2", "--workers=2",
                  "--bin_dir=" + RunfilesBinDir(), "--work_dir=" + dir_ + "/logs",
                  "--export_to=" + dir_ + "/m.psx",
                  "--plot=" + dir_ + "/curves.svg"});
  EXPECT_EQ(Wait(p.get(), absl::Seconds(120)), 0) << Output();
  const std::string out = Output();
  EXPECT_NE(out.find("dashboard: http://127.0.0.1:"), std::string::npos)
      << out;
  EXPECT_NE(out.find("plot of job-1"), std::string::npos) << out;
  std::ifstream svg(dir_ + "/curves.svg");
  std::stringstream curves;
  curves << svg.rdbuf();
  EXPECT_NE(curves.str().find("training loss"), std::string::npos);
  EXPECT_NE(out.find("state:    SUCCEEDED"), std::string::npos) << out;
  EXPECT_NE(out.find("test accuracy"), std::string::npos) << out;
  EXPECT_NE(out.find("exported 2 tables"), std::string::npos) << out;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/m.psx"));
}

// The pid of the child of `parent` whose command line mentions `needle`,
// or -1.
pid_t ChildWith(pid_t parent, const std::string& needle) {
  for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
    const std::string name = entry.path().filename();
    if (name.find_first_not_of("0123456789") != std::string::npos) continue;
    std::ifstream stat(entry.path() / "stat");
    std::string pid, comm, state;
    pid_t ppid = -1;
    stat >> pid >> comm >> state >> ppid;
    if (ppid != parent) continue;
    std::ifstream cmdline(entry.path() / "cmdline");
    std::stringstream s;
    s << cmdline.rdbuf();
    if (s.str().find(needle) != std::string::npos) return std::stoi(name);
  }
  return -1;
}

// --spare_workers: a SIGKILLed worker's rank is taken over by the spare and
// the job succeeds.
TEST_F(PsctlTest, LocalSpareWorkerTakesOverAKilledWorkersRank) {
  const std::string logs = dir_ + "/logs";
  const std::string spec = dir_ + "/bsp.json";
  std::ofstream(spec) << R"({"name": "spare", "model": {"type": "SOFTMAX"},
      "data": {"dataset": "FASHION_MNIST", "dir": ")"
                      << dir_ << R"(/data"},
      "optimizer": {"type": "SGD", "learningRate": 0.1},
      "training": {"epochs": 40, "batchSize": 32, "reportEverySteps": 5,
                   "consistency": "BSP"},
      "cluster": {"numWorkers": 2}})";
  auto p = Psctl({"local", spec, "--servers=1", "--workers=2", "--spare_workers=1",
                  "--lease=1s", "--bin_dir=" + RunfilesBinDir(),
                  "--work_dir=" + logs});
  // The worker that started rank 1 says so in its log.
  std::string victim;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while ((victim.empty() || Output().find("loss") == std::string::npos) &&
         p->Running() && absl::Now() < deadline) {
    for (int i = 0; i < 3 && victim.empty(); ++i) {
      std::ifstream log(absl::StrCat(logs, "/worker", i, ".log"));
      std::stringstream s;
      s << log.rdbuf();
      if (s.str().find("rank 1/2") != std::string::npos) {
        victim = absl::StrCat("worker", i, ".addr");
      }
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  ASSERT_FALSE(victim.empty()) << Output();
  const pid_t pid = ChildWith(p->pid(), victim);
  ASSERT_GT(pid, 0);
  ASSERT_EQ(kill(pid, SIGKILL), 0);
  EXPECT_EQ(Wait(p.get(), absl::Seconds(60)), 0) << Output();
  const std::string out = Output();
  EXPECT_NE(out.find("2 workers + 1 spare"), std::string::npos) << out;
  EXPECT_NE(out.find("state:    SUCCEEDED"), std::string::npos) << out;
}

// --kill: psctl itself kills a server (the primary of group 0) and a worker
// mid-training, says when the cluster recovered, and the job still ends
// SUCCEEDED.
TEST_F(PsctlTest, LocalKillsAServerAndAWorkerAndTheJobSucceeds) {
  const std::string spec = dir_ + "/kill.json";
  std::ofstream(spec) << R"({"name": "kill", "model": {"type": "SOFTMAX"},
      "data": {"dataset": "FASHION_MNIST", "dir": ")"
                      << dir_ << R"(/data"},
      "optimizer": {"type": "SGD", "learningRate": 0.1},
      "training": {"epochs": 150, "batchSize": 32, "reportEverySteps": 5,
                   "consistency": "BSP"},
      "cluster": {"numWorkers": 2}})";
  auto p = Psctl({"local", spec, "--servers=2", "--workers=2",
                  "--spare_workers=1", "--lease=1s",
                  "--kill=server@0.5s,worker@1s",
                  "--bin_dir=" + RunfilesBinDir(),
                  "--work_dir=" + dir_ + "/logs"});
  EXPECT_EQ(Wait(p.get(), absl::Seconds(120)), 0) << Output();
  const std::string out = Output();
  EXPECT_NE(out.find("fault: killed server-"), std::string::npos) << out;
  EXPECT_NE(out.find("(primary of group 0"), std::string::npos) << out;
  EXPECT_NE(out.find("failover to epoch"), std::string::npos) << out;
  EXPECT_NE(out.find("fault: killed worker-"), std::string::npos) << out;
  EXPECT_NE(out.find("rank 0 taken over by"), std::string::npos) << out;
  EXPECT_NE(out.find("state:    SUCCEEDED"), std::string::npos) << out;
}

// --kill=coordinator: psctl SIGKILLs the coordinator mid-training and starts
// it again on its state dir; the job goes on and ends SUCCEEDED.
TEST_F(PsctlTest, LocalRestartsAKilledCoordinatorAndTheJobSucceeds) {
  auto p = Psctl({"local", WriteSpec(40), "--servers=2", "--workers=2",
                  "--kill=coordinator@1s", "--bin_dir=" + RunfilesBinDir(),
                  "--work_dir=" + dir_ + "/logs"});
  EXPECT_EQ(Wait(p.get(), absl::Seconds(120)), 0) << Output();
  const std::string out = Output();
  EXPECT_NE(out.find("fault: killed the coordinator with SIGKILL"),
            std::string::npos) << out;
  EXPECT_NE(out.find("coordinator restarted on its state dir"),
            std::string::npos) << out;
  EXPECT_NE(out.find("fault: training went on"), std::string::npos) << out;
  EXPECT_NE(out.find("state:    SUCCEEDED"), std::string::npos) << out;
}

// With one replica a killed server takes pieces with it: the job resumes
// from its newest checkpoint on the server left (re-partitioned) by itself
// and ends SUCCEEDED.
TEST_F(PsctlTest, LocalJobResumesFromItsCheckpointAfterLosingAServer) {
  const std::string spec = dir_ + "/resume.json";
  std::ofstream(spec) << R"({"name": "resume", "model": {"type": "SOFTMAX"},
      "data": {"dataset": "FASHION_MNIST", "dir": ")"
                      << dir_ << R"(/data"},
      "optimizer": {"type": "SGD", "learningRate": 0.1},
      "training": {"epochs": 60, "batchSize": 32, "reportEverySteps": 5,
                   "consistency": "BSP",
                   "checkpoint": {"dir": ")"
                      << dir_ << R"(/ckpt", "everySteps": 40}},
      "cluster": {"numWorkers": 2, "replicas": 1}})";
  auto p = Psctl({"local", spec, "--servers=2", "--workers=2", "--lease=1s",
                  "--kill=server@1s", "--bin_dir=" + RunfilesBinDir(),
                  "--work_dir=" + dir_ + "/logs"});
  EXPECT_EQ(Wait(p.get(), absl::Seconds(120)), 0) << Output();
  const std::string out = Output();
  EXPECT_NE(out.find("fault: killed server-"), std::string::npos) << out;
  EXPECT_NE(out.find("fault: resumed from the checkpoint at step"),
            std::string::npos) << out;
  EXPECT_NE(out.find("resumed:  attempt 2, from step"), std::string::npos)
      << out;
  EXPECT_NE(out.find("state:    SUCCEEDED"), std::string::npos) << out;
}

TEST_F(PsctlTest, LocalRefusesAMalformedKill) {
  auto p = Psctl({"local", WriteSpec(1), "--kill=database@1s",
                  "--bin_dir=" + RunfilesBinDir(),
                  "--work_dir=" + dir_ + "/logs"});
  EXPECT_EQ(Wait(p.get(), absl::Seconds(30)), 2);  // a usage error
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/logs"));  // nothing started
  EXPECT_NE(Output().find("--kill: 'database@1s': the role must be server, "
                          "worker or coordinator"),
            std::string::npos)
      << Output();
}

TEST_F(PsctlTest, PlotFileMustBePngOrSvg) {
  auto p = Psctl({"local", WriteSpec(1), "--plot=" + dir_ + "/curves.jpg",
                  "--bin_dir=" + RunfilesBinDir(),
                  "--work_dir=" + dir_ + "/logs"});
  EXPECT_EQ(Wait(p.get(), absl::Seconds(30)), 2);  // a usage error
  EXPECT_FALSE(std::filesystem::exists(dir_ + "/logs"));  // nothing started
  EXPECT_NE(Output().find("curves.jpg': allowed: a file name ending in .png "
                          "or .svg"),
            std::string::npos)
      << Output();
  auto plot = Psctl({"plot", "job-1", "--insecure"});
  EXPECT_EQ(Wait(plot.get(), absl::Seconds(30)), 2);
  EXPECT_NE(Output().find("--out='': allowed"), std::string::npos)
      << Output();
}

TEST_F(PsctlTest, LocalIsCancelledByCtrlCAndTearsDown) {
  auto p = Psctl({"local", WriteSpec(1000), "--servers=1", "--workers=1",
                  "--bin_dir=" + RunfilesBinDir(), "--work_dir=" + dir_ + "/logs"});
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  while (Output().find("loss") == std::string::npos && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(50));
  }
  kill(p->pid(), SIGINT);
  EXPECT_EQ(Wait(p.get(), absl::Seconds(30)), 1);
  const std::string out = Output();
  EXPECT_NE(out.find("interrupted: cancelling"), std::string::npos) << out;
  EXPECT_NE(out.find("state:    CANCELLED"), std::string::npos) << out;
  EXPECT_NE(out.find("stopping local cluster"), std::string::npos) << out;
  EXPECT_TRUE(std::filesystem::exists(dir_ + "/logs/coordinator.log"));
}

TEST_F(PsctlTest, BadSpecFileGetsMessageNamingTheProblem) {
  auto p = Psctl({"submit", WriteSpec(1, R"(, "colour": "red")")});
  EXPECT_EQ(Wait(p.get(), absl::Seconds(30)), 1);
  EXPECT_NE(Output().find("colour"), std::string::npos) << Output();

  p = Psctl({"submit", dir_ + "/missing.json"});
  EXPECT_EQ(Wait(p.get(), absl::Seconds(30)), 1);
  EXPECT_NE(Output().find("cannot read job spec " + dir_ + "/missing.json"),
            std::string::npos) << Output();

  std::ofstream(dir_ + "/zero.json")
      << R"({"model": {"type": "SOFTMAX"}, "data": {"dataset": "FASHION_MNIST", "dir": "/x"},
             "optimizer": {"type": "SGD", "learningRate": 0},
             "training": {"epochs": 1, "batchSize": 1}, "cluster": {"numWorkers": 1}})";
  p = Psctl({"submit", dir_ + "/zero.json"});
  EXPECT_EQ(Wait(p.get(), absl::Seconds(30)), 1);
  EXPECT_NE(Output().find("optimizer.learningRate: 0 is out of range; allowed: (0, 10]"),
            std::string::npos) << Output();
}

TEST_F(PsctlTest, UnknownCommandPrintsUsage) {
  auto p = Psctl({"frobnicate"});
  EXPECT_EQ(Wait(p.get(), absl::Seconds(30)), 2);
  EXPECT_NE(Output().find("unknown command 'frobnicate'"), std::string::npos);
  EXPECT_NE(Output().find("submit SPEC.json"), std::string::npos);
}

}  // namespace
}  // namespace ps::testing
