// An embedded cluster of real processes on loopback: one ps_coordinator, S
// ps_servers and W ps_workers, each a child process bound to port 0 with its
// log in a work folder. Used by `psctl local` and by the integration tests.
// The destructor stops every process (TERM, then KILL) and reaps it.
//
// Not thread-safe.
#ifndef PS_CLIENT_PSCTL_LOCAL_CLUSTER_H_
#define PS_CLIENT_PSCTL_LOCAL_CLUSTER_H_

#include <memory>
#include <thread>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/coordinator_client.h"
#include "common/subprocess.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::client {

struct LocalClusterOptions {
  int servers = 1;
  int workers = 1;
  // Extra workers, started after `workers` and idle until a job's rank
  // loses its worker and is handed to one of them (worker replacement).
  int spare_workers = 0;
  // The coordinator's --worker_replace_timeout; zero: its default.
  absl::Duration worker_replace_timeout = absl::ZeroDuration();
  // The coordinator's --state_dir (created if missing); empty: it keeps its
  // state in memory, and RestartCoordinator() starts an empty one.
  std::string state_dir;
  // More flags for the coordinator, e.g. --act_on_reports=false.
  std::vector<std::string> coordinator_flags;
  // Folder holding ps_coordinator, ps_server and ps_worker, or a Bazel
  // bazel-bin folder (coordinator/ps_coordinator, ...). Empty: found from
  // this program's own location.
  std::string bin_dir;
  // Logs and port files go here; must exist.
  std::string work_dir;
  absl::Duration lease = absl::Seconds(3);
  // Longest wait for every member to register.
  absl::Duration start_timeout = absl::Seconds(30);
  std::string log_level = "info";
  // Mutual TLS on every channel, with a throwaway cluster CA and one
  // certificate per process made in work_dir/tls (local_cluster_tls.cc):
  // the coordinator, each server and worker, a user "local" (this
  // cluster's own client, which submits jobs) and an admin. False: every
  // process runs --insecure (plaintext on loopback).
  bool tls = false;
  // The coordinator serves its web dashboard on a free loopback port
  // (dashboard_url()); a restarted coordinator serves it on the same one.
  bool dashboard = false;
  // Every process serves Prometheus metrics on a free port of its own
  // (--metrics_port=-1); GetCluster lists where (Member.metrics_address).
  bool metrics = false;
};

class LocalCluster {
 public:
  static absl::StatusOr<std::unique_ptr<LocalCluster>> Start(
      const LocalClusterOptions& options);
  ~LocalCluster() { Stop(); }

  // "http://127.0.0.1:PORT/", or empty without options.dashboard.
  const std::string& dashboard_url() const { return dashboard_url_; }
  const std::string& coordinator_address() const {
    return coordinator_address_;
  }
  // The coordinator's job and task calls (as user "local" with TLS).
  CoordinatorClient* client() { return client_.get(); }
  // What this cluster's own channels present: user "local" with TLS,
  // plaintext without.
  const std::shared_ptr<const RpcSecurity>& security() const {
    return security_;
  }
  // With TLS: the folder of identity `dir_name`'s files ("admin-admin",
  // "user-local", "server-server0", ...), for tests that call as another
  // identity; "" without TLS.
  std::string TlsDir(const std::string& dir_name) const;
  // The raw stub, for tests that send requests by hand (malformed ones
  // included); shares the client's channel.
  v1::Coordinator::Stub* coordinator() { return stub_.get(); }
  // Child processes: [0] coordinator, then servers, then workers (the
  // spare ones last: worker_process(workers + i)).
  Subprocess* coordinator_process() { return procs_[0].get(); }
  Subprocess* server_process(int i) { return procs_[1 + i].get(); }
  Subprocess* worker_process(int i) {
    return procs_[1 + options_.servers + i].get();
  }
  // The server process listening at `address` (a map's endpoint), or
  // nullptr.
  Subprocess* ServerAt(const std::string& address);
  // The worker process (spares included) listening at `address`, or
  // nullptr.
  Subprocess* WorkerAt(const std::string& address);
  // Kills the coordinator (SIGKILL), waits for it to exit, and starts it
  // again on the same port with the same flags (and state dir); returns once
  // it writes its address again. The servers and workers are left alone:
  // they heartbeat on and find it back. May be called from any one thread
  // at a time: the new process is started from a thread the cluster owns
  // until Stop(), since a child dies with the thread that forked it
  // (Subprocess).
  absl::Status RestartCoordinator();
  // Stops workers, then servers, then the coordinator. Idempotent.
  void Stop();

 private:
  explicit LocalCluster(LocalClusterOptions options)
      : options_(std::move(options)) {}
  absl::Status StartAll();
  absl::StatusOr<Subprocess*> Spawn(const std::string& program,
                                    const std::string& name,
                                    std::vector<std::string> args);
  // Starts the coordinator on `port` (0: any) and waits for its address.
  absl::StatusOr<std::unique_ptr<Subprocess>> StartCoordinator(int port);
  absl::Status AwaitMembers();
  // With TLS: makes work_dir/tls (a new CA and every identity's files) and
  // security_; without: security_ is plaintext.
  absl::Status SetUpSecurity();
  // The flag that gives process `dir_name` its credentials: --tls_dir=...
  // or --insecure.
  std::string SecurityFlag(const std::string& dir_name) const;
  // The i in [0, count) whose address file (work_dir/<name><i>.addr) says
  // `address`, or -1.
  int IndexAt(const std::string& name, int count,
              const std::string& address) const;

  LocalClusterOptions options_;
  std::vector<std::unique_ptr<Subprocess>> procs_;
  // Threads that started a restarted coordinator; they wait for Stop().
  std::vector<std::thread> keepers_;
  absl::Notification stopping_;
  std::string coordinator_address_;
  std::string dashboard_url_;
  std::shared_ptr<const RpcSecurity> security_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  std::unique_ptr<CoordinatorClient> client_;
};

// Resolves the folder of the daemon binaries next to the running program.
absl::StatusOr<std::string> FindBinDir(const std::string& hint);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_LOCAL_CLUSTER_H_
