#include "coordinator/dashboard.h"

#include <cstring>
#include <utility>

#include "CivetServer.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"
#include "coordinator/web_assets.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"

namespace ps::coordinator {

namespace {

constexpr char kJson[] = "application/json";
constexpr char kText[] = "text/plain; charset=utf-8";
constexpr int kMaxHistoryPointsServed = 4096;

HttpAnswer Error(int status, const std::string& message) {
  return {status, kText, message + "\n"};
}

HttpAnswer Json(const google::protobuf::Message& message) {
  google::protobuf::util::JsonPrintOptions options;
  options.always_print_primitive_fields = true;
  options.preserve_proto_field_names = true;
  std::string body;
  if (!google::protobuf::util::MessageToJsonString(message, &body, options)
           .ok()) {
    return Error(500, "the answer could not be written as JSON");
  }
  return {200, kJson, std::move(body)};
}

HttpAnswer FromStatus(const absl::Status& s) {
  return Error(s.code() == absl::StatusCode::kNotFound ? 404 : 500,
               std::string(s.message()));
}

HttpAnswer Asset(const std::string& path) {
  for (int i = 0; i < kNumWebAssets; ++i) {
    if (path == kWebAssets[i].path) {
      return {200, kWebAssets[i].content_type, kWebAssets[i].body};
    }
  }
  return Error(404, absl::StrCat("no page at ", path));
}

// max_points from "a=b&max_points=N"; 0 when absent.
absl::StatusOr<int> MaxPoints(const std::string& query) {
  for (absl::string_view pair : absl::StrSplit(query, '&')) {
    if (!absl::ConsumePrefix(&pair, "max_points=")) continue;
    int n = 0;
    if (!absl::SimpleAtoi(pair, &n) || n < 0 || n > kMaxHistoryPointsServed) {
      return absl::InvalidArgumentError(absl::StrCat(
          "max_points='", pair, "': allowed: an integer from 0 (all) to ",
          kMaxHistoryPointsServed));
    }
    return n;
  }
  return 0;
}

// Prometheus' HTTP service discovery format: every live member's metrics
// address, and the coordinator's, labelled with role and member.
HttpAnswer PrometheusTargets(const v1::GetClusterResponse& cluster) {
  nlohmann::json groups = nlohmann::json::array();
  auto add = [&](const std::string& address, const std::string& role,
                 const std::string& member) {
    if (address.empty()) return;
    groups.push_back({{"targets", {address}},
                      {"labels", {{"role", role}, {"member", member}}}});
  };
  add(cluster.metrics_address(), "coordinator", "coordinator");
  for (const v1::Member& m : cluster.members()) {
    if (m.state() != v1::ALIVE) continue;
    add(m.metrics_address(), m.role() == v1::SERVER ? "server" : "worker",
        m.id());
  }
  return {200, kJson, groups.dump()};
}

HttpAnswer Api(const DashboardSource& source, absl::string_view path,
               const std::string& query) {
  if (path == "cluster") return Json(source.cluster());
  if (path == "prometheus/targets") return PrometheusTargets(source.cluster());
  if (path == "jobs") {
    v1::ListJobsResponse list;
    for (v1::Job& job : source.jobs()) {
      job.clear_partition_map();  // the job's own page shows it
      *list.add_jobs() = std::move(job);
    }
    return Json(list);
  }
  if (!absl::ConsumePrefix(&path, "jobs/")) {
    return Error(404, absl::StrCat("no API at /api/", path));
  }
  if (absl::ConsumeSuffix(&path, "/history")) {
    absl::StatusOr<int> max_points = MaxPoints(query);
    if (!max_points.ok()) {
      return Error(400, std::string(max_points.status().message()));
    }
    absl::StatusOr<v1::JobHistory> history =
        source.history(std::string(path), *max_points);
    return history.ok() ? Json(*history) : FromStatus(history.status());
  }
  if (absl::StrContains(path, '/')) {
    return Error(404, absl::StrCat("no API at /api/jobs/", path));
  }
  absl::StatusOr<v1::Job> job = source.job(std::string(path));
  return job.ok() ? Json(*job) : FromStatus(job.status());
}

const char* Reason(int status) {
  switch (status) {
    case 200: return "OK";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    default: return "Internal Server Error";
  }
}

}  // namespace

HttpAnswer Route(const DashboardSource& source, const std::string& method,
                 const std::string& path, const std::string& query) {
  if (method != "GET" && method != "HEAD") {
    return Error(405, absl::StrCat("method ", method,
                                   " not allowed: the dashboard is read-only "
                                   "(GET and HEAD)"));
  }
  absl::string_view p = path;
  if (p == "/" || p == "/index.html" || absl::StartsWith(p, "/jobs/")) {
    return Asset("/index.html");
  }
  if (absl::ConsumePrefix(&p, "/api/")) return Api(source, p, query);
  return Asset(path);
}

class Dashboard::Handler : public CivetHandler {
 public:
  explicit Handler(const DashboardSource* source) : source_(source) {}
  bool handleGet(CivetServer*, mg_connection* c) override {
    return Answer(c, "GET");
  }
  bool handleHead(CivetServer*, mg_connection* c) override {
    return Answer(c, "HEAD");
  }
  bool handlePost(CivetServer*, mg_connection* c) override {
    return Answer(c, "POST");
  }
  bool handlePut(CivetServer*, mg_connection* c) override {
    return Answer(c, "PUT");
  }
  bool handleDelete(CivetServer*, mg_connection* c) override {
    return Answer(c, "DELETE");
  }
  bool handlePatch(CivetServer*, mg_connection* c) override {
    return Answer(c, "PATCH");
  }

