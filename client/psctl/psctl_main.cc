// psctl: the user's view of a parameter-server cluster.
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "client/psctl/certs_command.h"
#include "client/psctl/commands.h"
#include "client/psctl/fault_injection.h"
#include "client/psctl/health.h"
#include "client/psctl/plot.h"
#include "common/daemon.h"
#include "common/rpc.h"
#include "common/security_flags.h"

ABSL_FLAG(std::string, coordinator, "127.0.0.1:7000", "coordinator host:port");
ABSL_FLAG(std::string, out, "",
          "export: file to write the parameters to; plot: the picture (.png "
          "or .svg)");
ABSL_FLAG(std::string, plot, "",
          "local: draw the job's curves into this file (.png or .svg) when "
          "it ends");
ABSL_FLAG(std::string, format, "psx",
          "export, local --export_to: file format, psx or safetensors");
ABSL_FLAG(int, servers, 2, "local: parameter servers to start");
ABSL_FLAG(std::string, from, "",
          "resume: the checkpoint directory (ckpt-N); empty: the newest");
ABSL_FLAG(int, resume_servers, 0,
          "resume: servers to run on; 0: as the job's spec says");
ABSL_FLAG(int, workers, 2, "local: workers to start");
ABSL_FLAG(int, spare_workers, 0,
          "local: extra idle workers; one takes over the rank of a worker "
          "that dies");
ABSL_FLAG(std::string, bin_dir, "", "local: folder of the daemon binaries");
ABSL_FLAG(std::string, kill, "",
          "local: ROLE@DELAY[,...] kills one server (the primary of replica "
          "group 0) or worker (rank 0's) with SIGKILL that long after "
          "training starts, e.g. server@3s; coordinator@DELAY kills the "
          "coordinator and starts it again on its state dir");
ABSL_FLAG(std::string, export_to, "",
          "local: export the trained parameters here");
ABSL_FLAG(bool, dashboard, true,
          "local: the coordinator serves its web dashboard on a free "
          "loopback port (printed)");
ABSL_FLAG(bool, keep_logs, false,
          "local: keep the logs folder even on success");
ABSL_FLAG(std::string, work_dir, "",
          "local: folder for logs and port files, kept afterwards (default: a "
          "new folder under $TMPDIR or /tmp, removed when the job succeeds)");
ABSL_FLAG(absl::Duration, lease, absl::Seconds(3), "local: membership lease");
ABSL_FLAG(absl::Duration, timeout, absl::Hours(24),
          "watch/local: give up after this long");
ABSL_FLAG(std::string, dir, "", "certs: the folder holding the cluster CA");
ABSL_FLAG(std::string, ca_name, "pscluster CA", "certs init: the CA's name");
ABSL_FLAG(int, days, 0,
          "certs: validity in days from now; 0: 3650 for init, 365 for issue");
ABSL_FLAG(std::string, role, "",
          "certs issue: coordinator, server, worker, user or admin");
ABSL_FLAG(std::string, name, "", "certs issue: the identity's name");
ABSL_FLAG(std::vector<std::string>, dns, {},
          "certs issue: DNS names the daemon is reached by, e.g. localhost");
ABSL_FLAG(std::string, service, "",
          "health: the service to ask about, e.g. ps.v1.ParameterServer; "
          "empty: the server as a whole");
ABSL_FLAG(absl::Duration, health_timeout, absl::Seconds(5),
          "health: give up after this long");
ABSL_FLAG(std::vector<std::string>, ip, {},
          "certs issue: IP addresses the daemon is reached at, e.g. "
          "127.0.0.1");

