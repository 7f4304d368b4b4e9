// How the coordinator reaches parameter servers for control operations. An
// interface so the job logic is tested without a network; GrpcServerControl
// is the real one. CreateTablesOnAll and DropTablesOnAll call many servers
// at once through it.
#ifndef PS_COORDINATOR_SERVER_CONTROL_H_
#define PS_COORDINATOR_SERVER_CONTROL_H_

#include <memory>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/rpc_security.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::coordinator {

class ServerControl {
 public:
  virtual ~ServerControl() = default;
  virtual absl::Status CreateTables(const v1::ServerEndpoint& server,
                                    const v1::CreateTablesRequest& request) = 0;
  virtual absl::Status DropTables(const v1::ServerEndpoint& server,
                                  const std::string& job_id) = 0;
  // A group's new epoch and roles after a failure (see ps.proto).
  virtual absl::Status SetReplicas(const v1::ServerEndpoint& server,
                                   const v1::SetReplicasRequest& request) {
    return absl::UnimplementedError("SetReplicas");
  }
  // Copies a group from its primary to a server where it was created
  // JOINING (see ps.proto); `timeout` bounds the whole copy.
  virtual absl::StatusOr<v1::CopyGroupResponse> CopyGroup(
      const v1::ServerEndpoint& primary, const v1::CopyGroupRequest& request,
      absl::Duration timeout) {
    return absl::UnimplementedError("CopyGroup");
  }
  virtual absl::Status DropGroup(const v1::ServerEndpoint& server,
                                 const std::string& job_id, int group) {
    return absl::UnimplementedError("DropGroup");
  }
  // Checkpoints (see ps.proto): a primary writes its group at a cut; a
  // replica of a resumed job's group loads it. `timeout` bounds the call.
  virtual absl::StatusOr<v1::WriteCheckpointResponse> WriteCheckpoint(
      const v1::ServerEndpoint& primary,
      const v1::WriteCheckpointRequest& request, absl::Duration timeout) {
    return absl::UnimplementedError("WriteCheckpoint");
  }
  virtual absl::Status LoadCheckpoint(const v1::ServerEndpoint& server,
                                      const v1::LoadCheckpointRequest& request,
                                      absl::Duration timeout) {
    return absl::UnimplementedError("LoadCheckpoint");
  }
  // OK when the server answers within `timeout`.
  virtual absl::Status Probe(const v1::ServerEndpoint& server,
                             absl::Duration timeout) {
    return absl::OkStatus();
  }
  // A job that ended with its tables kept gets a new token key there.
  virtual absl::Status SealTables(const v1::ServerEndpoint& server,
                                  const v1::SealTablesRequest& request) {
    return absl::UnimplementedError("SealTables");
  }
};

// Runs call(0) .. call(n - 1) on threads of their own and returns their
// statuses.
std::vector<absl::Status> RunConcurrently(
    int n, const std::function<absl::Status(int)>& call);

// Sends requests[i] to servers[i] (as many of each), every call on a thread
// of its own so that a server that does not answer delays the others by
// nothing; returns when all have returned: OK, or the first error in server
// order.
absl::Status CreateTablesOnAll(
    ServerControl& control, const std::vector<v1::ServerEndpoint>& servers,
    const std::vector<v1::CreateTablesRequest>& requests);

// One job's tables, to be dropped from the servers that hold them.
struct TableDrop {
  std::vector<v1::ServerEndpoint> servers;
  std::string job_id;
};
// Drops every job's tables on each of its servers, all calls at once as
// CreateTablesOnAll; returns the calls that failed, as (job id, status), in
// order.
std::vector<std::pair<std::string, absl::Status>> DropTablesOnAll(
    ServerControl& control, const std::vector<TableDrop>& drops);

// Thread-safe; keeps one stub per server address.
class GrpcServerControl : public ServerControl {
 public:
  // `security`: the channels to the servers (null: plaintext).
  explicit GrpcServerControl(
      absl::Duration rpc_timeout,
      std::shared_ptr<const RpcSecurity> security = nullptr)
      : rpc_timeout_(rpc_timeout), security_(std::move(security)) {}
  absl::Status CreateTables(const v1::ServerEndpoint& server,
                            const v1::CreateTablesRequest& request) override;
  absl::Status DropTables(const v1::ServerEndpoint& server,
                          const std::string& job_id) override;
  absl::Status SetReplicas(const v1::ServerEndpoint& server,
                           const v1::SetReplicasRequest& request) override;
  absl::Status Probe(const v1::ServerEndpoint& server,
                     absl::Duration timeout) override;
  absl::Status SealTables(const v1::ServerEndpoint& server,
                          const v1::SealTablesRequest& request) override;
  absl::StatusOr<v1::CopyGroupResponse> CopyGroup(
      const v1::ServerEndpoint& primary, const v1::CopyGroupRequest& request,
      absl::Duration timeout) override;
  absl::Status DropGroup(const v1::ServerEndpoint& server,
                         const std::string& job_id, int group) override;
  absl::StatusOr<v1::WriteCheckpointResponse> WriteCheckpoint(
      const v1::ServerEndpoint& primary,
      const v1::WriteCheckpointRequest& request,
      absl::Duration timeout) override;
  absl::Status LoadCheckpoint(const v1::ServerEndpoint& server,
                              const v1::LoadCheckpointRequest& request,
                              absl::Duration timeout) override;

 private:
  v1::ParameterServer::Stub* StubFor(const std::string& address);

  const absl::Duration rpc_timeout_;
  const std::shared_ptr<const RpcSecurity> security_;  // may be null
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<v1::ParameterServer::Stub>>
      stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_SERVER_CONTROL_H_
