// Real processes for benchmarks: standalone ps_server daemons with tables
// created directly (no coordinator), and an iperf3 loopback measurement to
// compare the data plane against.
//
// Every process is owned by a Subprocess, so it is stopped when its owner is
// destroyed on any return path, and killed by the kernel if the benchmark
// itself dies.
#ifndef PS_BENCH_BENCH_CLUSTER_H_
#define PS_BENCH_BENCH_CLUSTER_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/rpc_security.h"
#include "common/subprocess.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::bench {

struct ServerProcess {
  std::unique_ptr<Subprocess> process;
  v1::ServerEndpoint endpoint;  // member_id "bench-s<i>", address HOST:PORT
};

// Nearest-rank percentile of `v` (not empty), q in (0, 1].
double Percentile(std::vector<double> v, double q);

// `flag` when set, else bazel-bin/server/ps_server under
// $BUILD_WORKSPACE_DIRECTORY (bazel run), else under the current directory.
// NOT_FOUND unless it is executable.
absl::StatusOr<std::string> FindServerBinary(const std::string& flag);

// `flag` (created if missing) when set, else a new /tmp/<prefix>.XXXXXX.
absl::StatusOr<std::string> MakeWorkDir(const std::string& flag,
                                        const std::string& prefix);

// After a successful run: removes `dir` when MakeWorkDir created it (`flag`
// empty); a folder the user named is kept. Stop the servers first.
void RemoveWorkDir(const std::string& flag, const std::string& dir);

// Starts `count` standalone `binary` (ps_server) processes on loopback, each
// logging to work_dir/server-<i>.log, with `extra_flags` added to each
// command line, and waits until all serve.
absl::StatusOr<std::vector<ServerProcess>> StartServers(
    const std::string& binary, int count, const std::string& work_dir,
    const std::vector<std::string>& extra_flags = {});

// Creates `job_id`'s tables on every server of `map` with that server's
// ranges and sparse partitions, as the coordinator would: every copy of
// every replica group when the map has groups (common/partition.h).
// `security`: the channels' (null: plaintext; with TLS it must be a
// coordinator's); `job_key`: CreateTablesRequest.job_key.
absl::Status CreateTables(const std::string& job_id,
                          const v1::PartitionMap& map,
                          const RpcSecurity* security = nullptr,
                          const std::string& job_key = "");

// Drops `job_id`'s tables on every server of `map`.
absl::Status DropTables(const std::string& job_id, const v1::PartitionMap& map,
                        const RpcSecurity* security = nullptr);

// Runs one single-stream iperf3 test of `duration` over 127.0.0.1 and
// returns the received throughput in bytes per second.
absl::StatusOr<double> IperfLoopbackBytesPerSecond(const std::string& iperf3,
                                                   absl::Duration duration,
                                                   const std::string& work_dir);

// end.sum_received.bits_per_second of iperf3's JSON report, in bytes/s.
// UNAVAILABLE when the report carries an error (iperf3 3.12 still exits 0
// then), DATA_LOSS when it is not a complete report.
absl::StatusOr<double> ParseIperfReceivedBytesPerSecond(
    const std::string& json);

}  // namespace ps::bench

#endif  // PS_BENCH_BENCH_CLUSTER_H_
