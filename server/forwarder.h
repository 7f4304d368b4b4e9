// The primary's side of replication: sends each push of an ordered group to
// the group's backups (ParameterServer.Replicate) and says when every one of
// them has applied it.
//
// A push is forwarded as the bytes it arrived in plus a short tail that sets
// its epoch and replica_op (protobuf keeps the last value of a repeated
// scalar field), so its values are not copied. A backup that does not
// answer is tried again, with backoff, for as long as it is still a backup
// of the group (the coordinator removes a dead one with SetReplicas) and
// at most kForwardLimit; it is reported to the coordinator as unreachable at
// once, so that a dead backup is replaced without waiting for its lease.
// Past kForwardLimit (a backup this server cannot reach but the coordinator
// can) the group is fenced: not knowing whether the backup applied the
// push, this server neither applies it nor anything after it. A
// backup that answers FAILED_PRECONDITION leads the group now, so this
// server was replaced: that fences the group (the push is refused, and so
// is everything else of the group until the coordinator says otherwise).
//
// Thread-safe. Completions run on gRPC's threads or on the retry thread.
#ifndef PS_SERVER_FORWARDER_H_
#define PS_SERVER_FORWARDER_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <queue>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/rpc_security.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"
#include "server/table_store.h"

namespace ps::server {

// How long a push is offered to a backup that does not take it.
inline constexpr absl::Duration kForwardLimit = absl::Seconds(30);
// Connections to each backup: a push's chunks travel side by side, as
// they came from the client (one HTTP/2 connection is read by one thread
// at a time on the receiving side).
inline constexpr int kForwardChannels = 2;
// Deadline of one forwarding attempt.
inline constexpr absl::Duration kForwardAttempt = absl::Seconds(5);

class Forwarder {
 public:
  // Called (on some thread, at most once a second per backup) with the
  // member id of a backup that could not be reached.
  using ReportFn = std::function<void(const std::string& job_id,
                                      const std::string& member_id)>;

  // `security`: the channels to the backups (null: plaintext).
  explicit Forwarder(ReportFn report = nullptr,
                     std::shared_ptr<const RpcSecurity> security = nullptr);
  // Waits for the retry thread and for the RPCs in flight (each has a
  // deadline of kForwardAttempt); pushes still waiting for a retry fail.
  ~Forwarder();

  // Sends op `op` of `group` (the push as `request`, the bytes it arrived
  // in) to every one of `backups`, then calls done(OK) once each has
  // applied it or stopped being a backup of the group, or done(error):
  // FAILED_PRECONDITION when the group was fenced, UNAVAILABLE naming the
  // backup when one neither took it nor left the group within
  // kForwardLimit, ABORTED when the group's tables were dropped.
  void Forward(const GroupHandle& group, uint64_t op,
               const grpc::ByteBuffer& request,
               const std::vector<v1::ServerEndpoint>& backups,
               std::function<void(absl::Status)> done);

 private:
  struct Push;    // one op to all its backups
  struct Target;  // one op to one backup
  void Send(std::shared_ptr<Target> target);
  void OnAnswer(std::shared_ptr<Target> target, const grpc::Status& status);
  void Retry(std::shared_ptr<Target> target, absl::Duration after);
  void Report(const std::string& job_id, const std::string& member_id);
  // One of kForwardChannels connections to `address`, by `op`.
  grpc::GenericStub* StubFor(const std::string& address, uint64_t op);
  void RetryLoop();

  const ReportFn report_;
  const std::shared_ptr<const RpcSecurity> security_;  // may be null
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<grpc::GenericStub>> stubs_
      ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<std::string, absl::Time> reported_ ABSL_GUARDED_BY(mu_);
  struct Later {
    absl::Time at;
    std::shared_ptr<Target> target;
    bool operator>(const Later& o) const { return at > o.at; }
  };
  std::priority_queue<Later, std::vector<Later>, std::greater<Later>> later_
      ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  int in_flight_ ABSL_GUARDED_BY(mu_) = 0;  // RPCs whose callback is due
  std::thread retry_thread_;
};

}  // namespace ps::server

#endif  // PS_SERVER_FORWARDER_H_
