// The coordinator's dashboard in a real browser: `psctl local` runs a job,
// headless Chromium (Debian's chromium) loads the job's page while it
// trains, and the test reads the DOM the page's scripts built (the state,
// the curves' points) and keeps a screenshot (test.outputs/ in the test's
// log folder).
#include <signal.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/http_get.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"
#include "tests/synthetic_data.h"

namespace ps::testing {
namespace {

constexpr char kChromium[] = "/usr/bin/chromium";

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

class DashboardBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (access(kChromium, X_OK) != 0) {
      GTEST_SKIP() << kChromium
                   << " is not installed (Debian package chromium; "
                      "deploy/bootstrap.sh installs it)";
    }
    dir_ = std::string(std::getenv("TEST_TMPDIR")) + "/dash";
    std::filesystem::create_directories(dir_ + "/data");
    ASSERT_TRUE(WriteSyntheticFashionMnist(dir_ + "/data", 2000, 200, 5).ok());
  }

  // Runs Chromium headless on `url` with `extra` flags; its stdout.
  std::string Chromium(const std::string& url,
                       const std::vector<std::string>& extra) {
    static int run = 0;
    const std::string profile = absl::StrCat(dir_, "/chromium", ++run);
    std::vector<std::string> argv = {
        kChromium, "--headless", "--no-sandbox", "--disable-gpu",
        "--disable-quic", "--no-first-run", "--disable-background-networking",
        "--disable-component-update", "--disable-sync",
        "--disable-crash-reporter", "--user-data-dir=" + profile,
        // Lets the page's fetches and first refresh finish before the DOM
        // is read.
        "--virtual-time-budget=5000"};
    argv.insert(argv.end(), extra.begin(), extra.end());
    argv.push_back(url);
    const std::string out = profile + ".out";
    auto p = Subprocess::Start(argv, out);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return "";
    const absl::Time deadline = absl::Now() + absl::Seconds(90);
    while ((*p)->Running() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(50));
    }
    EXPECT_FALSE((*p)->Running()) << "chromium still running on " << url;
    return Read(out);
  }

  std::string dir_;
};

TEST_F(DashboardBrowserTest, JobPageShowsItsStateAndLiveCurves) {
  const std::string spec = dir_ + "/spec.json";
  std::ofstream(spec) << R"({"name": "dash", "model": {"type": "SOFTMAX"},
      "data": {"dataset": "FASHION_MNIST", "dir": ")"
                      << dir_ << R"(/data"},
      "optimizer": {"type": "SGD", "learningRate": 0.05},
      "training": {"epochs": 1000, "batchSize": 32, "reportEverySteps": 5},
      "cluster": {"numWorkers": 1}})";
  auto psctl = Subprocess::Start(
      {RunfilesBinDir() + "/client/psctl/psctl", "local", spec,
       "--servers=1", "--workers=1", "--bin_dir=" + RunfilesBinDir(),
       "--work_dir=" + dir_ + "/logs"},
      dir_ + "/psctl.log");
  ASSERT_TRUE(psctl.ok()) << psctl.status();
  // The dashboard's address, from psctl's output.
  std::string url;
  const std::regex printed("dashboard: (http://127\\.0\\.0\\.1:[0-9]+/)");
  for (absl::Time deadline = absl::Now() + absl::Seconds(60);
       url.empty() && absl::Now() < deadline && (*psctl)->Running();
       absl::SleepFor(absl::Milliseconds(50))) {
    std::smatch m;
    const std::string log = Read(dir_ + "/psctl.log");
    if (std::regex_search(log, m, printed)) url = m[1];
  }
  ASSERT_FALSE(url.empty()) << Read(dir_ + "/psctl.log");
  // Training: the history has a few points.
  int points = 0;
  for (absl::Time deadline = absl::Now() + absl::Seconds(60);
       points < 3 && absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(100))) {
    // "http://HOST:PORT/" -> "HOST:PORT"
    absl::StatusOr<HttpResponse> h = HttpGet(
        url.substr(7, url.size() - 8), "/api/jobs/job-1/history");
    if (!h.ok() || h->status != 200) continue;
    points = 0;
    for (size_t at = 0; (at = h->body.find("\"step\"", at)) != std::string::npos;
         ++at) {
      ++points;
    }
  }
  ASSERT_GE(points, 3) << "no progress recorded; " << Read(dir_ + "/psctl.log");

  const std::string dom = Chromium(url + "jobs/job-1", {"--dump-dom"});
  EXPECT_NE(dom.find("id=\"job-state\" class=\"state RUNNING\">RUNNING<"),
            std::string::npos)
      << dom;
  for (const char* chart : {"loss", "accuracy", "throughput"}) {
    std::smatch m;
    const std::regex re(absl::StrCat("id=\"chart-", chart,
                                     "\" data-points=\"([0-9]+)\""));
    ASSERT_TRUE(std::regex_search(dom, m, re)) << chart << "\n" << dom;
    int n = 0;
    ASSERT_TRUE(absl::SimpleAtoi(m[1].str(), &n));
    EXPECT_GE(n, points) << chart;
  }
  EXPECT_NE(dom.find("layer"), std::string::npos)
      << "no table placement shown";  // softmax's table is layer0.*

  const char* outputs = std::getenv("TEST_UNDECLARED_OUTPUTS_DIR");
  const std::string shot =
      absl::StrCat(outputs ? outputs : dir_.c_str(), "/job_page.png");
  Chromium(url + "jobs/job-1",
           {"--screenshot=" + shot, "--window-size=1200,1400"});
  ASSERT_TRUE(std::filesystem::exists(shot));
  EXPECT_GT(std::filesystem::file_size(shot), 20000u);

  const std::string overview = Chromium(url, {"--dump-dom"});
  EXPECT_NE(overview.find("href=\"/jobs/job-1\""), std::string::npos)
      << overview;
  EXPECT_NE(overview.find("state ALIVE"), std::string::npos) << overview;

  // Ctrl-C: psctl cancels the job and stops the cluster.
  kill((*psctl)->pid(), SIGINT);
  for (absl::Time deadline = absl::Now() + absl::Seconds(60);
       (*psctl)->Running() && absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(50))) {
  }
  EXPECT_FALSE((*psctl)->Running());
  EXPECT_NE(Read(dir_ + "/psctl.log").find("CANCELLED"), std::string::npos);
}

}  // namespace
}  // namespace ps::testing
