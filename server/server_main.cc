// ps_server: holds shards of parameter tables and applies pushes to them.
#include <atomic>
#include <cstdlib>
#include <memory>
#include <string>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "common/daemon.h"
#include "common/logging.h"
#include "common/authz_policy.h"
#include "common/member_agent.h"
#include "common/metrics_flags.h"
#include "common/rpc.h"
#include "common/security_flags.h"
#include "common/serve.h"
#include "common/stream_watchdog.h"
#include "server/ps_service.h"
#include "server/server_metrics.h"
#include "server/table_store.h"

ABSL_FLAG(std::string, coordinator, "",
          "coordinator address, host:port; empty runs standalone (no "
          "membership: for benchmarks and tests that create tables directly)");
ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on and advertise");
ABSL_FLAG(int, port, 0, "port to listen on; 0 picks a free one");
ABSL_FLAG(std::string, port_file, "",
          "if set, write host:port here once serving");
ABSL_FLAG(double, max_memory_gb, 16,
          "most GiB of table values and optimizer state");
ABSL_FLAG(std::string, log_level, "info",
          "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(std::string, log_format, "text",
          "text (readable lines) or json (one JSON object a line)");
ABSL_FLAG(absl::Duration, stream_stall_timeout, ps::kStreamStallLimit,
          "a ScanRows stream whose client reads nothing for this long is "
          "cancelled");
ABSL_FLAG(bool, keep_checkpoint_buffers, true,
          "keep each replica group's checkpoint snapshot buffer (the size of "
          "its state) between its checkpoints, so that the next checkpoint "
          "does not map that memory anew; false frees it after each one");
ABSL_FLAG(bool, batch_scheduling, true,
          "run the server's threads under Linux's SCHED_BATCH policy, so that "
          "a thread woken by an arriving request does not preempt the client "
          "that sent it when they share a CPU (see UseBatchScheduling in "
          "common/daemon.h)");

namespace {

// The flags' values, checked; the message names the flag.
absl::Status CheckFlags() {
  if (absl::Status s = ps::CheckMetricsPortFlag(); !s.ok()) return s;
  if (absl::GetFlag(FLAGS_max_memory_gb) <= 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--max_memory_gb must be > 0, got ",
                     absl::GetFlag(FLAGS_max_memory_gb)));
  }
  return ps::CheckDurationFlag("stream_stall_timeout",
                               absl::GetFlag(FLAGS_stream_stall_timeout),
                               absl::Milliseconds(100), absl::Hours(24));
}

// Joins the coordinator given by --coordinator as the server at `address`;
// nullptr when there is none (standalone).
absl::StatusOr<std::unique_ptr<ps::MemberAgent>> JoinCluster(
    const std::string& address, const std::string& metrics_address,
    ps::server::TableStore* store,
    std::shared_ptr<const ps::RpcSecurity> security) {
  auto log = ps::Logger("server");
  if (absl::GetFlag(FLAGS_coordinator).empty()) {
    log->warn("no --coordinator: standalone ps_server serving on {}", address);
    return nullptr;
  }
  // Declared dead (paused, or cut off, past its lease): the groups it held
  // were taken over elsewhere, so it drops them and joins as a new member.
  auto forgotten = [store, log] {
    for (const std::string& job : store->DropAll()) {
      log->warn("job {}: dropped this server's tables: the coordinator "
                "declared it dead and others took them over",
                job);
    }
  };
  auto agent =
      ps::MemberAgent::Start({.coordinator = absl::GetFlag(FLAGS_coordinator),
                              .role = ps::v1::SERVER,
                              .address = address,
                              .metrics_address = metrics_address,
                              .on_forgotten = forgotten,
                              .security = std::move(security)},
                             [](const ps::v1::HeartbeatResponse&) {});
  if (agent.ok()) {
    log->info("ps_server {} serving on {}", (*agent)->member_id(), address);
  }
  return agent;
}

