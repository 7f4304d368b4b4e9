#include "client/psctl/local_cluster.h"

#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <system_error>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/rpc.h"
#include "common/status.h"

namespace ps::client {
namespace {

namespace fs = std::filesystem;

// Where each program lives under a bazel-bin folder.
std::string BazelSubdir(const std::string& program) {
  if (program == "ps_coordinator") return "coordinator";
  if (program == "ps_server") return "server";
  return "worker";
}

std::string ProgramPath(const std::string& bin_dir,
                        const std::string& program) {
  fs::path flat = fs::path(bin_dir) / program;
  if (fs::exists(flat)) return flat.string();
  return (fs::path(bin_dir) / BazelSubdir(program) / program).string();
}

}  // namespace

absl::StatusOr<std::string> FindBinDir(const std::string& hint) {
  std::vector<fs::path> candidates;
  if (!hint.empty()) {
    candidates.push_back(hint);
  } else {
    std::error_code ec;
    fs::path self = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
      // Installed side by side, or psctl at bazel-bin/client/psctl/psctl.
      candidates.push_back(self.parent_path());
      candidates.push_back(self.parent_path().parent_path().parent_path());
    }
  }
  for (const fs::path& dir : candidates) {
    if (access(ProgramPath(dir, "ps_coordinator").c_str(), X_OK) == 0) {
      return dir.string();
    }
  }
  return absl::NotFoundError(absl::StrCat(
      "cannot find ps_coordinator, ps_server and ps_worker",
      hint.empty() ? " next to this program" : absl::StrCat(" in ", hint),
      "; build them (bazel build //...) or pass --bin_dir"));
}

absl::StatusOr<std::unique_ptr<LocalCluster>> LocalCluster::Start(
    const LocalClusterOptions& options) {
  if (options.servers < 1 || options.servers > 64 || options.workers < 1 ||
      options.workers > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("servers ", options.servers, ", workers ", options.workers,
                     "; allowed: each in [1, 64]"));
  }
  if (options.spare_workers < 0 || options.spare_workers > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "spare_workers ", options.spare_workers, "; allowed: [0, 64]"));
  }
  absl::StatusOr<std::string> bin_dir = FindBinDir(options.bin_dir);
  if (!bin_dir.ok()) return bin_dir.status();
  std::unique_ptr<LocalCluster> cluster(new LocalCluster(options));
  cluster->options_.bin_dir = *bin_dir;
  absl::Status s = cluster->StartAll();
  if (!s.ok()) return s;  // the destructor stops what did start
  return cluster;
}

int LocalCluster::IndexAt(const std::string& name, int count,
                          const std::string& address) const {
  for (int i = 0; i < count; ++i) {
    std::ifstream in(absl::StrCat(options_.work_dir, "/", name, i, ".addr"));
    std::string line;
    if (std::getline(in, line) && line == address) return i;
  }
  return -1;
}

Subprocess* LocalCluster::ServerAt(const std::string& address) {
  const int i = IndexAt("server", options_.servers, address);
  return i < 0 ? nullptr : server_process(i);
}

Subprocess* LocalCluster::WorkerAt(const std::string& address) {
  const int i =
      IndexAt("worker", options_.workers + options_.spare_workers, address);
  return i < 0 ? nullptr : worker_process(i);
}

namespace {

// Starts `program` from `bin_dir` with its port file and log in `work_dir`.
absl::StatusOr<std::unique_ptr<Subprocess>> SpawnIn(
    const LocalClusterOptions& options, const std::string& program,
    const std::string& name, int port, std::vector<std::string> args) {
  const std::string port_file =
      absl::StrCat(options.work_dir, "/", name, ".addr");
  // A work_dir used before still holds the last run's address files; one
  // left there would point at a process that is gone.
  std::error_code ignored;
  std::filesystem::remove(port_file, ignored);
  std::vector<std::string> argv = {ProgramPath(options.bin_dir, program),
                                   absl::StrCat("--port=", port),
                                   "--port_file=" + port_file,
                                   "--log_level=" + options.log_level};
  if (options.metrics) argv.push_back("--metrics_port=-1");
  argv.insert(argv.end(), args.begin(), args.end());
  // Appended to: a restarted coordinator's log follows its first one's.
  return Subprocess::Start(
      argv, absl::StrCat(options.work_dir, "/", name, ".log"));
}

}  // namespace

absl::StatusOr<Subprocess*> LocalCluster::Spawn(const std::string& program,
                                                const std::string& name,
                                                std::vector<std::string> args) {
  absl::StatusOr<std::unique_ptr<Subprocess>> p =
      SpawnIn(options_, program, name, 0, std::move(args));
  if (!p.ok()) return p.status();
  procs_.push_back(*std::move(p));
  return procs_.back().get();
}

