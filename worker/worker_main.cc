// ps_worker: registers with the coordinator, takes tasks from its heartbeat
// replies and trains them against the parameter servers, one task at a time.
#include <atomic>
#include <thread>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "client/coordinator_client.h"
#include "common/authz_policy.h"
#include "common/daemon.h"
#include "common/logging.h"
#include "common/member_agent.h"
#include "common/metrics_flags.h"
#include "common/rpc.h"
#include "common/security_flags.h"
#include "common/serve.h"
#include "worker/model/compute.h"
#include "worker/task/task_coordinator.h"
#include "worker/task/task_slot.h"
#include "worker/task/worker_metrics.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7000", "coordinator host:port");
ABSL_FLAG(std::string, host, "127.0.0.1", "address to listen on and advertise");
ABSL_FLAG(int, port, 0, "port for health checks; 0 picks a free one");
ABSL_FLAG(std::string, port_file, "",
          "if set, write host:port here once registered");
ABSL_FLAG(int, threads, 1, "compute threads (OpenBLAS) for this worker");
ABSL_FLAG(std::string, log_level, "info",
          "trace, debug, info, warn, error, critical or off");
ABSL_FLAG(std::string, log_format, "text",
          "text (readable lines) or json (one JSON object a line)");
ABSL_FLAG(std::string, device, "auto",
          "compute backend: auto (CUDA when a GPU is visible, else CPU), "
          "cuda or cpu");
ABSL_FLAG(int, gpu, 0,
          "index of the GPU the CUDA backend uses; run one worker per GPU");

extern "C" void openblas_set_num_threads(int);

namespace {

// --device and --gpu, checked against the GPUs present so that a worker that
// cannot compute where it was told to exits at start-up rather than failing
// every task it is given. *where describes the choice for the log.
absl::StatusOr<ps::worker::ComputeOptions> ComputeFromFlags(
    std::string* where) {
  const std::string name = absl::GetFlag(FLAGS_device);
  absl::StatusOr<ps::worker::Device> device = ps::worker::ParseDevice(name);
  if (!device.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("--device=", name, ": ", device.status().message()));
  }
  const ps::worker::ComputeOptions options{
      .device = *device, .gpu_index = absl::GetFlag(FLAGS_gpu)};
  absl::StatusOr<ps::worker::Placement> placement =
      ps::worker::ResolveDevice(options);
  if (!placement.ok()) return placement.status();
  *where = placement->description;
  return options;
}

}  // namespace

int main(int argc, char** argv) {
  ps::DisableMutexDeadlockDetection();
  const absl::Status malloc_tuned = ps::TuneMallocForBulkTransfers();
  absl::SetProgramUsageMessage("ps_worker --coordinator=HOST:PORT");
  absl::ParseCommandLine(argc, argv);
  ps::BlockTerminationSignals();
  ps::InitLoggingOrExit({.level = absl::GetFlag(FLAGS_log_level),
                         .format = absl::GetFlag(FLAGS_log_format)});
  auto log = ps::Logger("worker");
  if (!malloc_tuned.ok()) log->warn("{}", malloc_tuned.ToString());
  const int threads = absl::GetFlag(FLAGS_threads);
  if (threads < 1 || threads > 256) {
    log->error("--threads={} is out of range; allowed: [1, 256]", threads);
    return 2;
  }
  openblas_set_num_threads(threads);
  if (absl::Status s = ps::CheckMetricsPortFlag(); !s.ok()) {
    log->error("{}", std::string(s.message()));
    return 2;
  }
  std::string where;
  const absl::StatusOr<ps::worker::ComputeOptions> compute =
      ComputeFromFlags(&where);
  if (!compute.ok()) {
    log->error("{}", std::string(compute.status().message()));
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
  std::unique_ptr<ps::worker::WorkerMetrics> worker_metrics;
  if (metrics->metrics != nullptr) {
    worker_metrics =
        std::make_unique<ps::worker::WorkerMetrics>(metrics->metrics.get());
    log->info("metrics on http://{}/metrics", metrics->address());
  }
  auto server = ps::StartServer(
      absl::GetFlag(FLAGS_host), absl::GetFlag(FLAGS_port), {}, {},
      {.security = *security,
       .authz_policy = ps::AuthzPolicyJson(ps::Daemon::kWorker)},
      {.registry = metrics->metrics ? &metrics->metrics->registry() : nullptr});
  if (!server.ok()) {
    log->error("{}", server.status().ToString());
    return 1;
  }
  ps::worker::TaskSlot slot(*compute, nullptr, *security,
                            worker_metrics.get());
  auto agent = ps::MemberAgent::Start(
      {.coordinator = absl::GetFlag(FLAGS_coordinator),
       .role = ps::v1::WORKER,
       .address = server->address,
       .metrics_address = metrics->address(),
       .on_forgotten = [&slot] { slot.Forgotten(); },
       .security = *security},
      [&slot](const ps::v1::HeartbeatResponse& r) { slot.OnHeartbeat(r); });
  if (!agent.ok()) {
    log->error("{}", agent.status().ToString());
    return 1;
  }
  absl::StatusOr<std::unique_ptr<ps::client::CoordinatorClient>> client =
      ps::client::CoordinatorClient::Connect(absl::GetFlag(FLAGS_coordinator),
                                             {}, security->get());
  if (!client.ok()) {
    log->error("{}", client.status().ToString());
    return 1;
  }
  ps::worker::GrpcTaskCoordinator coordinator(client->get());
  slot.SetCoordinator([a = agent->get()] { return a->member_id(); },
                      &coordinator);
  log->info("ps_worker {} ready on {}, computing on {}", (*agent)->member_id(),
            server->address, where);
  return ps::ServeUntilSignalled("worker", &*server,
                                 absl::GetFlag(FLAGS_port_file), [&] {
                                   slot.Shutdown();
                                   agent->reset();
                                 });
}
