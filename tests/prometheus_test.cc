// Prometheus against the real thing: the shipped configuration, alerting
// rules (with their unit tests) and Grafana dashboard, and Debian's
// prometheus server scraping a `psctl local` cluster that it finds through
// the coordinator's service discovery, read back through Prometheus' query
// API.
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/http_get.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "tests/cluster_fixture.h"
#include "tests/netns_testbed.h"
#include "tests/local_training_job.h"

namespace ps::testing {
namespace {

std::string Read(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

std::string Shipped(const std::string& path) {
  return RunfilesBinDir() + "/deploy/" + path;
}

class PrometheusTest : public ::testing::Test {
 protected:
  void SetUp() override {
    for (const char* tool : {"/usr/bin/prometheus", "/usr/bin/promtool"}) {
      if (access(tool, X_OK) != 0) {
        GTEST_SKIP() << tool
                     << " is not installed (Debian package prometheus; "
                        "deploy/bootstrap.sh installs it)";
      }
    }
    dir_ = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
  }

  int Promtool(const std::vector<std::string>& args, std::string* out) {
    std::vector<std::string> argv = {"/usr/bin/promtool"};
    argv.insert(argv.end(), args.begin(), args.end());
    absl::StatusOr<int> code = RunCommand(argv, absl::Seconds(60), out);
    EXPECT_TRUE(code.ok()) << code.status();
    return code.ok() ? *code : -1;
  }

  std::string dir_;
};

TEST_F(PrometheusTest, ShippedConfigRulesAndRuleTestsPassPromtool) {
  std::string out;
  EXPECT_EQ(Promtool({"check", "config", Shipped("prometheus/prometheus.yml")},
                     &out),
            0)
      << out;
  EXPECT_EQ(Promtool({"check", "rules", Shipped("prometheus/alerts.yml")}, &out),
            0)
      << out;
  EXPECT_EQ(
      Promtool({"test", "rules", Shipped("prometheus/alerts_test.yml")}, &out),
      0)
      << out;
  EXPECT_NE(out.find("SUCCESS"), std::string::npos) << out;
}

// A port nothing listens on now (the kernel's choice); Prometheus takes
// flags, not port 0.
int FreePort() {
  const int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
  getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len);
  close(fd);
  return ntohs(addr.sin_port);
}

std::string UrlEncode(const std::string& s) {
  std::string out;
  for (unsigned char c : s) {
    if (isalnum(c) || c == '_' || c == '-' || c == '.') {
      out += static_cast<char>(c);
    } else {
      out += absl::StrCat("%", absl::Hex(c, absl::kZeroPad2));
    }
  }
  return out;
}

TEST_F(PrometheusTest, ScrapesALocalClusterFoundThroughTheCoordinator) {
  absl::StatusOr<std::unique_ptr<LocalTrainingJob>> job =
      LocalTrainingJob::Start(dir_);
  ASSERT_TRUE(job.ok()) << job.status();
  const std::string dashboard = (*job)->dashboard_url();

  // The shipped configuration, pointed at this coordinator, scraping and
  // discovering every second.
  std::string config = Read(Shipped("prometheus/prometheus.yml"));
  config = absl::StrReplaceAll(
      config, {{"http://127.0.0.1:8080/", dashboard},
               {"scrape_interval: 15s", "scrape_interval: 1s"},
               {"refresh_interval: 30s", "refresh_interval: 1s"}});
  std::ofstream(dir_ + "/prometheus.yml") << config;
  std::filesystem::copy_file(Shipped("prometheus/alerts.yml"),
                             dir_ + "/alerts.yml");
  const std::string web = absl::StrCat("127.0.0.1:", FreePort());
  auto prometheus = Subprocess::Start(
      {"/usr/bin/prometheus", "--config.file=" + dir_ + "/prometheus.yml",
       "--storage.tsdb.path=" + dir_ + "/tsdb", "--web.listen-address=" + web,
       "--log.level=warn"},
      dir_ + "/prometheus.log");
  ASSERT_TRUE(prometheus.ok()) << prometheus.status();

  // The job's examples/s, as Prometheus stored it.
  const std::string query =
      "/api/v1/query?query=" +
      UrlEncode(R"(ps_coordinator_job_examples_per_second{job_id="job-1"})");
  double examples_per_second = 0;
  std::string last;
  for (absl::Time deadline = absl::Now() + absl::Seconds(90);
       examples_per_second <= 0 && absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(250))) {
    absl::StatusOr<HttpResponse> r = HttpGet(web, query);
    if (!r.ok() || r->status != 200) continue;
    last = r->body;
    const nlohmann::json answer = nlohmann::json::parse(r->body, nullptr, false);
    if (answer.is_discarded() || answer["data"]["result"].empty()) continue;
    examples_per_second =
        std::stod(answer["data"]["result"][0]["value"][1].get<std::string>());
  }
  ASSERT_GT(examples_per_second, 0) << "last answer: " << last << "\n"
                                    << Read(dir_ + "/prometheus.log");

  // Every daemon is found and scraped: the coordinator, the server and the
  // worker, each labelled with its role.
  std::set<std::string> found;
  std::string up_answer;
  for (absl::Time deadline = absl::Now() + absl::Seconds(60);
       found.size() < 3 && absl::Now() < deadline;
       absl::SleepFor(absl::Milliseconds(250))) {
    absl::StatusOr<HttpResponse> up = HttpGet(
        web, "/api/v1/query?query=" + UrlEncode("sum by (role) (up)"));
    if (!up.ok() || up->status != 200) continue;
    up_answer = up->body;
    const nlohmann::json roles = nlohmann::json::parse(up->body);
    found.clear();
    for (const auto& series : roles["data"]["result"]) {
      if (series["value"][1] == "1") found.insert(series["metric"]["role"]);
    }
  }
  EXPECT_EQ(found, (std::set<std::string>{"coordinator", "server", "worker"}))
      << up_answer << "\ntargets: "
      << HttpGet(web, "/api/v1/targets").value_or(HttpResponse{}).body;

  // Every metric the Grafana dashboard plots is one the daemons export.
  absl::StatusOr<HttpResponse> names =
      HttpGet(web, "/api/v1/label/__name__/values");
  ASSERT_TRUE(names.ok()) << names.status();
  std::set<std::string> exported;
  const nlohmann::json name_list = nlohmann::json::parse(names->body);
  for (const auto& n : name_list["data"]) {
    exported.insert(n.get<std::string>());
  }
  const nlohmann::json grafana =
      nlohmann::json::parse(Read(Shipped("grafana/pscluster.json")));
  int queries = 0;
  const std::regex metric("ps_[a-z_]+");
  for (const auto& panel : grafana["panels"]) {
    for (const auto& target : panel["targets"]) {
      const std::string expr = target["expr"];
      ++queries;
      for (std::sregex_iterator it(expr.begin(), expr.end(), metric), end;
           it != end; ++it) {
        EXPECT_TRUE(exported.count(it->str()))
            << panel["title"] << ": " << it->str() << " is not exported";
      }
    }
  }
  EXPECT_GE(queries, 10);


  EXPECT_TRUE((*job)->Interrupt()) << (*job)->Output();
}

}  // namespace
}  // namespace ps::testing
