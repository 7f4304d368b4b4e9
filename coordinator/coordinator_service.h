// gRPC adapter for the Coordinator service: validates the shape of requests,
// calls Membership / JobManager, converts statuses. No logic of its own.
#ifndef PS_COORDINATOR_COORDINATOR_SERVICE_H_
#define PS_COORDINATOR_COORDINATOR_SERVICE_H_

#include "common/stream_watchdog.h"
#include "coordinator/job_manager.h"
#include "coordinator/membership.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::coordinator {

class CoordinatorService final : public v1::Coordinator::Service {
 public:
  // `stream_stall_limit`: a WatchJob whose client reads nothing for this
  // long is cancelled (see StreamWatchdog). `metrics_address`: where the
  // coordinator serves its own metrics (GetCluster says); "" for none.
  CoordinatorService(Membership* members, JobManager* jobs,
                     absl::Duration heartbeat_interval,
                     absl::Duration stream_stall_limit = kStreamStallLimit,
                     std::string metrics_address = "")
      : members_(members),
        jobs_(jobs),
        heartbeat_interval_(heartbeat_interval),
        streams_(stream_stall_limit),
        metrics_address_(std::move(metrics_address)) {}

  grpc::Status Register(grpc::ServerContext*, const v1::RegisterRequest*,
                        v1::RegisterResponse*) override;
  grpc::Status Heartbeat(grpc::ServerContext*, const v1::HeartbeatRequest*,
                         v1::HeartbeatResponse*) override;
  grpc::Status GetCluster(grpc::ServerContext*, const v1::GetClusterRequest*,
                          v1::GetClusterResponse*) override;
  // What GetCluster answers (also for the dashboard). Thread-safe.
  v1::GetClusterResponse ClusterView() const;
  // GetClusterResponse.dashboard_url; set before serving.
  void set_dashboard_url(std::string url) { dashboard_url_ = std::move(url); }
  grpc::Status SubmitJob(grpc::ServerContext*, const v1::SubmitJobRequest*,
                         v1::SubmitJobResponse*) override;
  grpc::Status GetJob(grpc::ServerContext*, const v1::GetJobRequest*,
                      v1::Job*) override;
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*,
                        v1::ListJobsResponse*) override;
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*,
                         v1::CancelJobResponse*) override;
  grpc::Status CheckpointJob(grpc::ServerContext*,
                             const v1::CheckpointJobRequest*,
                             v1::CheckpointInfo*) override;
  grpc::Status ResumeJob(grpc::ServerContext*, const v1::ResumeJobRequest*,
                         v1::ResumeJobResponse*) override;
  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest*,
                        grpc::ServerWriter<v1::Job>*) override;
  grpc::Status ReportUnreachable(grpc::ServerContext*,
                                 const v1::ReportUnreachableRequest*,
                                 v1::ReportUnreachableResponse*) override;
  grpc::Status ReportProgress(grpc::ServerContext*,
                              const v1::ReportProgressRequest*,
                              v1::ReportProgressResponse*) override;
  grpc::Status Barrier(grpc::ServerContext*, const v1::BarrierRequest*,
                       v1::BarrierResponse*) override;
  grpc::Status CompleteTask(grpc::ServerContext*,
                            const v1::CompleteTaskRequest*,
                            v1::CompleteTaskResponse*) override;
  grpc::Status GetJobToken(grpc::ServerContext*,
                           const v1::GetJobTokenRequest*,
                           v1::GetJobTokenResponse*) override;
  grpc::Status GetJobHistory(grpc::ServerContext*,
                             const v1::GetJobHistoryRequest*,
                             v1::JobHistory*) override;

 private:
  // What the role policy (common/authz_policy.h) cannot say, from the
  // caller's certificate (no checks without TLS):
  // A user may see and change only their own jobs; admins any.
  // `job`: the job if the caller already has it (else it is looked up).
  absl::Status CheckOwner(const grpc::ServerContext& ctx,
                          const std::string& job_id,
                          const v1::Job* job = nullptr) const;
  // A member registers in its certificate's role.
  static absl::Status CheckRegisterRole(const grpc::ServerContext& ctx,
                                        v1::Role role);
  // Only the certificate a member registered with may report for it
  // (unknown members are left to the call, which names them).
  absl::Status CheckMember(const grpc::ServerContext& ctx,
                           const std::string& member_id) const;
  // The same for the member holding `rank` of `job_id`.
  absl::Status CheckRank(const grpc::ServerContext& ctx,
                         const std::string& job_id, int rank) const;
  Membership* const members_;
  JobManager* const jobs_;
  const absl::Duration heartbeat_interval_;
  StreamWatchdog streams_;  // WatchJob writes
  const std::string metrics_address_;
  std::string dashboard_url_;
};

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_COORDINATOR_SERVICE_H_
