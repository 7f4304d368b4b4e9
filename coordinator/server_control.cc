#include "coordinator/server_control.h"

#include "absl/strings/str_cat.h"
#include "common/rpc.h"
#include "common/status.h"

namespace ps::coordinator {

v1::ParameterServer::Stub* GrpcServerControl::StubFor(
    const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& stub = stubs_[address];
  if (!stub) stub = v1::ParameterServer::NewStub(MakeChannel(address));
  return stub.get();
}

absl::Status GrpcServerControl::CreateTables(
    const v1::ServerEndpoint& server, const v1::CreateTablesRequest& request) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(rpc_timeout_));
  v1::CreateTablesResponse response;
  return Annotate(
      FromGrpcStatus(
          StubFor(server.address())->CreateTables(&ctx, request, &response)),
      absl::StrCat("creating tables on ", server.member_id(), " at ",
                   server.address()));
}

absl::Status GrpcServerControl::DropTables(const v1::ServerEndpoint& server,
                                           const std::string& job_id) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(rpc_timeout_));
  v1::DropTablesRequest request;
  request.set_job_id(job_id);
  v1::DropTablesResponse response;
  return Annotate(
      FromGrpcStatus(
          StubFor(server.address())->DropTables(&ctx, request, &response)),
      absl::StrCat("dropping tables on ", server.member_id(), " at ",
                   server.address()));
}

}  // namespace ps::coordinator
