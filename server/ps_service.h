// gRPC adapter for the ParameterServer service: unpacks the request, calls the
// TableStore, converts the status. No logic of its own.
#ifndef PS_SERVER_PS_SERVICE_H_
#define PS_SERVER_PS_SERVICE_H_

#include "absl/time/time.h"
#include "proto/ps/v1/ps.grpc.pb.h"
#include "server/table_store.h"

namespace ps::server {

// Longest a BSP/SSP pull waits for slow workers, whatever its deadline.
inline constexpr absl::Duration kMaxPullWait = absl::Minutes(10);

class PsService final : public v1::ParameterServer::Service {
 public:
  explicit PsService(TableStore* store) : store_(store) {}

  grpc::Status CreateTables(grpc::ServerContext* ctx,
                            const v1::CreateTablesRequest* request,
                            v1::CreateTablesResponse* response) override;
  grpc::Status DropTables(grpc::ServerContext* ctx,
                          const v1::DropTablesRequest* request,
                          v1::DropTablesResponse* response) override;
  grpc::Status Pull(grpc::ServerContext* ctx, const v1::PullRequest* request,
                    v1::PullResponse* response) override;
  grpc::Status Push(grpc::ServerContext* ctx, const v1::PushRequest* request,
                    v1::PushResponse* response) override;
  grpc::Status ServerStatus(grpc::ServerContext* ctx,
                            const v1::ServerStatusRequest* request,
                            v1::ServerStatusResponse* response) override;

 private:
  TableStore* store_;  // not owned
};

}  // namespace ps::server

#endif  // PS_SERVER_PS_SERVICE_H_
