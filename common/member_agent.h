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
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "absl/time/time.h"
#include "common/rpc_security.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps {

struct MemberAgentOptions {
  std::string coordinator;  // host:port
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string address;  // this daemon's own host:port
  // Where it serves its metrics, host:port ("" for none); the coordinator
  // lists it (Member.metrics_address).
  std::string metrics_address;
  absl::Duration rpc_timeout = absl::Seconds(2);
  // How long Start() keeps trying to reach the coordinator.
  absl::Duration register_timeout = absl::Seconds(30);
  // Runs on the agent's thread when the coordinator no longer knows this
  // member (declared dead, or restarted), before it registers again: a
  // server drops what it held, since another took it over.
  std::function<void()> on_forgotten;
  // The channel to the coordinator (null: plaintext).
  std::shared_ptr<const RpcSecurity> security;
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

  // Whether this member's lease surely still holds: the last heartbeat the
  // coordinator accepted was sent less than 3/4 of the lease ago. Once it
  // is false the coordinator may have declared this member dead.
  bool LeaseHeld() const;

  // Tells the coordinator, from a thread of its own, that this member
  // could not reach these servers of the job; returns at once.
  void ReportUnreachable(const std::string& job_id,
                         std::vector<std::string> server_ids);

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
  absl::Duration lease_ ABSL_GUARDED_BY(mu_) = absl::ZeroDuration();
  // When the last accepted heartbeat (or the registration) was sent.
  absl::Time renewed_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  std::vector<std::thread> reports_ ABSL_GUARDED_BY(mu_);
  absl::Notification stop_;
  std::thread thread_;
};

}  // namespace ps

#endif  // PS_COMMON_MEMBER_AGENT_H_
