// RunLocal: `psctl local`, from cluster start to teardown.
#include <ostream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/psctl/commands.h"
#include "client/psctl/fault_injection.h"
#include "client/psctl/format.h"

namespace ps::client {

namespace {

// Watch, with an interrupt turned into a cancellation of the job by a
// watcher thread: it cancels the job, lets the watch stream see the end for
// a second, then cancels the stream.
absl::StatusOr<v1::Job> WatchUnlessInterrupted(
    CoordinatorClient* coordinator, const std::string& id, std::ostream& out,
    absl::Duration timeout, const std::atomic<bool>* interrupted) {
  absl::Mutex mu;
  grpc::ClientContext* watch_ctx = nullptr;
  bool stopped = false;  // a watch opened after the interrupt ends at once
  absl::Notification done;
  std::thread guard([&] {
    while (!done.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
      if (interrupted == nullptr || !interrupted->load()) continue;
      out << "interrupted: cancelling " << id << std::endl;
      std::ostringstream ignored;
      Cancel(coordinator, id, ignored).IgnoreError();
      absl::SleepFor(absl::Seconds(1));  // let the watch stream see the end
      absl::MutexLock lock(&mu);
      stopped = true;
      if (watch_ctx != nullptr) watch_ctx->TryCancel();
      return;
    }
  });
  absl::StatusOr<v1::Job> job =
      Watch(coordinator, id, out, timeout, absl::Seconds(1),
            [&](grpc::ClientContext* ctx) {
              absl::MutexLock lock(&mu);
              watch_ctx = ctx;
              if (stopped && ctx != nullptr) ctx->TryCancel();
            });
  done.Notify();
  guard.join();
  return job;
}

// The job's details and, when it succeeded, what the servers held for it
// (before the cluster goes away; tables of a finished job are kept until
// the next ones push them out) and the export, if asked for.
absl::Status ShowOutcome(CoordinatorClient* coordinator, const std::string& id,
                         const v1::Job& job, const LocalRunOptions& options,
                         std::shared_ptr<const RpcSecurity> security,
                         std::ostream& out) {
  out << JobDetails(job);
  if (!options.plot_path.empty()) {
    // A failed job's curves tell why as much as a good one's: drawn either
    // way, and a plot that fails does not change the job's outcome.
    if (absl::Status s = Plot(coordinator, id, options.plot_path, out);
        !s.ok()) {
      out << "plot: " << s.message() << std::endl;
    }
  }
  if (job.state() != v1::SUCCEEDED) return absl::OkStatus();
  Tables(coordinator, id, out, security.get()).IgnoreError();
  if (options.export_path.empty()) return absl::OkStatus();
  return Export(coordinator, id, options.export_path, options.export_format,
                out, security);
}

}  // namespace

absl::StatusOr<v1::Job> RunLocal(const v1::JobSpec& spec,
                                 const LocalRunOptions& options,
                                 std::ostream& out,
                                 const std::atomic<bool>* interrupted) {
  out << "starting local cluster: 1 coordinator, " << options.cluster.servers
      << " servers, " << options.cluster.workers << " workers";
  if (options.cluster.spare_workers > 0) {
    out << " + " << options.cluster.spare_workers << " spare";
  }
  out << (options.cluster.tls ? ", mutual TLS" : ", plaintext")
      << " (logs in " << options.cluster.work_dir << ")" << std::endl;
  absl::StatusOr<std::vector<Kill>> kills = ParseKills(options.kills);
  if (!kills.ok()) return kills.status();
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start(options.cluster);
  if (!cluster.ok()) return cluster.status();
  if (!(*cluster)->dashboard_url().empty()) {
    out << "dashboard: " << (*cluster)->dashboard_url() << std::endl;
  }
  if (absl::StatusOr<v1::GetClusterResponse> members =
          (*cluster)->client()->GetCluster();
      members.ok()) {
    out << MetricsLines(*members);
  }
  v1::JobSpec local = spec;
  local.mutable_cluster()->set_num_workers(options.cluster.workers);
  local.mutable_cluster()->set_num_servers(options.cluster.servers);
  CoordinatorClient* coordinator = (*cluster)->client();
  absl::StatusOr<std::string> id = Submit(coordinator, local);
  if (!id.ok()) return id.status();
  out << "submitted " << *id << " to " << (*cluster)->coordinator_address()
      << std::endl;
  FaultInjector faults(cluster->get(), *id, *kills, out);
  absl::StatusOr<v1::Job> job = WatchUnlessInterrupted(
      coordinator, *id, out, options.timeout, interrupted);
  for (const std::string& line : faults.Stop()) {
    out << "fault:    " << line << std::endl;
  }
  if (job.ok()) {
    absl::Status s = ShowOutcome(coordinator, *id, *job, options,
                                 (*cluster)->security(), out);
    if (!s.ok()) return s;
  }
  out << "stopping local cluster" << std::endl;
  (*cluster)->Stop();
  return job;
}

}  // namespace ps::client