// The process's settings, in the order they must come: malloc before any
// allocation of note, the scheduling policy before any thread starts
// (threads inherit it), then signals and logging.
void SetUpProcess(int argc, char** argv) {
  ps::DisableMutexDeadlockDetection();
  const absl::Status malloc_tuned = ps::TuneMallocForBulkTransfers();
  absl::SetProgramUsageMessage("ps_server --coordinator=HOST:PORT [--port=N]");
  absl::ParseCommandLine(argc, argv);
  const absl::Status batch = absl::GetFlag(FLAGS_batch_scheduling)
                                 ? ps::UseBatchScheduling()
                                 : absl::OkStatus();
  ps::BlockTerminationSignals();
  ps::InitLoggingOrExit({.level = absl::GetFlag(FLAGS_log_level),
                         .format = absl::GetFlag(FLAGS_log_format)});
  auto log = ps::Logger("server");
  if (!malloc_tuned.ok()) log->warn("{}", malloc_tuned.ToString());
  if (!batch.ok()) log->warn("{}", batch.ToString());
}

}  // namespace

int main(int argc, char** argv) {
  SetUpProcess(argc, argv);
  auto log = ps::Logger("server");
  if (absl::Status s = CheckFlags(); !s.ok()) {
    log->error("{}", std::string(s.message()));
    return 2;
  }

  absl::StatusOr<std::shared_ptr<const ps::RpcSecurity>> security =
      ps::SecurityFromFlags(
          {absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_coordinator)});
  if (!security.ok()) {
    log->error("{}", std::string(security.status().message()));
    return 2;
  }
  absl::StatusOr<ps::DaemonMetrics> metrics =
      ps::StartMetricsFromFlags(absl::GetFlag(FLAGS_host));
  if (!metrics.ok()) {
    log->error("{}", std::string(metrics.status().message()));
    return 1;
  }
  ps::server::TableStore store(
      {.max_bytes = static_cast<int64_t>(absl::GetFlag(FLAGS_max_memory_gb) *
                                         (1 << 30)),
       .keep_checkpoint_buffers = absl::GetFlag(FLAGS_keep_checkpoint_buffers)});
  std::unique_ptr<ps::server::ServerMetrics> server_metrics;
  if (metrics->metrics != nullptr) {
    server_metrics = std::make_unique<ps::server::ServerMetrics>(
        metrics->metrics.get(), &store);
    log->info("metrics on http://{}/metrics", metrics->address());
  }
  // Set once the server has joined the cluster (it needs its address).
  std::atomic<ps::MemberAgent*> member{nullptr};
  ps::server::PsService service(
      &store, ps::server::kMaxWaitingPulls,
      absl::GetFlag(FLAGS_stream_stall_timeout),
      {.serving =
           [&member] {
             ps::MemberAgent* m = member.load();
             return m == nullptr || m->LeaseHeld();
           },
       .report_unreachable =
           [&member](const std::string& job, const std::string& server) {
             if (ps::MemberAgent* m = member.load()) {
               m->ReportUnreachable(job, {server});
             }
           },
       .security = *security},
      server_metrics.get());
  auto server = ps::StartServer(
      absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_port), {&service},
      {ps::v1::ParameterServer::service_full_name()},
      {.security = *security,
       .authz_policy = ps::AuthzPolicyJson(ps::Daemon::kServer)},
      {.registry = metrics->metrics ? &metrics->metrics->registry() : nullptr,
       .raw_methods = ps::server::RawDataPlaneMethods(),
       .self_recorded = ps::server::RawDataPlaneMethods()});
  if (!server.ok()) {
    log->error("{}", server.status().ToString());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<ps::MemberAgent>> agent =
      JoinCluster(server->address, metrics->address(), &store, *security);
  if (!agent.ok()) {
    log->error("{}", agent.status().ToString());
    return 1;
  }
  member = agent->get();
  return ps::ServeUntilSignalled("server", &*server,
                                 absl::GetFlag(FLAGS_port_file), [&] {
                                   member = nullptr;
                                   agent->reset();
                                 });
}
