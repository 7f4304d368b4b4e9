// psctl's commands as functions: each talks to the coordinator, writes
// what a person should see to `out`, and returns a status whose message is
// shown on failure. psctl_main.cc maps flags and arguments onto these.
#ifndef PS_CLIENT_PSCTL_COMMANDS_H_
#define PS_CLIENT_PSCTL_COMMANDS_H_

#include <atomic>
#include <functional>
#include <ostream>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/coordinator_client.h"
#include "client/psctl/export.h"
#include "client/psctl/local_cluster.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::client {

// Reads, parses and checks a job-spec file (JSON, schema ps.v1.JobSpec).
absl::StatusOr<v1::JobSpec> LoadJobSpec(const std::string& path);

absl::StatusOr<std::string> Submit(CoordinatorClient* coordinator,
                                   const v1::JobSpec& spec);
absl::Status Status(CoordinatorClient* coordinator, const std::string& job_id,
                    std::ostream& out);
absl::Status List(CoordinatorClient* coordinator, std::ostream& out);
absl::Status Cancel(CoordinatorClient* coordinator, const std::string& job_id,
                    std::ostream& out);
absl::Status Cluster(CoordinatorClient* coordinator, std::ostream& out);
// Asks every live server for its ServerStatus and shows one row per table
// (of `job_id` only, when not empty): kind, rows, values, bytes held and
// bytes per raw byte. A server that does not answer gets a row saying so.
absl::Status Tables(CoordinatorClient* coordinator, const std::string& job_id,
                    std::ostream& out, const RpcSecurity* security = nullptr);
// Exports the job's tables to `path` in `format` (client/psctl/export.h),
// reads the file back and shows what it holds.
// With TLS (`security`), reads with a token from GetJobToken.
absl::Status Export(CoordinatorClient* coordinator, const std::string& job_id,
                    const std::string& path, ExportFormat format,
                    std::ostream& out,
                    std::shared_ptr<const RpcSecurity> security = nullptr);

// Draws the job's recorded curves (loss, accuracy, examples/s over steps)
// into `path` (.png or .svg) with gnuplot (client/psctl/plot.h).
absl::Status Plot(CoordinatorClient* coordinator, const std::string& job_id,
                  const std::string& path, std::ostream& out);

// Streams the job's progress to `out` (at most one line per `every`, plus
// every state change) until it ends or `timeout` passes, and returns its
// final state. `on_context` receives the stream's context so a signal
// handler can cancel it, and nullptr once that context is gone.
absl::StatusOr<v1::Job> Watch(
    CoordinatorClient* coordinator, const std::string& job_id,
    std::ostream& out, absl::Duration timeout,
    absl::Duration every = absl::Seconds(1),
    const std::function<void(grpc::ClientContext*)>& on_context = nullptr);

struct LocalRunOptions {
  LocalClusterOptions cluster;
  std::string export_path;  // empty: no export.
  std::string plot_path;    // empty: no plot; else .png or .svg
  ExportFormat export_format = ExportFormat::kPsx;
  absl::Duration timeout = absl::Hours(24);
  // `--kill`: "server@3s,worker@10s" (client/psctl/fault_injection.h);
  // empty: none.
  std::string kills;
};

// `psctl local`: starts a LocalCluster, submits, watches, optionally exports,
// tears down. Returns the job's final state (an error when the cluster could
// not start). *interrupted (set by a signal handler) cancels the job.
absl::StatusOr<v1::Job> RunLocal(const v1::JobSpec& spec,
                                 const LocalRunOptions& options,
                                 std::ostream& out,
                                 const std::atomic<bool>* interrupted);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_COMMANDS_H_
