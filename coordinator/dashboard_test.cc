#include "coordinator/dashboard.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/numbers.h"
#include "gtest/gtest.h"

namespace ps::coordinator {
namespace {

DashboardSource Source() {
  DashboardSource s;
  s.cluster = [] {
    v1::GetClusterResponse c;
    v1::Member* m = c.add_members();
    m->set_id("server-1");
    m->set_role(v1::SERVER);
    m->set_state(v1::ALIVE);
    m->set_metrics_address("127.0.0.1:9471");
    v1::Member* dead = c.add_members();
    dead->set_id("worker-2");
    dead->set_role(v1::WORKER);
    dead->set_state(v1::DEAD);
    dead->set_metrics_address("127.0.0.1:9480");
    c.set_metrics_address("127.0.0.1:9470");
    c.set_lease_ms(3000);
    return c;
  };
  s.jobs = [] {
    v1::Job job;
    job.set_id("job-1");
    job.set_state(v1::RUNNING);
    job.mutable_partition_map()->set_epoch(4);
    return std::vector<v1::Job>{job};
  };
  s.job = [](const std::string& id) -> absl::StatusOr<v1::Job> {
    if (id != "job-1") return absl::NotFoundError("unknown job '" + id + "'");
    v1::Job job;
    job.set_id("job-1");
    job.set_state(v1::RUNNING);
    job.set_reason("<script>alert(1)</script>");
    return job;
  };
  s.history = [](const std::string& id,
                 int max_points) -> absl::StatusOr<v1::JobHistory> {
    if (id != "job-1") return absl::NotFoundError("unknown job '" + id + "'");
    v1::JobHistory h;
    h.set_job_id(id);
    for (int i = 0; i < (max_points ? max_points : 5); ++i) {
      h.add_points()->set_step(i);
    }
    return h;
  };
  return s;
}

TEST(DashboardRouteTest, PagesAndStaticFilesAreServed) {
  const DashboardSource s = Source();
  for (const char* page : {"/", "/index.html", "/jobs/job-1"}) {
    HttpAnswer a = Route(s, "GET", page, "");
    EXPECT_EQ(a.status, 200) << page;
    EXPECT_TRUE(absl::StartsWith(a.content_type, "text/html")) << page;
    EXPECT_TRUE(absl::StrContains(a.body, "/static/dashboard.js")) << page;
  }
  HttpAnswer js = Route(s, "GET", "/static/uPlot.iife.min.js", "");
  EXPECT_EQ(js.status, 200);
  EXPECT_TRUE(absl::StrContains(js.body, "uPlot"));
  EXPECT_EQ(Route(s, "GET", "/static/uPlot.min.css", "").status, 200);
  EXPECT_EQ(Route(s, "GET", "/static/dashboard.css", "").status, 200);
  HttpAnswer missing = Route(s, "GET", "/static/nothing.js", "");
  EXPECT_EQ(missing.status, 404);
  EXPECT_TRUE(absl::StrContains(missing.body, "/static/nothing.js"));
}

TEST(DashboardRouteTest, ApiAnswersInProtobufJson) {
  const DashboardSource s = Source();
  HttpAnswer cluster = Route(s, "GET", "/api/cluster", "");
  EXPECT_EQ(cluster.status, 200);
  EXPECT_EQ(cluster.content_type, "application/json");
  EXPECT_TRUE(absl::StrContains(cluster.body, "\"role\":\"SERVER\""))
      << cluster.body;
  EXPECT_TRUE(absl::StrContains(cluster.body, "\"lease_ms\":\"3000\""));
  HttpAnswer jobs = Route(s, "GET", "/api/jobs", "");
  EXPECT_TRUE(absl::StrContains(jobs.body, "\"state\":\"RUNNING\""));
  EXPECT_FALSE(absl::StrContains(jobs.body, "partition_map")) << jobs.body;
  HttpAnswer job = Route(s, "GET", "/api/jobs/job-1", "");
  EXPECT_EQ(job.status, 200);
  EXPECT_TRUE(absl::StrContains(job.body, "\"id\":\"job-1\""));
  HttpAnswer history = Route(s, "GET", "/api/jobs/job-1/history", "");
  EXPECT_EQ(history.status, 200);
  EXPECT_TRUE(absl::StrContains(history.body, "\"step\":\"4\""));
  HttpAnswer thin =
      Route(s, "GET", "/api/jobs/job-1/history", "x=1&max_points=2");
  EXPECT_FALSE(absl::StrContains(thin.body, "\"step\":\"2\"")) << thin.body;
}

TEST(DashboardRouteTest, PrometheusFindsTheLiveMembersMetrics) {
  HttpAnswer sd = Route(Source(), "GET", "/api/prometheus/targets", "");
  EXPECT_EQ(sd.status, 200);
  EXPECT_EQ(sd.content_type, "application/json");
  EXPECT_EQ(sd.body,
            R"([{"labels":{"member":"coordinator","role":"coordinator"},)"
            R"("targets":["127.0.0.1:9470"]},)"
            R"({"labels":{"member":"server-1","role":"server"},)"
            R"("targets":["127.0.0.1:9471"]}])");
}

TEST(DashboardRouteTest, BadRequestsAreNamed) {
  const DashboardSource s = Source();
  HttpAnswer unknown = Route(s, "GET", "/api/jobs/job-9", "");
  EXPECT_EQ(unknown.status, 404);
  EXPECT_TRUE(absl::StrContains(unknown.body, "unknown job 'job-9'"));
  EXPECT_EQ(Route(s, "GET", "/api/jobs/job-9/history", "").status, 404);
  EXPECT_EQ(Route(s, "GET", "/api/jobs/job-1/other", "").status, 404);
  EXPECT_EQ(Route(s, "GET", "/api/nothing", "").status, 404);
  HttpAnswer bad =
      Route(s, "GET", "/api/jobs/job-1/history", "max_points=-3");
  EXPECT_EQ(bad.status, 400);
  EXPECT_TRUE(absl::StrContains(bad.body, "max_points='-3'")) << bad.body;
  EXPECT_EQ(Route(s, "GET", "/api/jobs/job-1/history", "max_points=abc")
                .status,
            400);
  HttpAnswer post = Route(s, "POST", "/api/jobs", "");
  EXPECT_EQ(post.status, 405);
  EXPECT_TRUE(absl::StrContains(post.body, "read-only"));
}

// A plain HTTP/1.0 request over loopback: the status code and the body.
std::pair<int, std::string> Fetch(int port, const std::string& request) {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_port = htons(port);
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
    close(fd);
    return {-1, "connect failed"};
  }
  (void)!write(fd, request.data(), request.size());
  std::string reply;
  char buf[4096];
  ssize_t n;
  while ((n = read(fd, buf, sizeof(buf))) > 0) reply.append(buf, n);
  close(fd);
  int status = -1;
  if (reply.size() > 12) (void)absl::SimpleAtoi(reply.substr(9, 3), &status);
  const size_t body = reply.find("\r\n\r\n");
  return {status, body == std::string::npos ? "" : reply.substr(body + 4)};
}

TEST(DashboardTest, ServesOverHttpOnAFreePort) {
  absl::StatusOr<std::unique_ptr<Dashboard>> d =
      Dashboard::Start("127.0.0.1", -1, Source());
  ASSERT_TRUE(d.ok()) << d.status();
  int port = 0;
  ASSERT_TRUE(absl::SimpleAtoi(
      (*d)->url().substr(17, (*d)->url().size() - 18), &port))
      << (*d)->url();
  ASSERT_TRUE(absl::StartsWith((*d)->url(), "http://127.0.0.1:"));
  auto [status, body] =
      Fetch(port, "GET /api/jobs/job-1 HTTP/1.0\r\nHost: x\r\n\r\n");
  EXPECT_EQ(status, 200);
  EXPECT_TRUE(absl::StrContains(body, "\"id\":\"job-1\"")) << body;
  auto [put_status, put_body] =
      Fetch(port, "PUT /api/jobs HTTP/1.0\r\nContent-Length: 0\r\n\r\n");
  EXPECT_EQ(put_status, 405);
  // The same port again is refused, naming the address.
  absl::StatusOr<std::unique_ptr<Dashboard>> twice =
      Dashboard::Start("127.0.0.1", port, Source());
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(absl::StrContains(twice.status().message(),
                                absl::StrCat("127.0.0.1:", port)));
  EXPECT_EQ(Dashboard::Start("127.0.0.1", 70000, Source()).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps::coordinator
