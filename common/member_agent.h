// A daemon's membership in the cluster: registers with the coordinator, then
// heartbeats from its own thread, registering again if the coordinator no
// longer knows it (lease expired, coordinator restarted). Each heartbeat reply
// is handed to a callback, which is how a worker learns of tasks and
// cancellations.
#ifndef PS_COMMON_MEMBER_AGENT_H_
#define PS_COMMON_MEMBER_AGENT_H_

#include <functional>
#include <memory>
#include <string>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps {

struct MemberAgentOptions {
  std::string coordinator;  // host:port
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string address;  // this daemon's own host:port
  absl::Duration rpc_timeout = absl::Seconds(2);
  // How long Start() keeps trying to reach the coordinator.
  absl::Duration register_timeout = absl::Seconds(30);
};

class MemberAgent {
 public:
  using HeartbeatCallback = std::function<void(const v1::HeartbeatResponse&)>;

  // Registers (retrying until options.register_timeout) and starts
  // heartbeating. `on_heartbeat` runs on the agent's thread.
  static absl::StatusOr<std::unique_ptr<MemberAgent>> Start(
      MemberAgentOptions options, HeartbeatCallback on_heartbeat);

  ~MemberAgent();  // stops heartbeating and joins the thread.

  std::string member_id() const;

 private:
  MemberAgent(MemberAgentOptions options, HeartbeatCallback on_heartbeat);
  absl::Status Register();
  void Loop();

  const MemberAgentOptions options_;
  const HeartbeatCallback on_heartbeat_;
  std::unique_ptr<v1::Coordinator::Stub> stub_;
  mutable absl::Mutex mu_;
  std::string member_id_ ABSL_GUARDED_BY(mu_);
  uint64_t incarnation_ ABSL_GUARDED_BY(mu_) = 0;
  absl::Duration interval_ ABSL_GUARDED_BY(mu_) = absl::Seconds(1);
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace ps

#endif  // PS_COMMON_MEMBER_AGENT_H_
