// gRPC adapter for the ParameterServer service: unpacks the request, calls the
// TableStore, converts the status. No logic of its own.
//
// Pull and Push, the data plane, are raw callback methods: they take the
// request as the slices it arrived in and answer with bytes, so that values
// are copied at most once per direction (server/wire_format.h; how a pull's
// answer is built is server/pull_answer.h). When a pull is answered, and
// where it waits for its job's clocks, is PullScheduler's policy
// (server/pull_scheduler.h). The control-plane methods are ordinary
// synchronous handlers.
#ifndef PS_SERVER_PS_SERVICE_H_
#define PS_SERVER_PS_SERVICE_H_

#include "absl/time/time.h"
#include "common/rpc_security.h"
#include "common/stream_watchdog.h"
#include "proto/ps/v1/ps.grpc.pb.h"
#include "server/checkpoint_gate.h"
#include "server/data_plane_call.h"
#include "server/forwarder.h"
#include "server/pull_scheduler.h"
#include "server/server_metrics.h"
#include "server/table_store.h"

namespace ps::server {

struct ParsedPush;  // ps_service.cc

using RawDataPlaneService = v1::ParameterServer::WithRawCallbackMethod_Pull<
    v1::ParameterServer::WithRawCallbackMethod_Push<
        v1::ParameterServer::WithRawCallbackMethod_Replicate<
            v1::ParameterServer::Service>>>;
// The methods RawDataPlaneService makes raw, as paths: their handlers take
// grpc::ByteBuffer, and PsService records their RPC metrics itself
// (server/data_plane_call.h), so StartServer must run no interceptor on
// them (ServerMetrics::raw_methods and self_recorded in common/rpc.h). Keep
// the two in step.
std::vector<std::string> RawDataPlaneMethods();

// How a server in a cluster takes part in replication.
struct ReplicationOptions {
  // False while this server's lease with the coordinator may have lapsed:
  // it may have been declared dead and replaced, so it answers no pull or
  // push (UNAVAILABLE) until a heartbeat succeeds. Unset: always serving.
  std::function<bool()> serving;
  // Reports a backup this server could not forward to (Forwarder).
  Forwarder::ReportFn report_unreachable;
  // The channels to other servers. With TLS, every Pull, Push and ScanRows
  // must also carry a token of its job (common/job_token.h) that the job's
  // key (CreateTablesRequest.job_key) verifies. Null: plaintext, no tokens.
  std::shared_ptr<const RpcSecurity> security;
};

// The server must be shut down before the service is destroyed.
class PsService final : public RawDataPlaneService {
 public:
  // `max_waiting_pulls`: most pulls waiting at once (see kMaxWaitingPulls).
  // `stream_stall_limit`: a ScanRows whose client reads nothing for this
  // long is cancelled (see StreamWatchdog). `metrics` (not owned; null:
  // none) records pushes, pulls, forwards, copies and checkpoints, and the
  // RPC metrics of Pull, Push and Replicate.
  explicit PsService(TableStore* store,
                     int max_waiting_pulls = kMaxWaitingPulls,
                     absl::Duration stream_stall_limit = ps::kStreamStallLimit,
                     ReplicationOptions replication = {},
                     ServerMetrics* metrics = nullptr)
      : store_(store),
        metrics_(metrics),
        pulls_({.max_waiting_pulls = max_waiting_pulls}),
        streams_(stream_stall_limit),
        serving_(std::move(replication.serving)),
        security_(replication.security),
        forwarder_(std::move(replication.report_unreachable),
                   replication.security) {}

