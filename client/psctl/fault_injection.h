// `psctl local --kill=ROLE@DELAY`: kills one daemon of a role with SIGKILL
// that long after the job started training, and tells what happened: who
// was killed, when the cluster recovered (a server: the map's next epoch
// without it; a worker: another worker holding its rank; the coordinator,
// which is started again at once on its state dir: the job reporting a
// newer step to the new coordinator), and how long that took.
#ifndef PS_CLIENT_PSCTL_FAULT_INJECTION_H_
#define PS_CLIENT_PSCTL_FAULT_INJECTION_H_

#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "client/coordinator_client.h"
#include "client/psctl/local_cluster.h"

namespace ps::client {

struct Kill {
  enum Target {
    kServer,       // the primary of group 0
    kWorker,       // rank 0's
    kCoordinator,  // restarted at once on its state dir
  };
  Target target = kServer;
  absl::Duration after;        // after training started (first progress)
};

// Parses "server@3s,worker@10s" (roles server, worker or coordinator;
// delays as absl durations, >= 0). INVALID_ARGUMENT naming the bad item and what is
// allowed.
absl::StatusOr<std::vector<Kill>> ParseKills(absl::string_view flag);

// Runs the kills against `cluster` for job `job_id` on a thread of its own,
// writing one line per event to `out` (which must be safe to write from
// another thread, as std::cout is). Stop() (or the destructor) ends it and
// returns the summary lines.
class FaultInjector {
 public:
  FaultInjector(LocalCluster* cluster, std::string job_id,
                std::vector<Kill> kills, std::ostream& out);
  ~FaultInjector();
  // Stops waiting; returns one line per kill: what, when, and the
  // recovery (or that none was seen).
  std::vector<std::string> Stop();

 private:
  void Run();
  // Kills the coordinator and starts it again; the recovery line, or "".
  std::string RestartCoordinator(const v1::Job& job, absl::Time started);
  // Waits until `done` or stop; polls the job every 20 ms. False on stop.
  bool WaitFor(const std::function<bool(const v1::Job&)>& done,
               v1::Job* job, absl::Time deadline);
  void Say(const std::string& line);

  LocalCluster* const cluster_;
  const std::string job_id_;
  const std::vector<Kill> kills_;
  std::ostream& out_;
  absl::Notification stop_;
  absl::Mutex mu_;
  std::vector<std::string> summary_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;
};

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_FAULT_INJECTION_H_
