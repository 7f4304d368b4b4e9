// The coordinator's dashboard in a real browser: `psctl local` runs a job,
// headless Chromium (Debian's chromium) loads the job's page while it
// trains, and the test reads the DOM the page's scripts built (the state,
// the curves' points) and keeps a screenshot (test.outputs/ in the test's
// log folder).
#include <filesystem>
#include <regex>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "common/http_get.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"
#include "tests/headless_chromium.h"
#include "tests/local_training_job.h"

namespace ps::testing {
namespace {

class DashboardBrowserTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!ChromiumInstalled()) {
      GTEST_SKIP() << kChromium
                   << " is not installed (Debian package chromium; "
                      "deploy/bootstrap.sh installs it)";
    }
    dir_ = std::string(std::getenv("TEST_TMPDIR")) + "/dash";
  }

  std::string Chromium(const std::string& url,
                       const std::vector<std::string>& extra) {
    return RunChromium(dir_, url, extra);
  }

  std::string dir_;
};

TEST_F(DashboardBrowserTest, JobPageShowsItsStateAndLiveCurves) {
  absl::StatusOr<std::unique_ptr<LocalTrainingJob>> job =
      LocalTrainingJob::Start(dir_);
  ASSERT_TRUE(job.ok()) << job.status();
  const std::string url = (*job)->dashboard_url();
  // Training: the history has a few points.
  int points = 0;
  for (absl::Time deadline = absl::Now() + absl::Seconds(60);
       points < 3 && absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(100))) {
    // "http://HOST:PORT/" -> "HOST:PORT"
    absl::StatusOr<HttpResponse> h =
        HttpGet((*job)->dashboard_address(), "/api/jobs/job-1/history");
    if (!h.ok() || h->status != 200) continue;
    points = 0;
    for (size_t at = 0; (at = h->body.find("\"step\"", at)) != std::string::npos;
         ++at) {
      ++points;
    }
  }
  ASSERT_GE(points, 3) << "no progress recorded; " << (*job)->Output();

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
  EXPECT_TRUE((*job)->Interrupt()) << (*job)->Output();
}

}  // namespace
}  // namespace ps::testing