  grpc::Status CreateTables(grpc::ServerContext* ctx,
                            const v1::CreateTablesRequest* request,
                            v1::CreateTablesResponse* response) override;
  grpc::Status DropTables(grpc::ServerContext* ctx,
                          const v1::DropTablesRequest* request,
                          v1::DropTablesResponse* response) override;
  // Request: a serialised PullRequest; response: a serialised PullResponse.
  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* ctx,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;
  // Request: a serialised PushRequest; response: a serialised PushResponse.
  // A push of an ordered group is numbered, forwarded to the group's
  // backups, and applied and answered once they all have it, in number
  // order (server/op_order.h, server/forwarder.h).
  grpc::ServerUnaryReactor* Push(grpc::CallbackServerContext* ctx,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override;
  // A push forwarded by a group's primary; applied in replica_op order.
  // FAILED_PRECONDITION: this server leads the group now (the sender was
  // replaced); UNAVAILABLE: the two are at different epochs (the one behind
  // has not heard from the coordinator yet): try again.
  grpc::ServerUnaryReactor* Replicate(grpc::CallbackServerContext* ctx,
                                      const grpc::ByteBuffer* request,
                                      grpc::ByteBuffer* response) override;
  // The group's state (TableStore::SnapshotGroup) in chunks of 4 MiB.
  grpc::Status ReadSnapshot(grpc::ServerContext* ctx,
                            const v1::ReadSnapshotRequest* request,
                            grpc::ServerWriter<v1::SnapshotChunk>* writer)
      override;
  // Copies an ordered group this server leads to request.target (created
  // JOINING there): adds the target as a backup at a point of the group's
  // order, snapshots the group at that point and streams it
  // (InstallSnapshot); answers once the target has installed it.
  grpc::Status CopyGroup(grpc::ServerContext* ctx,
                         const v1::CopyGroupRequest* request,
                         v1::CopyGroupResponse* response) override;
  grpc::Status InstallSnapshot(grpc::ServerContext* ctx,
                               grpc::ServerReader<v1::SnapshotChunk>* reader,
                               v1::InstallSnapshotResponse* response) override;
  grpc::Status SetReplicas(grpc::ServerContext* ctx,
                           const v1::SetReplicasRequest* request,
                           v1::SetReplicasResponse* response) override;
  grpc::Status SealTables(grpc::ServerContext* ctx,
                          const v1::SealTablesRequest* request,
                          v1::SealTablesResponse* response) override;
  grpc::Status ServerStatus(grpc::ServerContext* ctx,
                            const v1::ServerStatusRequest* request,
                            v1::ServerStatusResponse* response) override;
  // Streams blocks of about 1 MiB.
  grpc::Status ScanRows(grpc::ServerContext* ctx,
                        const v1::ScanRowsRequest* request,
                        grpc::ServerWriter<v1::RowBlock>* writer) override;

  const StreamWatchdog& streams() const { return streams_; }

  // Checkpoints (ps_service_checkpoint.cc). WriteCheckpoint: a primary
  // holds the group's pushes of steps >= at_clock (CheckpointGate), waits
  // until every rank has finished exactly at_clock steps on the group,
  // snapshots it, lets the pushes go on, and writes the snapshot durably
  // to request.path. FAILED_PRECONDITION: not the group's primary at that
  // epoch, another checkpoint of the group in progress, or a rank already
  // past at_clock (ask again at a later clock); DEADLINE_EXCEEDED naming
  // the ranks that did not get there.
  grpc::Status WriteCheckpoint(grpc::ServerContext* ctx,
                               const v1::WriteCheckpointRequest* request,
                               v1::WriteCheckpointResponse* response) override;
  // Loads a new group (of a resumed job, before its workers start) from the
  // checkpoint's files, re-partitioned when the maps differ
  // (server/repartition.h). Errors name the file and what is wrong;
  // nothing is changed on any error.
  grpc::Status LoadCheckpoint(grpc::ServerContext* ctx,
                              const v1::LoadCheckpointRequest* request,
                              v1::LoadCheckpointResponse* response) override;

 private:
  // UNAVAILABLE while this server may have lost its lease.
  absl::Status CheckServing() const;
  // With TLS: the call's "ps-job-token" grants `worker_id` (a push's; empty
  // for reads) `write` access to the job whose key is `job_key`
  // (CheckJobToken). Without TLS: OK.
  absl::Status CheckToken(const grpc::ServerContextBase& ctx,
                          const std::string& job_id,
                          const std::string& job_key, bool ended,
                          const std::string& worker_id, bool write) const;
  // The rest of Push once the push may go on (not held by a checkpoint).
  void ContinuePush(std::shared_ptr<ParsedPush> push, DataPlaneCall call,
                    grpc::ByteBuffer* response);
  // WriteCheckpoint's wait for the cut: OK once every rank has finished
  // exactly at_clock steps on the group.
  absl::Status AwaitCut(const GroupHandle& group, int64_t at_clock,
                        absl::Time deadline) const;

  TableStore* store_;       // not owned
  ServerMetrics* const metrics_;  // not owned; may be null
  PullScheduler pulls_;     // pulls waiting on their job's clocks
  StreamWatchdog streams_;  // ScanRows writes
  const std::function<bool()> serving_;
  const std::shared_ptr<const RpcSecurity> security_;  // may be null
  Forwarder forwarder_;
  CheckpointGate checkpoints_;
};

}  // namespace ps::server

#endif  // PS_SERVER_PS_SERVICE_H_
