#include "coordinator/server_control.h"

#include <algorithm>
#include <functional>
#include <thread>

#include "absl/strings/str_cat.h"
#include "common/rpc.h"
#include "common/status.h"

namespace ps::coordinator {

std::vector<absl::Status> RunConcurrently(
    int n, const std::function<absl::Status(int)>& call) {
  std::vector<absl::Status> out(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] { out[i] = call(i); });
  }
  for (std::thread& t : threads) t.join();
  return out;
}

absl::Status CreateTablesOnAll(
    ServerControl& control, const std::vector<v1::ServerEndpoint>& servers,
    const std::vector<v1::CreateTablesRequest>& requests) {
  const int n = static_cast<int>(std::min(servers.size(), requests.size()));
  for (const absl::Status& s : RunConcurrently(n, [&](int i) {
         return control.CreateTables(servers[i], requests[i]);
       })) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

std::vector<std::pair<std::string, absl::Status>> DropTablesOnAll(
    ServerControl& control, const std::vector<TableDrop>& drops) {
  std::vector<std::pair<const v1::ServerEndpoint*, const std::string*>> calls;
  for (const TableDrop& d : drops) {
    for (const v1::ServerEndpoint& s : d.servers) {
      calls.push_back({&s, &d.job_id});
    }
  }
  const std::vector<absl::Status> done =
      RunConcurrently(static_cast<int>(calls.size()), [&](int i) {
        return control.DropTables(*calls[i].first, *calls[i].second);
      });
  std::vector<std::pair<std::string, absl::Status>> failed;
  for (size_t i = 0; i < done.size(); ++i) {
    if (!done[i].ok()) failed.emplace_back(*calls[i].second, done[i]);
  }
  return failed;
}

v1::ParameterServer::Stub* GrpcServerControl::StubFor(
    const std::string& address) {
  absl::MutexLock lock(&mu_);
  auto& stub = stubs_[address];
  if (!stub) stub = v1::ParameterServer::NewStub(
        MakeChannel(security_.get(), address));
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

namespace ps::coordinator {

absl::Status GrpcServerControl::SetReplicas(
    const v1::ServerEndpoint& server, const v1::SetReplicasRequest& request) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(5)));
  v1::SetReplicasResponse response;
  return Annotate(
      FromGrpcStatus(
          StubFor(server.address())->SetReplicas(&ctx, request, &response)),
      absl::StrCat("setting replicas of job ", request.job_id(), " group ",
                   request.group(), " on ", server.member_id(), " at ",
                   server.address()));
}

absl::Status GrpcServerControl::SealTables(
    const v1::ServerEndpoint& server, const v1::SealTablesRequest& request) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(rpc_timeout_));
  v1::SealTablesResponse response;
  return FromGrpcStatus(
      StubFor(server.address())->SealTables(&ctx, request, &response));
}

absl::Status GrpcServerControl::Probe(const v1::ServerEndpoint& server,
                                      absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(timeout));
  v1::ServerStatusRequest request;
  v1::ServerStatusResponse response;
  return FromGrpcStatus(
      StubFor(server.address())->ServerStatus(&ctx, request, &response));
}

absl::StatusOr<v1::CopyGroupResponse> GrpcServerControl::CopyGroup(
    const v1::ServerEndpoint& primary, const v1::CopyGroupRequest& request,
    absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(timeout));
  v1::CopyGroupResponse response;
  absl::Status s = FromGrpcStatus(
      StubFor(primary.address())->CopyGroup(&ctx, request, &response));
  if (!s.ok()) {
    return Annotate(s, absl::StrCat("copying group ", request.group(), " of ",
                                    request.job_id(), " from ",
                                    primary.member_id(), " to ",
                                    request.target().member_id()));
  }
  return response;
}

absl::StatusOr<v1::WriteCheckpointResponse>
GrpcServerControl::WriteCheckpoint(const v1::ServerEndpoint& primary,
                                   const v1::WriteCheckpointRequest& request,
                                   absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(timeout));
  v1::WriteCheckpointResponse response;
  absl::Status s = FromGrpcStatus(
      StubFor(primary.address())->WriteCheckpoint(&ctx, request, &response));
  if (!s.ok()) {
    return Annotate(s, absl::StrCat("checkpoint of group ", request.group(),
                                    " of ", request.job_id(), " on ",
                                    primary.member_id(), " at ",
                                    primary.address()));
  }
  return response;
}

absl::Status GrpcServerControl::LoadCheckpoint(
    const v1::ServerEndpoint& server, const v1::LoadCheckpointRequest& request,
    absl::Duration timeout) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(timeout));
  v1::LoadCheckpointResponse response;
  absl::Status s = FromGrpcStatus(
      StubFor(server.address())->LoadCheckpoint(&ctx, request, &response));
  if (!s.ok()) {
    return Annotate(s, absl::StrCat("loading group ", request.group(), " of ",
                                    request.job_id(), " on ",
                                    server.member_id(), " at ",
                                    server.address()));
  }
  return absl::OkStatus();
}

absl::Status GrpcServerControl::DropGroup(const v1::ServerEndpoint& server,
                                          const std::string& job_id,
                                          int group) {
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(rpc_timeout_));
  v1::DropTablesRequest request;
  request.set_job_id(job_id);
  request.set_group(group);
  v1::DropTablesResponse response;
  return FromGrpcStatus(
      StubFor(server.address())->DropTables(&ctx, request, &response));
}

}  // namespace ps::coordinator
