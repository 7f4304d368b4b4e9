// ps_coordinator: membership, the job queue, partition maps and assignments.
#include <memory>
#include <string>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/synchronization/notification.h"
#include "common/daemon.h"
#include "common/authz_policy.h"
#include "common/logging.h"
#include "common/metrics_flags.h"
#include "common/rpc.h"
#include "common/security_flags.h"
#include "common/serve.h"
#include "common/stream_watchdog.h"
#include "coordinator/coordinator_metrics.h"
#include "coordinator/coordinator_service.h"
#include "coordinator/dashboard.h"
#include "coordinator/job_manager.h"
#include "coordinator/membership.h"
#include "coordinator/server_control.h"
#include "coordinator/state_store.h"

ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on and advertise");
ABSL_FLAG(int, port, 7000, "port to listen on; 0 picks a free one");
ABSL_FLAG(std::string, port_file, "",
          "if set, write host:port here once serving");
ABSL_FLAG(std::string, state_dir, "",
          "keep jobs, members and counters in DIR/coordinator.db (SQLite), "
          "so that a restarted coordinator goes on where it stopped; empty: "
          "in memory only, lost when the coordinator stops");
ABSL_FLAG(absl::Duration, lease, absl::Seconds(3),
          "a member that sends no heartbeat for this long is declared dead");
ABSL_FLAG(absl::Duration, pending_timeout, absl::Minutes(10),
          "a job that cannot start within this long fails");
ABSL_FLAG(absl::Duration, barrier_timeout, absl::Minutes(10),
          "longest wait at a barrier for the other ranks");
ABSL_FLAG(
    int, keep_succeeded_tables, 8,
    "tables of this many latest succeeded jobs stay on servers for export");
ABSL_FLAG(absl::Duration, worker_replace_timeout, absl::Seconds(60),
          "a running job's rank whose worker was lost waits this long for "
          "another worker to take it over, then the job fails");
ABSL_FLAG(bool, act_on_reports, true,
          "a server that clients report unreachable, and that does not "
          "answer the coordinator either, is declared dead at once; false: "
          "only its lease decides (to measure that path)");
ABSL_FLAG(absl::Duration, job_token_ttl, absl::Hours(1),
          "how long a job's data-plane token is good for (workers get a "
          "fresh one with each heartbeat; with TLS only)");
ABSL_FLAG(int, http_port, 0,
          "port of the web dashboard and its JSON API (read-only, no "
          "authentication); 0: none, -1: any free port");
ABSL_FLAG(std::string, http_host, "127.0.0.1",
          "address the dashboard listens on (loopback unless you put it "
          "behind something that authenticates)");
ABSL_FLAG(std::string, log_level, "info",
          "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(std::string, log_format, "text",
          "text (readable lines) or json (one JSON object a line)");
ABSL_FLAG(absl::Duration, stream_stall_timeout, ps::kStreamStallLimit,
          "a WatchJob stream whose client reads nothing for this long is "
          "cancelled");

namespace {

// Flags, signals (kept for WaitForTerminationSignal) and logging.
void SetUpProcess(int argc, char** argv) {
  ps::DisableMutexDeadlockDetection();
  absl::SetProgramUsageMessage("ps_coordinator [--port=N] [--lease=3s]");
  absl::ParseCommandLine(argc, argv);
  ps::BlockTerminationSignals();
  ps::InitLoggingOrExit({.level = absl::GetFlag(FLAGS_log_level),
                         .format = absl::GetFlag(FLAGS_log_format)});
}

// The flags' values, checked; the message names the flag.
absl::Status CheckFlags() {
  if (absl::Status s = ps::CheckMetricsPortFlag(); !s.ok()) return s;
  if (absl::Status s =
          ps::CheckDurationFlag("lease", absl::GetFlag(FLAGS_lease),
                                absl::Milliseconds(100), absl::Hours(1));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ps::CheckDurationFlag(
          "worker_replace_timeout", absl::GetFlag(FLAGS_worker_replace_timeout),
          absl::ZeroDuration(), absl::Hours(24));
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ps::CheckDurationFlag(
          "job_token_ttl", absl::GetFlag(FLAGS_job_token_ttl),
          absl::Minutes(1), absl::Hours(24 * 7));
      !s.ok()) {
    return s;
  }
  if (absl::GetFlag(FLAGS_keep_succeeded_tables) < 0) {
    return absl::InvalidArgumentError("--keep_succeeded_tables must be >= 0");
  }
  return ps::CheckDurationFlag("stream_stall_timeout",
                               absl::GetFlag(FLAGS_stream_stall_timeout),
                               absl::Milliseconds(100), absl::Hours(24));
}

ps::coordinator::JobManagerOptions JobOptionsFromFlags(
    ps::coordinator::StateStore* store, bool job_tokens) {
  return {
      .barrier_timeout = absl::GetFlag(FLAGS_barrier_timeout),
      .pending_timeout = absl::GetFlag(FLAGS_pending_timeout),
      .keep_succeeded_tables = absl::GetFlag(FLAGS_keep_succeeded_tables),
      .worker_replace_timeout = absl::GetFlag(FLAGS_worker_replace_timeout),
      .act_on_reports = absl::GetFlag(FLAGS_act_on_reports),
      .store = store,
      .job_tokens = job_tokens,
      .token_ttl = absl::GetFlag(FLAGS_job_token_ttl)};
}

// JobManager's periodic work on five threads of their own, every 50 ms, so
// that neither lease expiry nor a failover's SetReplicas calls wait on
// another server's RPC (or on a copy of a group). Stops and joins them when
// destroyed.
class JobLoops {
 public:
  explicit JobLoops(ps::coordinator::JobManager* jobs)
      : leases_([this, jobs] { Every([jobs] { jobs->ExpireLeases(); }); }),
        server_work_(
            [this, jobs] { Every([jobs] { jobs->RunServerWork(); }); }),
        replica_updates_(
            [this, jobs] { Every([jobs] { jobs->RunReplicaUpdates(); }); }),
        healing_([this, jobs] { Every([jobs] { jobs->HealReplicas(); }); }),
        checkpoints_(
            [this, jobs] { Every([jobs] { jobs->RunCheckpoints(); }); }) {}
  ~JobLoops() {
    stop_.Notify();
    leases_.join();
    server_work_.join();
    replica_updates_.join();
    healing_.join();
    checkpoints_.join();
  }