namespace {

constexpr char kUsage[] = R"(psctl COMMAND [ARGS] [--flags]

commands:
  submit SPEC.json     submit a job; prints its id
  status JOB           state, progress and result of a job
  list                 all jobs
  watch JOB            follow a job live until it ends
  cancel JOB           cancel a job
  checkpoint JOB       take a checkpoint of a running job now (its spec's
                       training.checkpoint.dir); prints where
  resume JOB           run a failed or cancelled job again from its newest
                       checkpoint ([--from=DIR] a ckpt-N directory,
                       [--resume_servers=N] another server count)
  export JOB --out=F   write a job's trained parameters to F
                       ([--format=psx|safetensors], default psx)
  plot JOB --out=F     draw a job's loss, accuracy and examples/s over its
                       steps into F (.png or .svg; needs gnuplot)
  cluster              members and their health
  health HOST:PORT     ask one daemon's gRPC health service (any role's
                       certificate will do, e.g. the daemon's own); prints
                       SERVING or NOT_SERVING and exits 0 only when
                       SERVING ([--service=NAME], [--health_timeout=5s]);
                       for probes, such as Kubernetes exec probes
  tables [JOB]         tables held by each live server: rows, values, bytes
  local SPEC.json      run one job on a local cluster of real processes
                       (--servers=2 --workers=2 [--spare_workers=0]
                       [--export_to=F [--format=psx|safetensors]]
                       [--plot=F.png|F.svg])
  certs init --dir=DIR create the cluster CA in DIR (ca.crt, ca.key);
                       refuses to replace one ([--ca_name=NAME],
                       [--days=N] default 3650)
  certs issue --dir=DIR --role=ROLE --name=NAME
                       sign a new key for spiffe://pscluster/ROLE/NAME with
                       DIR's CA into DIR/ROLE-NAME/ (ca.crt, tls.crt,
                       tls.key); issuing again rotates it. ROLE:
                       coordinator, server, worker (with [--dns=a,b]
                       [--ip=127.0.0.1,...]), user or admin.
                       [--days=N] default 365

Every command but local and certs talks to the cluster over mutual TLS:
  --tls_dir=DIR        DIR/tls.crt, tls.key and ca.crt (a user or admin
                       certificate from `psctl certs issue`), or
  --tls_cert=F --tls_key=F --tls_ca=F
  --insecure           plaintext, to a cluster run with --insecure
                       (loopback addresses only)
local makes a throwaway CA and a certificate for every process in its
work dir (--insecure: plaintext), and has every process serve Prometheus
metrics on a free port (it prints where).
)";

// Paths given on the command line are relative to where the user stands,
// also under `bazel run` (which changes the working directory).
std::string UserPath(const std::string& path) {
  const char* wd = std::getenv("BUILD_WORKING_DIRECTORY");
  if (path.empty() || path[0] == '/' || wd == nullptr) return path;
  return absl::StrCat(wd, "/", path);
}

int Fail(const absl::Status& s) {
  std::cerr << "psctl: " << s.message() << " ["
            << absl::StatusCodeToString(s.code()) << "]" << std::endl;
  return 1;
}

// `psctl certs init|issue`; its exit code.
int RunCertsCommand(const std::string& subcommand) {
  const std::string dir = UserPath(absl::GetFlag(FLAGS_dir));
  const int days = absl::GetFlag(FLAGS_days);
  absl::Status s;
  if (subcommand == "init" && !dir.empty()) {
    ps::client::CertsInitOptions options{
        .dir = dir, .ca_name = absl::GetFlag(FLAGS_ca_name)};
    if (days != 0) options.days = days;
    s = ps::client::CertsInit(options, std::cout);
  } else if (subcommand == "issue" && !dir.empty() &&
             !absl::GetFlag(FLAGS_role).empty() &&
             !absl::GetFlag(FLAGS_name).empty()) {
    ps::client::CertsIssueOptions options{.dir = dir,
                                          .role = absl::GetFlag(FLAGS_role),
                                          .name = absl::GetFlag(FLAGS_name),
                                          .dns = absl::GetFlag(FLAGS_dns),
                                          .ip = absl::GetFlag(FLAGS_ip)};
    if (days != 0) options.days = days;
    s = ps::client::CertsIssue(options, std::cout);
  } else {
    std::cerr << "psctl certs: expected init --dir=DIR, or issue --dir=DIR "
                 "--role=ROLE --name=NAME\n\n"
              << kUsage;
    return 2;
  }
  return s.ok() ? 0 : Fail(s);
}

int ExitFor(const absl::StatusOr<ps::v1::Job>& job) {
  if (!job.ok()) return Fail(job.status());
  return job->state() == ps::v1::SUCCEEDED ? 0 : 1;
}

