#include "coordinator/coordinator_service.h"

#include "absl/strings/str_cat.h"
#include "common/identity.h"
#include "common/job_state.h"
#include "common/logging.h"
#include "common/status.h"

namespace ps::coordinator {
namespace {

// The caller's identity; nullopt without TLS.
absl::StatusOr<std::optional<Identity>> Caller(const grpc::ServerContext& ctx) {
  std::shared_ptr<const grpc::AuthContext> auth = ctx.auth_context();
  if (auth == nullptr) return std::nullopt;
  return PeerIdentity(*auth);
}

// The name a job submitted by the caller is owned by ("" without TLS).
absl::StatusOr<std::string> OwnerName(const grpc::ServerContext& ctx) {
  absl::StatusOr<std::optional<Identity>> caller = Caller(ctx);
  if (!caller.ok()) return caller.status();
  return caller->has_value() ? (*caller)->name : "";
}

}  // namespace

absl::Status CoordinatorService::CheckRegisterRole(
    const grpc::ServerContext& ctx, v1::Role role) {
  absl::StatusOr<std::optional<Identity>> caller = Caller(ctx);
  if (!caller.ok()) return caller.status();
  if (!caller->has_value()) return absl::OkStatus();
  const Role want = role == v1::SERVER ? Role::kServer : Role::kWorker;
  if ((*caller)->role == want) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      "a ", RoleName((*caller)->role), " certificate (", (*caller)->name,
      ") may not register as a ", v1::Role_Name(role),
      "; that needs a ", RoleName(want), " certificate"));
}

absl::Status CoordinatorService::CheckOwner(const grpc::ServerContext& ctx,
                                            const std::string& job_id,
                                            const v1::Job* job) const {
  absl::StatusOr<std::optional<Identity>> caller = Caller(ctx);
  if (!caller.ok()) return caller.status();
  // Workers run every user's jobs; the role policy lets them only GetJob.
  if (!caller->has_value() || (*caller)->role == Role::kAdmin ||
      (*caller)->role == Role::kWorker) {
    return absl::OkStatus();
  }
  absl::StatusOr<v1::Job> found;
  if (job == nullptr) {
    found = jobs_->Get(job_id);
    if (!found.ok()) return found.status();
    job = &*found;
  }
  if (job->owner() == (*caller)->name) return absl::OkStatus();
  return absl::PermissionDeniedError(absl::StrCat(
      job_id, " is not yours: user ", (*caller)->name,
      " may see and change only the jobs it submitted (an admin "
      "certificate may see and change any)"));
}

absl::Status CoordinatorService::CheckMember(
    const grpc::ServerContext& ctx, const std::string& member_id) const {
  absl::StatusOr<std::optional<Identity>> caller = Caller(ctx);
  if (!caller.ok()) return caller.status();
  if (!caller->has_value()) return absl::OkStatus();
  std::optional<MemberInfo> member = members_->Get(member_id);
  // A member with no principal registered without TLS (or before members
  // were bound to certificates).
  if (!member.has_value() || member->principal.empty() ||
      member->principal == (*caller)->name) {
    return absl::OkStatus();
  }
  return absl::PermissionDeniedError(absl::StrCat(
      RoleName((*caller)->role), " ", (*caller)->name, " may not report for ",
      member_id, ", which registered with another certificate"));
}

absl::Status CoordinatorService::CheckRank(const grpc::ServerContext& ctx,
                                           const std::string& job_id,
                                           int rank) const {
  absl::StatusOr<v1::Job> job = jobs_->Get(job_id);
  if (!job.ok() || rank < 0 || rank >= job->worker_ids_size()) {
    return absl::OkStatus();  // the call itself names what is wrong
  }
  return CheckMember(ctx, job->worker_ids(rank));
}

