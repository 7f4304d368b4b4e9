// How psctl shows jobs and the cluster to a person. Pure functions.
#ifndef PS_CLIENT_PSCTL_FORMAT_H_
#define PS_CLIENT_PSCTL_FORMAT_H_

#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {

// One line: "job-3 RUNNING epoch 2/5 step 1200/4690 loss 0.4123 acc 85.2%
// 12345 ex/s ETA 0:12".
std::string ProgressLine(const v1::Job& job);
// Several lines: state, reason, timings, result.
// The job's replica groups: copies per group, whether each has them all,
// and each group's servers, primary first; "" without groups.
std::string ReplicaLines(const v1::PartitionMap& map);
std::string JobDetails(const v1::Job& job);
// A table with one row per job.
std::string JobTable(const std::vector<v1::Job>& jobs);
// A table with one row per member, then MetricsLines.
std::string ClusterTable(const v1::GetClusterResponse& cluster);
// Where the coordinator and each live member serve Prometheus metrics, one
// "  NAME  http://HOST:PORT/metrics" line each under a heading; "" when
// none does (every daemon runs without --metrics_port).
std::string MetricsLines(const v1::GetClusterResponse& cluster);
// One server's answer to ServerStatus.
struct ServerTables {
  std::string member_id;
  absl::Status status;  // of the RPC
  v1::ServerStatusResponse response;
};
// A table with one row per (server, table) of `job_id` (every job when
// empty): kind, rows, values, bytes and bytes / raw bytes.
std::string TablesTable(const std::vector<ServerTables>& servers,
                        const std::string& job_id);
// "1:02:03" / "2:03".
std::string Clock(double seconds);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_FORMAT_H_