int RunLocalCommand(const std::string& spec_path,
                    ps::client::ExportFormat format) {
  absl::StatusOr<ps::v1::JobSpec> spec =
      ps::client::LoadJobSpec(UserPath(spec_path));
  if (!spec.ok()) return Fail(spec.status());
  // A malformed --kill is a usage error: refused before anything starts.
  if (absl::Status s = ps::client::ParseKills(absl::GetFlag(FLAGS_kill)).status();
      !s.ok()) {
    Fail(s);
    return 2;
  }
  std::string work_dir = UserPath(absl::GetFlag(FLAGS_work_dir));
  const bool own_dir = work_dir.empty();
  if (own_dir) {
    const char* tmp = std::getenv("TMPDIR");
    std::string tmpl =
        absl::StrCat(tmp && *tmp ? tmp : "/tmp", "/psctl-local-XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) {
      return Fail(absl::InternalError(absl::StrCat("cannot create ", tmpl)));
    }
    work_dir = tmpl;
  } else {
    std::error_code ec;
    std::filesystem::create_directories(work_dir, ec);
    if (ec) {
      return Fail(absl::InvalidArgumentError(absl::StrCat(
          "--work_dir=", work_dir, ": cannot create it: ", ec.message())));
    }
  }
  ps::client::LocalRunOptions options;
  options.cluster = {.servers = absl::GetFlag(FLAGS_servers),
                     .workers = absl::GetFlag(FLAGS_workers),
                     .spare_workers = absl::GetFlag(FLAGS_spare_workers),
                     .state_dir = work_dir + "/state",
                     .bin_dir = absl::GetFlag(FLAGS_bin_dir),
                     .work_dir = work_dir,
                     .lease = absl::GetFlag(FLAGS_lease),
                     .tls = !ps::InsecureRequested(),
                     .dashboard = absl::GetFlag(FLAGS_dashboard),
                     .metrics = true};
  options.export_path = UserPath(absl::GetFlag(FLAGS_export_to));
  options.export_format = format;
  options.plot_path = UserPath(absl::GetFlag(FLAGS_plot));
  options.timeout = absl::GetFlag(FLAGS_timeout);
  options.kills = absl::GetFlag(FLAGS_kill);
  // SIGINT/SIGTERM are blocked in every thread; this one turns them into a
  // cancellation of the job, after which everything is torn down.
  std::atomic<bool> interrupted{false};
  absl::Notification finished;
  std::thread signals([&] {
    while (!finished.HasBeenNotified()) {
      if (ps::WaitForTerminationSignal(absl::Milliseconds(200)) != 0)
        interrupted = true;
    }
  });
  auto job = ps::client::RunLocal(*spec, options, std::cout, &interrupted);
  finished.Notify();
  signals.join();
  const bool ok = job.ok() && job->state() == ps::v1::SUCCEEDED;
  if (ok && own_dir && !absl::GetFlag(FLAGS_keep_logs)) {
    std::error_code ec;
    std::filesystem::remove_all(work_dir, ec);
  } else {
    std::cout << "logs kept in " << work_dir << std::endl;
  }
  return ExitFor(job);
}

// `psctl health ADDR`: 0 when SERVING, 1 otherwise (NOT_SERVING, or no
// answer, with the reason on stderr).
int RunHealthCommand(const std::string& address) {
  absl::StatusOr<std::shared_ptr<const ps::RpcSecurity>> security =
      ps::SecurityFromFlags({address});
  if (!security.ok()) return Fail(security.status());
  absl::StatusOr<ps::client::ServingStatus> status = ps::client::CheckHealth(
      security->get(), address, absl::GetFlag(FLAGS_service),
      absl::GetFlag(FLAGS_health_timeout));
  if (!status.ok()) return Fail(status.status());
  std::cout << ps::client::ServingStatusName(*status) << std::endl;
  return *status == ps::client::ServingStatus::kServing ? 0 : 1;
}

