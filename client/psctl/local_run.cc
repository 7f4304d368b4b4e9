// RunLocal: `psctl local`, from cluster start to teardown.
#include <ostream>
#include <sstream>
#include <thread>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "client/psctl/commands.h"
#include "client/psctl/format.h"

namespace ps::client {

absl::StatusOr<v1::Job> RunLocal(const v1::JobSpec& spec,
                                 const LocalRunOptions& options,
                                 std::ostream& out,
                                 const std::atomic<bool>* interrupted) {
  out << "starting local cluster: 1 coordinator, " << options.cluster.servers
      << " servers, " << options.cluster.workers << " workers (logs in "
      << options.cluster.work_dir << ")" << std::endl;
  absl::StatusOr<std::unique_ptr<LocalCluster>> cluster =
      LocalCluster::Start(options.cluster);
  if (!cluster.ok()) return cluster.status();
  v1::JobSpec local = spec;
  local.mutable_cluster()->set_num_workers(options.cluster.workers);
  local.mutable_cluster()->set_num_servers(options.cluster.servers);
  absl::StatusOr<std::string> id = Submit((*cluster)->client(), local);
  if (!id.ok()) return id.status();
  out << "submitted " << *id << " to " << (*cluster)->coordinator_address()
      << std::endl;

  // Turns an interrupt into a cancellation, from a watcher thread.
  absl::Mutex mu;
  grpc::ClientContext* watch_ctx = nullptr;
  absl::Notification done;
  std::thread guard([&] {
    while (!done.WaitForNotificationWithTimeout(absl::Milliseconds(100))) {
      if (interrupted == nullptr || !interrupted->load()) continue;
      out << "interrupted: cancelling " << *id << std::endl;
      std::ostringstream ignored;
      Cancel((*cluster)->client(), *id, ignored).IgnoreError();
      absl::SleepFor(absl::Seconds(1));  // let the watch stream see the end
      absl::MutexLock lock(&mu);
      if (watch_ctx != nullptr) watch_ctx->TryCancel();
      return;
    }
  });
  absl::StatusOr<v1::Job> job =
      Watch((*cluster)->client(), *id, out, options.timeout, absl::Seconds(1),
            [&](grpc::ClientContext* ctx) {
              absl::MutexLock lock(&mu);
              watch_ctx = ctx;
            });
  done.Notify();
  guard.join();
  if (job.ok()) {
    out << JobDetails(*job);
    // What the servers held for the job, before the cluster goes away
    // (tables of a finished job are kept until the next ones push them out).
    if (job->state() == v1::SUCCEEDED) {
      Tables((*cluster)->client(), *id, out).IgnoreError();
    }
    if (job->state() == v1::SUCCEEDED && !options.export_path.empty()) {
      absl::Status s =
          Export((*cluster)->client(), *id, options.export_path, out);
      if (!s.ok()) return s;
    }
  }
  out << "stopping local cluster" << std::endl;
  (*cluster)->Stop();
  return job;
}

}  // namespace ps::client
