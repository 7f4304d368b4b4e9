// How long a job's pushes stop when a parameter server dies: the time from
// SIGKILL of a replica group's primary to the first push to that group
// acknowledged after the failover, in two ways the death is found:
//   lease:    the coordinator ignores reports (--act_on_reports=false) and
//             notices when the server's lease lapses (--lease, 3 s);
//   reported: the client that got UNAVAILABLE reports it
//             (ReportUnreachable), and the coordinator confirms it at once.
// Each run starts a fresh LocalCluster (coordinator, 3 servers, 1 worker
// training the MLP example for long) and a client of its own that pushes a
// small gradient to group 0 in a loop.
//
//   bazel build //bench:failover_bench //client/psctl:psctl
//   bazel-bin/bench/failover_bench --bin_dir=bazel-bin --runs=3
#include <signal.h>

#include <atomic>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/bench_cluster.h"
#include "client/coordinator_client.h"
#include "client/ps_client.h"
#include "client/psctl/local_cluster.h"

ABSL_FLAG(std::string, bin_dir, "bazel-bin",
          "folder of the daemons (a bazel-bin works)");
ABSL_FLAG(std::string, data_dir, "/usr/share/datasets/fashion-mnist",
          "Fashion-MNIST, for the job that keeps the cluster busy");
ABSL_FLAG(int, runs, 3, "runs of each way");
ABSL_FLAG(std::string, work_dir, "", "daemon logs; default a temp folder");

namespace ps::bench {
namespace {

v1::JobSpec BusyJob() {
  v1::JobSpec spec;
  spec.set_name("failover-bench");
  spec.mutable_model()->set_type(v1::MLP);
  spec.mutable_model()->add_hidden_sizes(256);
  spec.mutable_data()->set_dataset(v1::FASHION_MNIST);
  spec.mutable_data()->set_dir(absl::GetFlag(FLAGS_data_dir));
  spec.mutable_optimizer()->set_type(v1::SGD);
  spec.mutable_optimizer()->set_learning_rate(0.05f);
  spec.mutable_training()->set_epochs(1000);
  spec.mutable_training()->set_batch_size(128);
  spec.mutable_cluster()->set_num_workers(1);
  spec.mutable_cluster()->set_replicas(2);
  return spec;
}

// One run: SIGKILL of group 0's primary, then pushes until one is
// acknowledged. Returns the seconds from the kill to that answer.
absl::StatusOr<double> MeasureOnce(bool report, const std::string& dir) {
  absl::StatusOr<std::unique_ptr<client::LocalCluster>> cluster =
      client::LocalCluster::Start(
      {.servers = 3,
       .workers = 1,
       .coordinator_flags = {absl::StrCat("--act_on_reports=",
                                          report ? "true" : "false")},
       .bin_dir = absl::GetFlag(FLAGS_bin_dir),
       .work_dir = dir,
       .log_level = "warn"});
  if (!cluster.ok()) return cluster.status();
  client::CoordinatorClient* coordinator = (*cluster)->client();
  absl::StatusOr<std::string> id = coordinator->SubmitJob(BusyJob());
  if (!id.ok()) return id.status();
  absl::StatusOr<v1::Job> job;
  const absl::Time deadline = absl::Now() + absl::Seconds(60);
  do {
    absl::SleepFor(absl::Milliseconds(50));
    job = coordinator->GetJob(*id);
    if (!job.ok()) return job.status();
  } while (job->progress().step() < 20 && absl::Now() < deadline);
  if (job->state() != v1::RUNNING) {
    return absl::InternalError(absl::StrCat("job not running: ", job->reason()));
  }
  const v1::PartitionMap map = job->partition_map();
  // A slice of group 0: the first range it holds.
  client::TableRef ref;
  for (const v1::DenseRange& r : map.ranges()) {
    if (r.server_index() != 0) continue;
    ref = {r.table(), r.begin(), std::min<int64_t>(r.end() - r.begin(), 256),
           0};
    break;
  }
  client::PsClientOptions options;
  options.rpc_timeout = absl::Seconds(10);
  options.refresh_map = [&](uint64_t, const std::vector<std::string>& ids)
      -> absl::StatusOr<v1::PartitionMap> {
    if (report && !ids.empty()) {
      coordinator->ReportUnreachable(*id, "failover_bench", ids).IgnoreError();
    }
    absl::StatusOr<v1::Job> now = coordinator->GetJob(*id);
    if (!now.ok()) return now.status();
    return now->partition_map();
  };
  absl::StatusOr<std::unique_ptr<client::PsClient>> client =
      client::PsClient::Create(*id, map, options);
  if (!client.ok()) return client.status();
  std::vector<float> grads(ref.count, 0.0f);
  for (int i = 0; i < 20; ++i) {
    if (absl::Status s = (*client)->Push({ref}, grads.data()); !s.ok()) {
      return s;
    }
  }
  Subprocess* victim = (*cluster)->ServerAt(map.groups(0).replicas(0).address());
  if (victim == nullptr) return absl::InternalError("primary not found");
  const absl::Time killed = absl::Now();
  kill(victim->pid(), SIGKILL);
  absl::Status s = (*client)->Push({ref}, grads.data());
  const absl::Time answered = absl::Now();
  if (!s.ok()) return s;
  coordinator->CancelJob(*id).IgnoreError();
  return absl::ToDoubleSeconds(answered - killed);
}

absl::Status Run() {
  std::string dir = absl::GetFlag(FLAGS_work_dir);
  if (dir.empty()) {
    dir = (std::filesystem::temp_directory_path() / "failover_bench").string();
  }
  std::filesystem::create_directories(dir);
  absl::PrintF("| found by | run | SIGKILL to first acknowledged push (s) |\n"
               "|---|--:|--:|\n");
  for (bool report : {true, false}) {
    for (int run = 1; run <= absl::GetFlag(FLAGS_runs); ++run) {
      absl::StatusOr<double> seconds = MeasureOnce(report, dir);
      if (!seconds.ok()) return seconds.status();
      absl::PrintF("| %s | %d | %.3f |\n", report ? "report" : "lease", run,
                   *seconds);
    }
  }
  std::filesystem::remove_all(dir);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ps::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::Status s = ps::bench::Run();
  if (!s.ok()) {
    std::cerr << "failover_bench: " << s << "\n";
    return 1;
  }
  return 0;
}