// A command that talks to the coordinator at --coordinator; its exit code.
int RunRemoteCommand(const std::string& command, const std::string& arg,
                     ps::client::ExportFormat format) {
  // A spec is checked before anything is dialled.
  absl::StatusOr<ps::v1::JobSpec> spec = ps::v1::JobSpec();
  if (command == "submit") spec = ps::client::LoadJobSpec(UserPath(arg));
  if (!spec.ok()) return Fail(spec.status());
  absl::StatusOr<std::shared_ptr<const ps::RpcSecurity>> security =
      ps::SecurityFromFlags({absl::GetFlag(FLAGS_coordinator)});
  if (!security.ok()) return Fail(security.status());
  auto coordinator = ps::client::CoordinatorClient::Connect(
      absl::GetFlag(FLAGS_coordinator), {}, security->get());
  if (!coordinator.ok()) return Fail(coordinator.status());
  ps::client::CoordinatorClient* client = coordinator->get();
  if (command == "submit") {
    auto id = ps::client::Submit(client, *spec);
    if (!id.ok()) return Fail(id.status());
    std::cout << *id << std::endl;
    return 0;
  }
  absl::Status s;
  if (command == "status") {
    s = ps::client::Status(client, arg, std::cout);
  } else if (command == "list") {
    s = ps::client::List(client, std::cout);
  } else if (command == "watch") {
    return ExitFor(ps::client::Watch(client, arg, std::cout,
                                     absl::GetFlag(FLAGS_timeout)));
  } else if (command == "cancel") {
    s = ps::client::Cancel(client, arg, std::cout);
  } else if (command == "checkpoint") {
    absl::StatusOr<ps::v1::CheckpointInfo> info =
        client->CheckpointJob(arg, absl::Minutes(15));
    if (!info.ok()) return Fail(info.status());
    std::cout << arg << ": checkpoint at step " << info->step() << " in "
              << info->dir() << " (" << info->bytes() << " bytes, pushes held "
              << info->pause_us() << " us, " << info->write_seconds()
              << " s)\n";
  } else if (command == "resume") {
    ps::v1::ResumeJobRequest request;
    request.set_job_id(arg);
    request.set_from(UserPath(absl::GetFlag(FLAGS_from)));
    request.set_num_servers(absl::GetFlag(FLAGS_resume_servers));
    absl::StatusOr<ps::v1::ResumeJobResponse> resumed =
        client->ResumeJob(request);
    if (!resumed.ok()) return Fail(resumed.status());
    std::cout << arg << " queued to resume at step " << resumed->step()
              << " from " << resumed->from() << "\n";
  } else if (command == "plot") {
    s = ps::client::Plot(client, arg, UserPath(absl::GetFlag(FLAGS_out)),
                         std::cout);
  } else if (command == "cluster") {
    s = ps::client::Cluster(client, std::cout);
  } else if (command == "tables") {
    s = ps::client::Tables(client, arg, std::cout, security->get());
  } else {  // export
    if (absl::GetFlag(FLAGS_out).empty()) {
      return Fail(absl::InvalidArgumentError("export needs --out=FILE"));
    }
    s = ps::client::Export(client, arg, UserPath(absl::GetFlag(FLAGS_out)),
                           format, std::cout, *security);
  }
  return s.ok() ? 0 : Fail(s);
}

}  // namespace

int main(int argc, char** argv) {
  // psctl export and local move whole models; without the settings it only
  // runs slower, which is not worth failing a command for.
  ps::DisableMutexDeadlockDetection();
  ps::TuneMallocForBulkTransfers().IgnoreError();
  absl::SetProgramUsageMessage(kUsage);
  std::vector<char*> args = absl::ParseCommandLine(argc, argv);
  ps::BlockTerminationSignals();
  if (args.size() < 2) {
    std::cerr << kUsage;
    return 2;
  }
  const std::string command = args[1];
  const std::string arg = args.size() > 2 ? args[2] : "";
  static const std::set<std::string> kCommands = {
      "submit", "status", "list",       "watch",  "cancel", "export", "cluster",
      "tables", "local",  "checkpoint", "resume", "certs",  "plot",   "health"};
  if (!kCommands.count(command)) {
    std::cerr << "psctl: unknown command '" << command << "'\n\n" << kUsage;
    return 2;
  }
  const bool needs_arg =
      command != "list" && command != "cluster" && command != "tables";
  if (needs_arg && arg.empty()) {
    std::cerr << "psctl " << command << ": missing argument\n\n" << kUsage;
    return 2;
  }
  if (command == "certs") return RunCertsCommand(arg);
  if (command == "health") return RunHealthCommand(arg);
  // A bad --format is a usage error, found before anything is started.
  absl::StatusOr<ps::client::ExportFormat> format =
      ps::client::ParseExportFormat(absl::GetFlag(FLAGS_format));
  if (!format.ok()) {
    Fail(format.status());
    return 2;
  }
  // So is a plot file psctl could not write.
  const std::string plot_file = command == "plot" ? absl::GetFlag(FLAGS_out)
                                                  : absl::GetFlag(FLAGS_plot);
  if ((command == "plot" || !plot_file.empty()) &&
      !ps::client::IsPlotFileName(plot_file)) {
    Fail(absl::InvalidArgumentError(absl::StrCat(
        command == "plot" ? "--out" : "--plot", "='", plot_file,
        "': allowed: a file name ending in .png or .svg")));
    return 2;
  }
  if (command == "local") return RunLocalCommand(arg, *format);
  return RunRemoteCommand(command, arg, *format);
}
