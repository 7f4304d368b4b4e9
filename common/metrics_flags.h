// The --metrics_port flag every daemon takes, in one place so that it means
// the same everywhere (like common/security_flags.h, an exception to "flags
// live beside main()"). Link //common:metrics_flags only into binaries.
//
//   --metrics_port=0    no metrics (the default): nothing is recorded
//   --metrics_port=N    serve http://HOST:N/metrics, HOST being --host
//   --metrics_port=-1   the same on any free port (logged at start-up and
//                       reported to the coordinator, as Member.metrics_address)
#ifndef PS_COMMON_METRICS_FLAGS_H_
#define PS_COMMON_METRICS_FLAGS_H_

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "common/metrics.h"
#include "common/metrics_endpoint.h"

namespace ps {

// A daemon's metrics, as the flag asked for. Both null when off. Destroy
// it after every component that records into `metrics` (declare it
// first in main()).
struct DaemonMetrics {
  std::unique_ptr<Metrics> metrics;
  std::unique_ptr<MetricsEndpoint> endpoint;  // destroyed first

  // Where /metrics is served, host:port; "" when off.
  std::string address() const {
    return endpoint == nullptr ? "" : endpoint->address();
  }
};

// INVALID_ARGUMENT naming --metrics_port, its value and what is allowed
// unless it is -1, 0 or a port 1..65535.
absl::Status CheckMetricsPortFlag();

// Checks the flag, then, unless it is 0, makes the metrics and serves them
// on `host` (the daemon's --host). UNAVAILABLE naming the flag and the
// address when the port cannot be bound (in use, say).
absl::StatusOr<DaemonMetrics> StartMetricsFromFlags(const std::string& host);

}  // namespace ps

#endif  // PS_COMMON_METRICS_FLAGS_H_
