#include "common/metrics_flags.h"

#include "absl/flags/flag.h"
#include "absl/strings/str_cat.h"

ABSL_FLAG(int, metrics_port, 0,
          "serve Prometheus metrics at http://HOST:PORT/metrics (HOST: "
          "--host); 0: no metrics, -1: any free port");

namespace ps {

absl::Status CheckMetricsPortFlag() {
  const int port = absl::GetFlag(FLAGS_metrics_port);
  if (port >= -1 && port <= 65535) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--metrics_port=", port,
                   " is out of range; allowed: 0 (no metrics), -1 (any free "
                   "port) or a port in [1, 65535]"));
}

absl::StatusOr<DaemonMetrics> StartMetricsFromFlags(const std::string& host) {
  if (absl::Status s = CheckMetricsPortFlag(); !s.ok()) return s;
  const int port = absl::GetFlag(FLAGS_metrics_port);
  DaemonMetrics out;
  if (port == 0) return out;
  out.metrics = std::make_unique<Metrics>();
  absl::StatusOr<std::unique_ptr<MetricsEndpoint>> endpoint =
      MetricsEndpoint::Start(host, port < 0 ? 0 : port, out.metrics.get());
  if (!endpoint.ok()) {
    return absl::UnavailableError(absl::StrCat(
        "--metrics_port=", port, ": ", endpoint.status().message(),
        "; choose a free port, -1 for any, or 0 for no metrics"));
  }
  out.endpoint = *std::move(endpoint);
  return out;
}

}  // namespace ps