 private:
  bool Answer(mg_connection* c, const char* method) {
    const mg_request_info* info = mg_get_request_info(c);
    const HttpAnswer a =
        Route(*source_, method, info->local_uri ? info->local_uri : "/",
              info->query_string ? info->query_string : "");
    mg_printf(c,
              "HTTP/1.1 %d %s\r\n"
              "Content-Type: %s\r\n"
              "Content-Length: %zu\r\n"
              "Cache-Control: no-store\r\n"
              "X-Content-Type-Options: nosniff\r\n"
              "Content-Security-Policy: default-src 'self'; style-src "
              "'self' 'unsafe-inline'\r\n"
              "Connection: close\r\n\r\n",
              a.status, Reason(a.status), a.content_type.c_str(),
              a.body.size());
    if (std::strcmp(method, "HEAD") != 0) {
      mg_write(c, a.body.data(), a.body.size());
    }
    return true;
  }
  const DashboardSource* source_;
};

absl::StatusOr<std::unique_ptr<Dashboard>> Dashboard::Start(
    const std::string& host, int port, DashboardSource source) {
  if (port < -1 || port == 0 || port > 65535) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--http_port=", port,
        ": allowed: 0 (no dashboard), -1 (any free port) or 1 to 65535"));
  }
  const std::string bracketed =
      absl::StrContains(host, ':') ? absl::StrCat("[", host, "]") : host;
  std::unique_ptr<Dashboard> d(new Dashboard());
  d->source_ = std::move(source);
  d->handler_ = std::make_unique<Handler>(&d->source_);
  const std::vector<std::string> options = {
      "listening_ports", absl::StrCat(bracketed, ":", port < 0 ? 0 : port),
      "num_threads", "4",
      "request_timeout_ms", "10000",
      "enable_keep_alive", "no",
  };
  try {
    d->server_ = std::make_unique<CivetServer>(options);
  } catch (const CivetException& e) {
    return absl::UnavailableError(
        absl::StrCat("the dashboard cannot listen on ", bracketed, ":", port,
                     ": ", e.what()));
  }
  d->server_->addHandler("/", d->handler_.get());
  const std::vector<int> ports = d->server_->getListeningPorts();
  if (ports.empty()) {
    return absl::UnavailableError(absl::StrCat(
        "the dashboard cannot listen on ", bracketed, ":", port));
  }
  d->url_ = absl::StrCat("http://", bracketed, ":", ports[0], "/");
  return d;
}

Dashboard::~Dashboard() {
  if (server_ != nullptr) server_->close();
}

}  // namespace ps::coordinator