grpc::Status CoordinatorService::Register(grpc::ServerContext* ctx,
                                          const v1::RegisterRequest* request,
                                          v1::RegisterResponse* response) {
  if (absl::Status s = CheckRegisterRole(*ctx, request->role()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<std::string> principal = OwnerName(*ctx);
  if (!principal.ok()) return ToGrpcStatus(principal.status());
  absl::StatusOr<Registration> registered =
      members_->Register(request->role(), request->address(), *principal,
                         request->metrics_address());
  if (!registered.ok()) return ToGrpcStatus(registered.status());
  response->set_member_id(registered->id);
  response->set_incarnation(registered->incarnation);
  response->set_lease_ms(absl::ToInt64Milliseconds(members_->lease()));
  response->set_heartbeat_interval_ms(
      absl::ToInt64Milliseconds(heartbeat_interval_));
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::Heartbeat(grpc::ServerContext* ctx,
                                           const v1::HeartbeatRequest* request,
                                           v1::HeartbeatResponse* response) {
  if (absl::Status s = CheckMember(*ctx, request->member_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::Status s =
      members_->Heartbeat(request->member_id(), request->incarnation());
  if (!s.ok()) return ToGrpcStatus(s);
  jobs_->FillHeartbeat(request->member_id(), response);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetCluster(grpc::ServerContext*,
                                            const v1::GetClusterRequest*,
                                            v1::GetClusterResponse* response) {
  *response = ClusterView();
  return grpc::Status::OK;
}

v1::GetClusterResponse CoordinatorService::ClusterView() const {
  v1::GetClusterResponse response;
  const absl::Time now = absl::Now();
  for (const MemberInfo& m : members_->All()) {
    v1::Member* out = response.add_members();
    out->set_id(m.id);
    out->set_role(m.role);
    out->set_address(m.address);
    out->set_metrics_address(m.metrics_address);
    out->set_state(m.alive ? v1::ALIVE : v1::DEAD);
    out->set_last_heartbeat_age_ms(
        absl::ToInt64Milliseconds(now - m.last_heartbeat));
    if (m.alive) out->set_job_id(jobs_->JobOfMember(m.id));
  }
  response.set_lease_ms(absl::ToInt64Milliseconds(members_->lease()));
  response.set_metrics_address(metrics_address_);
  response.set_dashboard_url(dashboard_url_);
  return response;
}

grpc::Status CoordinatorService::SubmitJob(grpc::ServerContext* ctx,
                                           const v1::SubmitJobRequest* request,
                                           v1::SubmitJobResponse* response) {
  absl::StatusOr<std::string> owner = OwnerName(*ctx);
  if (!owner.ok()) return ToGrpcStatus(owner.status());
  absl::StatusOr<std::string> id = jobs_->Submit(request->spec(), *owner);
  if (!id.ok()) return ToGrpcStatus(id.status());
  response->set_job_id(*id);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetJob(grpc::ServerContext* ctx,
                                        const v1::GetJobRequest* request,
                                        v1::Job* response) {
  const ScopedLogJob log_job(request->job_id());
  absl::StatusOr<v1::Job> job = jobs_->Get(request->job_id());
  if (!job.ok()) return ToGrpcStatus(job.status());
  if (absl::Status s = CheckOwner(*ctx, request->job_id(), &*job); !s.ok()) {
    return ToGrpcStatus(s);
  }
  *response = *std::move(job);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ListJobs(grpc::ServerContext* ctx,
                                          const v1::ListJobsRequest*,
                                          v1::ListJobsResponse* response) {
  absl::StatusOr<std::optional<Identity>> caller = Caller(*ctx);
  if (!caller.ok()) return ToGrpcStatus(caller.status());
  const bool all =
      !caller->has_value() || (*caller)->role == Role::kAdmin;
  for (v1::Job& job : jobs_->List()) {
    if (all || job.owner() == (*caller)->name) {
      *response->add_jobs() = std::move(job);
    }
  }
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::CancelJob(grpc::ServerContext* ctx,
                                           const v1::CancelJobRequest* request,
                                           v1::CancelJobResponse* response) {
  const ScopedLogJob log_job(request->job_id());
  if (absl::Status s = CheckOwner(*ctx, request->job_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<v1::JobState> state = jobs_->Cancel(request->job_id());
  if (!state.ok()) return ToGrpcStatus(state.status());
  response->set_state(*state);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::CheckpointJob(
    grpc::ServerContext* ctx, const v1::CheckpointJobRequest* request,
    v1::CheckpointInfo* response) {
  const ScopedLogJob log_job(request->job_id());
  if (absl::Status s = CheckOwner(*ctx, request->job_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<v1::CheckpointInfo> info = jobs_->Checkpoint(request->job_id());
  if (!info.ok()) return ToGrpcStatus(info.status());
  *response = *std::move(info);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ResumeJob(grpc::ServerContext* ctx,
                                           const v1::ResumeJobRequest* request,
                                           v1::ResumeJobResponse* response) {
  const ScopedLogJob log_job(request->job_id());
  if (absl::Status s = CheckOwner(*ctx, request->job_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<v1::ResumeJobResponse> resumed = jobs_->Resume(*request);
  if (!resumed.ok()) return ToGrpcStatus(resumed.status());
  *response = *std::move(resumed);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::WatchJob(grpc::ServerContext* ctx,
                                          const v1::WatchJobRequest* request,
                                          grpc::ServerWriter<v1::Job>* writer) {
  const ScopedLogJob log_job(request->job_id());
  if (absl::Status s = CheckOwner(*ctx, request->job_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  int64_t seen = -1;
  while (!ctx->IsCancelled()) {
    // Short waits so a client that went away frees this thread promptly.
    auto change =
        jobs_->WaitForChange(request->job_id(), seen, absl::Seconds(1));
    if (!change.ok()) return ToGrpcStatus(change.status());
    if (change->second == seen) continue;
    seen = change->second;
    if (!streams_.Write(ctx, writer, change->first)) break;
    if (IsFinal(change->first.state())) break;
  }
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::ReportProgress(
    grpc::ServerContext* ctx, const v1::ReportProgressRequest* request,
    v1::ReportProgressResponse*) {
  const ScopedLogJob log_job(request->job_id());
  if (absl::Status s = CheckMember(*ctx, request->member_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ToGrpcStatus(jobs_->ReportProgress(*request));
}

grpc::Status CoordinatorService::Barrier(grpc::ServerContext* ctx,
                                         const v1::BarrierRequest* request,
                                         v1::BarrierResponse*) {
  const ScopedLogJob log_job(request->job_id());
  if (absl::Status s = CheckRank(*ctx, request->job_id(), request->rank());
      !s.ok()) {
    return ToGrpcStatus(s);
  }
  v1::BarrierRequest bounded = *request;
  // Never wait past the caller's own deadline.
  const absl::Duration left = absl::FromChrono(ctx->deadline()) - absl::Now();
  if (left < absl::Hours(24) &&
      (bounded.timeout_ms() <= 0 ||
       absl::Milliseconds(bounded.timeout_ms()) > left)) {
    bounded.set_timeout_ms(
        std::max<int64_t>(1, absl::ToInt64Milliseconds(left)));
  }
  return ToGrpcStatus(jobs_->Barrier(bounded));
}

grpc::Status CoordinatorService::CompleteTask(
    grpc::ServerContext* ctx, const v1::CompleteTaskRequest* request,
    v1::CompleteTaskResponse*) {
  const ScopedLogJob log_job(request->job_id());
  if (absl::Status s = CheckMember(*ctx, request->member_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  return ToGrpcStatus(jobs_->CompleteTask(*request));
}

grpc::Status CoordinatorService::ReportUnreachable(
    grpc::ServerContext* ctx, const v1::ReportUnreachableRequest* request,
    v1::ReportUnreachableResponse* response) {
  const ScopedLogJob log_job(request->job_id());
  if (absl::Status s = CheckMember(*ctx, request->reporter()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  std::vector<std::string> ids(request->server_ids().begin(),
                               request->server_ids().end());
  for (std::string& id :
       jobs_->ServersUnreachable(request->job_id(), request->reporter(), ids)) {
    response->add_dead(std::move(id));
  }
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetJobToken(
    grpc::ServerContext* ctx, const v1::GetJobTokenRequest* request,
    v1::GetJobTokenResponse* response) {
  const ScopedLogJob log_job(request->job_id());
  if (absl::Status s = CheckOwner(*ctx, request->job_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<v1::GetJobTokenResponse> token =
      jobs_->ReadToken(request->job_id());
  if (!token.ok()) return ToGrpcStatus(token.status());
  *response = *std::move(token);
  return grpc::Status::OK;
}

grpc::Status CoordinatorService::GetJobHistory(
    grpc::ServerContext* ctx, const v1::GetJobHistoryRequest* request,
    v1::JobHistory* response) {
  const ScopedLogJob log_job(request->job_id());
  if (request->max_points() < 0) {
    return ToGrpcStatus(absl::InvalidArgumentError(absl::StrCat(
        "max_points ", request->max_points(),
        " is negative; allowed: 0 (every point) or more")));
  }
  if (absl::Status s = CheckOwner(*ctx, request->job_id()); !s.ok()) {
    return ToGrpcStatus(s);
  }
  absl::StatusOr<v1::JobHistory> history =
      jobs_->History(request->job_id(), request->max_points());
  if (!history.ok()) return ToGrpcStatus(history.status());
  *response = *std::move(history);
  return grpc::Status::OK;
}

}  // namespace ps::coordinator
