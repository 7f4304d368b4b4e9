// The coordinator's job and task calls, for whoever talks to a cluster: a
// C++ service that submits and follows jobs, psctl, and a worker's task.
// Wraps the generated v1::Coordinator stub so that every call has a
// deadline and answers with an absl::Status whose code is the
// coordinator's (or DEADLINE_EXCEEDED / UNAVAILABLE from the network).
// Membership (Register, Heartbeat) is a daemon's own business and stays with
// common/member_agent.
//
// Thread-safe: calls may be made from several threads at once.
#ifndef PS_CLIENT_COORDINATOR_CLIENT_H_
#define PS_CLIENT_COORDINATOR_CLIENT_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/rpc_security.h"
#include "grpcpp/channel.h"
#include "grpcpp/client_context.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::client {

struct CoordinatorClientOptions {
  // Deadline of each unary call, > 0. A Barrier waits up to its request's
  // timeout_ms on the coordinator, and gets this much on top (only this
  // with timeout_ms <= 0, the coordinator's default wait).
  absl::Duration rpc_timeout = absl::Seconds(10);
};

class CoordinatorClient {
 public:
  // Calls the coordinator at `address` (host:port) over a new channel,
  // which connects on the first call. INVALID_ARGUMENT for a bad option.
  // `security`: the channel's (null: plaintext).
  static absl::StatusOr<std::unique_ptr<CoordinatorClient>> Connect(
      const std::string& address, CoordinatorClientOptions options = {},
      const RpcSecurity* security = nullptr);
  // Calls over `channel`, which may be shared with other stubs.
  static absl::StatusOr<std::unique_ptr<CoordinatorClient>> Create(
      std::shared_ptr<grpc::Channel> channel,
      CoordinatorClientOptions options = {});

  // Jobs. SubmitJob returns the new job's id; INVALID_ARGUMENT names the
  // spec's bad field. The others answer NOT_FOUND for an unknown job id.
  absl::StatusOr<std::string> SubmitJob(const v1::JobSpec& spec);
  absl::StatusOr<v1::Job> GetJob(const std::string& job_id);
  absl::StatusOr<std::vector<v1::Job>> ListJobs();
  // The job's state after the call (a job that had ended keeps its state).
  absl::StatusOr<v1::JobState> CancelJob(const std::string& job_id);
  // A checkpoint now (waits up to `timeout` for it); a job resumed from
  // one (see ps.proto).
  absl::StatusOr<v1::CheckpointInfo> CheckpointJob(const std::string& job_id,
                                                   absl::Duration timeout);
  absl::StatusOr<v1::ResumeJobResponse> ResumeJob(
      const v1::ResumeJobRequest& request);
  // A read-only data-plane token for the job (psctl export with TLS).
  absl::StatusOr<v1::GetJobTokenResponse> GetJobToken(
      const std::string& job_id);
  // The job's recorded training curves, at most `max_points` (0: all).
  absl::StatusOr<v1::JobHistory> GetJobHistory(const std::string& job_id,
                                               int max_points = 0);
  // Members and their health.
  absl::StatusOr<v1::GetClusterResponse> GetCluster();

  // Follows the job: calls on_update with every version the coordinator
  // streams, until the job reaches a final state or `timeout` passes, and
  // returns the last version read (an empty Job when none was). Errors:
  // the stream's, e.g. DEADLINE_EXCEEDED after `timeout`, CANCELLED when the
  // context was cancelled. `on_context` (may be empty) receives the
  // stream's context before the first read, so that another thread can
  // TryCancel() it, and nullptr once that context is gone.
  absl::StatusOr<v1::Job> WatchJob(
      const std::string& job_id, absl::Duration timeout,
      const std::function<void(const v1::Job&)>& on_update,
      const std::function<void(grpc::ClientContext*)>& on_context = nullptr);

  // A worker's task. ReportProgress answers FAILED_PRECONDITION once the job
  // is no longer RUNNING; Barrier answers DEADLINE_EXCEEDED naming the
  // missing ranks.
  absl::Status ReportProgress(const v1::ReportProgressRequest& request);
  absl::Status Barrier(const v1::BarrierRequest& request);
  absl::Status CompleteTask(const v1::CompleteTaskRequest& request);
  // Servers of the job that `reporter` could not reach; the ids of those
  // the coordinator found dead.
  absl::StatusOr<std::vector<std::string>> ReportUnreachable(
      const std::string& job_id, const std::string& reporter,
      const std::vector<std::string>& server_ids);

 private:
  CoordinatorClient(std::unique_ptr<v1::Coordinator::Stub> stub,
                    CoordinatorClientOptions options)
      : stub_(std::move(stub)), options_(options) {}

  // Calls `method` with a deadline rpc_timeout (plus `extra`) from now.
  template <typename Response, typename Request>
  absl::StatusOr<Response> Call(
      grpc::Status (v1::Coordinator::Stub::*method)(grpc::ClientContext*,
                                                    const Request&, Response*),
      const Request& request, absl::Duration extra = absl::ZeroDuration());

  const std::unique_ptr<v1::Coordinator::Stub> stub_;
  const CoordinatorClientOptions options_;
};

}  // namespace ps::client

#endif  // PS_CLIENT_COORDINATOR_CLIENT_H_
