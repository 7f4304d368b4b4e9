// The coordinator's web dashboard: a page of the cluster (members, role,
// health, address) and its jobs (state, reason, progress), a page per job
// with live curves of loss, accuracy and examples/s over steps (uPlot), its
// tables and where they live; and the small JSON API the pages read:
//
//   GET /api/cluster             ps.v1.GetClusterResponse
//   GET /api/jobs                ps.v1.ListJobsResponse (no partition maps)
//   GET /api/jobs/JOB            ps.v1.Job
//   GET /api/jobs/JOB/history    ps.v1.JobHistory  [?max_points=N]
//   GET /api/prometheus/targets  every live member's metrics address and
//                                the coordinator's, in Prometheus' HTTP
//                                service discovery format (http_sd_configs)
//
// the first four in protobuf's JSON mapping: the same data as the gRPC API. Read-only and
// unauthenticated (docs/design.md, "Observability"): it binds to loopback
// unless told otherwise.
//
// Served by civetweb (Debian libcivetweb), whose threads call the
// DashboardSource; the routing itself (Route) is a pure function.
#ifndef PS_COORDINATOR_DASHBOARD_H_
#define PS_COORDINATOR_DASHBOARD_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/ps/v1/ps.pb.h"

class CivetServer;

namespace ps::coordinator {

// Where the dashboard reads from; each function must be thread-safe.
struct DashboardSource {
  std::function<v1::GetClusterResponse()> cluster;
  std::function<std::vector<v1::Job>()> jobs;
  std::function<absl::StatusOr<v1::Job>(const std::string& id)> job;
  std::function<absl::StatusOr<v1::JobHistory>(const std::string& id,
                                               int max_points)>
      history;
};

struct HttpAnswer {
  int status = 200;
  std::string content_type;
  std::string body;
};

// The answer to `method` `path` (no query) with `query` (the part after
// '?', may be empty): a page, a static file, JSON, or an error whose body
// says what was wrong (404 naming the path, 405 for a method other than
// GET or HEAD, 400 for a bad max_points).
HttpAnswer Route(const DashboardSource& source, const std::string& method,
                 const std::string& path, const std::string& query);

class Dashboard {
 public:
  // Serves on host:port; port -1 picks a free one. INVALID_ARGUMENT for a
  // port out of range, UNAVAILABLE naming the address when it cannot bind.
  static absl::StatusOr<std::unique_ptr<Dashboard>> Start(
      const std::string& host, int port, DashboardSource source);
  ~Dashboard();  // stops serving (waits for requests under way)

  // "http://host:port/".
  const std::string& url() const { return url_; }

 private:
  class Handler;
  Dashboard() = default;
  DashboardSource source_;
  std::unique_ptr<Handler> handler_;
  std::unique_ptr<CivetServer> server_;
  std::string url_;
};

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_DASHBOARD_H_
