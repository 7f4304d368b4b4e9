// How the coordinator reaches parameter servers for control operations. An
// interface so the job logic is tested without a network; GrpcServerControl
// is the real one.
#ifndef PS_COORDINATOR_SERVER_CONTROL_H_
#define PS_COORDINATOR_SERVER_CONTROL_H_

#include <memory>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::coordinator {

class ServerControl {
 public:
  virtual ~ServerControl() = default;
  virtual absl::Status CreateTables(const v1::ServerEndpoint& server,
                                    const v1::CreateTablesRequest& request) = 0;
  virtual absl::Status DropTables(const v1::ServerEndpoint& server,
                                  const std::string& job_id) = 0;
};

// Thread-safe; keeps one stub per server address.
class GrpcServerControl : public ServerControl {
 public:
  explicit GrpcServerControl(absl::Duration rpc_timeout)
      : rpc_timeout_(rpc_timeout) {}
  absl::Status CreateTables(const v1::ServerEndpoint& server,
                            const v1::CreateTablesRequest& request) override;
  absl::Status DropTables(const v1::ServerEndpoint& server,
                          const std::string& job_id) override;

 private:
  v1::ParameterServer::Stub* StubFor(const std::string& address);

  const absl::Duration rpc_timeout_;
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::unique_ptr<v1::ParameterServer::Stub>>
      stubs_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_SERVER_CONTROL_H_