 private:
  template <typename F>
  void Every(F work) {
    while (!stop_.WaitForNotificationWithTimeout(absl::Milliseconds(50))) {
      work();
    }
  }

  absl::Notification stop_;  // before the threads that wait on it
  std::thread leases_;
  std::thread server_work_;
  std::thread replica_updates_;  // failovers: never behind a table call
  std::thread healing_;          // copies of groups short of replicas
  std::thread checkpoints_;      // checkpoints that are due
};

}  // namespace

int main(int argc, char** argv) {
  SetUpProcess(argc, argv);
  auto log = ps::Logger("coordinator");
  if (absl::Status s = CheckFlags(); !s.ok()) {
    log->error("{}", std::string(s.message()));
    return 2;
  }

  absl::StatusOr<std::shared_ptr<const ps::RpcSecurity>> security =
      ps::SecurityFromFlags({absl::GetFlag(FLAGS_host)});
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
  std::unique_ptr<ps::coordinator::StateStore> store;
  ps::coordinator::StoredState stored;
  if (const std::string dir = absl::GetFlag(FLAGS_state_dir); !dir.empty()) {
    auto opened = ps::coordinator::StateStore::Open(dir, &stored);
    if (!opened.ok()) {
      log->error("--state_dir: {}", opened.status().ToString());
      return 2;
    }
    store = std::move(*opened);
    log->info("state in {} ({})", store->path(),
              stored.fresh ? "new" : "restored");
  } else {
    log->warn("no --state_dir: jobs live in memory only and are lost when "
              "the coordinator stops");
  }
  const absl::Duration lease = absl::GetFlag(FLAGS_lease);
  ps::coordinator::Membership members(
      lease, [] { return absl::Now(); }, store.get());
  ps::coordinator::GrpcServerControl control(absl::Seconds(30), *security);
  ps::coordinator::JobManager jobs(&members, &control,
                                   [] { return absl::Now(); },
                                   JobOptionsFromFlags(store.get(),
                                                       (*security)->tls()));
  if (store != nullptr) {
    members.Restore(stored);
    jobs.Restore(stored);
  }
  std::unique_ptr<ps::coordinator::CoordinatorMetrics> coordinator_metrics;
  if (metrics->metrics != nullptr) {
    coordinator_metrics = std::make_unique<ps::coordinator::CoordinatorMetrics>(
        metrics->metrics.get(), &members, &jobs, [] { return absl::Now(); });
    log->info("metrics on http://{}/metrics", metrics->address());
  }
  ps::coordinator::CoordinatorService service(
      &members, &jobs, lease / 4, absl::GetFlag(FLAGS_stream_stall_timeout),
      metrics->address());
  std::unique_ptr<ps::coordinator::Dashboard> dashboard;
  if (const int port = absl::GetFlag(FLAGS_http_port); port != 0) {
    auto started = ps::coordinator::Dashboard::Start(
        absl::GetFlag(FLAGS_http_host), port,
        {.cluster = [&service] { return service.ClusterView(); },
         .jobs = [&jobs] { return jobs.List(); },
         .job = [&jobs](const std::string& id) { return jobs.Get(id); },
         .history = [&jobs](const std::string& id,
                            int max_points) {
           return jobs.History(id, max_points);
         }});
    if (!started.ok()) {
      log->error("{}", std::string(started.status().message()));
      return started.status().code() == absl::StatusCode::kInvalidArgument
                 ? 2
                 : 1;
    }
    dashboard = std::move(*started);
    service.set_dashboard_url(dashboard->url());
    log->info("dashboard at {}", dashboard->url());
  }
  auto server = ps::StartServer(
      absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_port), {&service},
      {ps::v1::Coordinator::service_full_name()},
      {.security = *security,
       .authz_policy = ps::AuthzPolicyJson(ps::Daemon::kCoordinator)},
      {.registry = metrics->metrics ? &metrics->metrics->registry() : nullptr});
  if (!server.ok()) {
    log->error("{}", server.status().ToString());
    return 1;
  }
  auto loops = std::make_unique<JobLoops>(&jobs);
  log->info("ps_coordinator serving on {} (lease {})", server->address,
            absl::FormatDuration(lease));
  return ps::ServeUntilSignalled("coordinator", &*server,
                                 absl::GetFlag(FLAGS_port_file),
                                 [&] {
                                   dashboard.reset();
                                   loops.reset();
                                 });
}
