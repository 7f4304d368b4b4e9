#include "server/ps_service.h"

#include "common/logging.h"
#include "common/status.h"

namespace ps::server {

grpc::Status PsService::CreateTables(grpc::ServerContext*,
                                     const v1::CreateTablesRequest* request,
                                     v1::CreateTablesResponse*) {
  absl::Status s = store_->CreateTables(*request);
  if (s.ok()) {
    Logger("server")->info("job {}: created {} tables, {} ranges at epoch {}",
                           request->job_id(), request->tables_size(),
                           request->ranges_size(), request->epoch());
  } else {
    Logger("server")->warn("job {}: create tables failed: {}",
                           request->job_id(), s.ToString());
  }
  return ToGrpcStatus(s);
}

grpc::Status PsService::DropTables(grpc::ServerContext*,
                                   const v1::DropTablesRequest* request,
                                   v1::DropTablesResponse*) {
  Logger("server")->info("job {}: dropping tables", request->job_id());
  return ToGrpcStatus(store_->DropTables(request->job_id()));
}

grpc::Status PsService::Pull(grpc::ServerContext* ctx,
                             const v1::PullRequest* request,
                             v1::PullResponse* response) {
  // A waiting pull never outlives its caller's deadline, nor kMaxPullWait.
  const absl::Time deadline =
      std::min(absl::FromChrono(ctx->deadline()), absl::Now() + kMaxPullWait);
  return ToGrpcStatus(store_->Pull(*request, deadline, response));
}

grpc::Status PsService::Push(grpc::ServerContext*,
                             const v1::PushRequest* request,
                             v1::PushResponse* response) {
  bool duplicate = false;
  absl::Status s = store_->Push(*request, &duplicate);
  response->set_duplicate(duplicate);
  return ToGrpcStatus(s);
}

grpc::Status PsService::ServerStatus(grpc::ServerContext*,
                                     const v1::ServerStatusRequest*,
                                     v1::ServerStatusResponse* response) {
  for (v1::TableStatus& t : store_->Status()) {
    *response->add_tables() = std::move(t);
  }
  for (v1::JobServerStats& j : store_->JobStats()) {
    *response->add_jobs() = std::move(j);
  }
  return grpc::Status::OK;
}

}  // namespace ps::server