absl::StatusOr<std::unique_ptr<Subprocess>> LocalCluster::StartCoordinator(
    int port) {
  std::vector<std::string> flags = options_.coordinator_flags;
  flags.push_back(
      absl::StrCat("--lease=", absl::FormatDuration(options_.lease)));
  if (options_.worker_replace_timeout > absl::ZeroDuration()) {
    flags.push_back(
        absl::StrCat("--worker_replace_timeout=",
                     absl::FormatDuration(options_.worker_replace_timeout)));
  }
  if (!options_.state_dir.empty()) {
    flags.push_back("--state_dir=" + options_.state_dir);
  }
  flags.push_back(SecurityFlag("coordinator-coordinator"));
  if (options_.dashboard) {
    // The port it had before a restart, else any free one.
    int http_port = -1;
    const size_t colon = dashboard_url_.rfind(':');
    if (colon != std::string::npos) {
      (void)absl::SimpleAtoi(
          absl::StripSuffix(dashboard_url_.substr(colon + 1), "/"),
          &http_port);
    }
    flags.push_back(absl::StrCat("--http_port=", http_port));
  }
  absl::StatusOr<std::unique_ptr<Subprocess>> coord = SpawnIn(
      options_, "ps_coordinator", "coordinator", port, std::move(flags));
  if (!coord.ok()) return coord.status();
  absl::StatusOr<std::string> address =
      WaitForFileLine(options_.work_dir + "/coordinator.addr",
                      options_.start_timeout, coord->get());
  if (!address.ok()) return address.status();
  coordinator_address_ = *address;
  return coord;
}

absl::Status LocalCluster::RestartCoordinator() {
  if (procs_.empty()) return absl::FailedPreconditionError("not started");
  procs_[0]->Kill();  // SIGKILL, and reaped
  int port = 0;
  const size_t colon = coordinator_address_.rfind(':');
  if (colon == std::string::npos ||
      !absl::SimpleAtoi(coordinator_address_.substr(colon + 1), &port)) {
    return absl::InternalError(absl::StrCat(
        "coordinator address '", coordinator_address_, "' has no port"));
  }
  absl::StatusOr<std::unique_ptr<Subprocess>> coord =
      absl::UnknownError("not started");
  absl::Notification started;
  keepers_.emplace_back([&, port] {
    coord = StartCoordinator(port);
    started.Notify();
    stopping_.WaitForNotification();  // the child lives while we do
  });
  started.WaitForNotification();
  if (!coord.ok()) return coord.status();
  procs_[0] = *std::move(coord);
  return absl::OkStatus();
}

absl::Status LocalCluster::StartAll() {
  if (absl::Status s = SetUpSecurity(); !s.ok()) return s;
  absl::StatusOr<std::unique_ptr<Subprocess>> coord = StartCoordinator(0);
  if (!coord.ok()) return coord.status();
  procs_.push_back(*std::move(coord));
  channel_ = MakeChannel(security_.get(), coordinator_address_);
  stub_ = v1::Coordinator::NewStub(channel_);
  absl::StatusOr<std::unique_ptr<CoordinatorClient>> client =
      CoordinatorClient::Create(channel_);
  if (!client.ok()) return client.status();
  client_ = *std::move(client);
  if (options_.dashboard) {
    absl::StatusOr<v1::GetClusterResponse> cluster = client_->GetCluster();
    if (!cluster.ok()) return cluster.status();
    dashboard_url_ = cluster->dashboard_url();
  }
  const std::string flag = "--coordinator=" + coordinator_address_;
  for (int i = 0; i < options_.servers; ++i) {
    absl::StatusOr<Subprocess*> p =
        Spawn("ps_server", absl::StrCat("server", i),
              {flag, SecurityFlag(absl::StrCat("server-server", i))});
    if (!p.ok()) return p.status();
  }
  for (int i = 0; i < options_.workers + options_.spare_workers; ++i) {
    absl::StatusOr<Subprocess*> p =
        Spawn("ps_worker", absl::StrCat("worker", i),
              {flag, SecurityFlag(absl::StrCat("worker-worker", i))});
    if (!p.ok()) return p.status();
  }
  return AwaitMembers();
}

absl::Status LocalCluster::AwaitMembers() {
  absl::StatusOr<std::unique_ptr<CoordinatorClient>> probe =
      CoordinatorClient::Create(channel_, {.rpc_timeout = absl::Seconds(2)});
  if (!probe.ok()) return probe.status();
  const absl::Time deadline = absl::Now() + options_.start_timeout;
  int servers = 0, workers = 0;
  while (absl::Now() < deadline) {
    for (auto& p : procs_) {
      if (!p->Running()) {
        return absl::UnavailableError(
            absl::StrCat("process ", p->pid(), " exited with status ",
                         p->exit_code().value_or(-1), " during start-up; see ",
                         p->log_path()));
      }
    }
    absl::StatusOr<v1::GetClusterResponse> cluster = (*probe)->GetCluster();
    if (cluster.ok()) {
      servers = workers = 0;
      for (const v1::Member& m : cluster->members()) {
        if (m.state() != v1::ALIVE) continue;
        (m.role() == v1::SERVER ? servers : workers)++;
      }
      if (servers == options_.servers &&
          workers == options_.workers + options_.spare_workers) {
        return absl::OkStatus();
      }
    }
    absl::SleepFor(absl::Milliseconds(50));
  }
  return absl::DeadlineExceededError(
      absl::StrCat("after ", absl::FormatDuration(options_.start_timeout),
                   " only ", servers, " of ", options_.servers, " servers and ",
                   workers, " of ", options_.workers + options_.spare_workers,
                   " workers had registered with the coordinator at ",
                   coordinator_address_, "; logs in ", options_.work_dir));
}

void LocalCluster::Stop() {
  // Workers first (they talk to servers), the coordinator last.
  for (auto it = procs_.rbegin(); it != procs_.rend(); ++it) (*it)->Stop();
  procs_.clear();
  if (!stopping_.HasBeenNotified()) stopping_.Notify();
  for (std::thread& t : keepers_) t.join();
  keepers_.clear();
}

}  // namespace ps::client
