// Where a task's parameters live. An interface so that the task runner is
// tested without parameter servers; ServerParamStores, the real one, reaches
// the job's servers through a PsClient.
#ifndef PS_WORKER_TASK_PARAM_STORES_H_
#define PS_WORKER_TASK_PARAM_STORES_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <functional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "client/ps_client_options.h"
#include "proto/ps/v1/ps.pb.h"
#include "worker/model/flights_model.h"
#include "worker/train/sparse_trainer.h"
#include "worker/train/trainer.h"

namespace ps::worker {

// Connects a task to its job's tables. Thread-safe; the stores it returns
// are used by one task thread.
class ParamStores {
 public:
  virtual ~ParamStores() = default;

  // The job's tables as one flat buffer of `num_params` floats (a dense
  // model). `worker_id` names this worker to the servers; once *cancelled
  // (may be null) becomes true, a waiting call returns CANCELLED.
  // InvalidArgument when the tables do not add up to num_params.
  virtual absl::StatusOr<std::unique_ptr<ParamStore>> ConnectDense(
      const v1::Task& task, const std::string& worker_id, int64_t num_params,
      const std::atomic<bool>* cancelled) = 0;

  // The job's DENSE tables as one flat buffer and its SPARSE tables row by
  // row, as `model` lays them out. InvalidArgument when they do not match.
  virtual absl::StatusOr<std::unique_ptr<SparseParamStore>> ConnectSparse(
      const v1::Task& task, const std::string& worker_id,
      const FlightsModel& model, const std::atomic<bool>* cancelled) = 0;
};

struct ServerParamStoresOptions {
  // Longest a BSP or SSP pull waits for the other ranks, over its RPCs.
  absl::Duration pull_wait_limit = absl::Minutes(10);
  // Deadline of each data-plane RPC (client::PsClientOptions::rpc_timeout).
  absl::Duration rpc_timeout = absl::Seconds(30);
  // How a client finds the job's map after a server failed
  // (client::PsClientOptions::refresh_map): called with the job id and the
  // servers the client could not reach. Null: failures are returned.
  std::function<absl::StatusOr<v1::PartitionMap>(
      const std::string& job_id, const std::vector<std::string>& unreachable)>
      refresh;
  // The newest epoch of the job's map the worker has heard of (its
  // heartbeats); null: none (client::PsClientOptions::newest_epoch).
  const std::atomic<uint64_t>* newest_epoch = nullptr;
  // client::PsClientOptions::security and ::job_token.
  std::shared_ptr<const RpcSecurity> security;
  const client::JobTokenHolder* job_token = nullptr;
};

// The job's parameter servers, through task.partition_map(). A sparse store
// sends a step's push and the next step's pull together under ASP (see
// PsClient::PushAndPull). Pushes are numbered by clock
// (client::SeqNumbering::kByClock), so a worker that takes over a rank
// sends a step again under its predecessor's numbers. Under BSP and SSP a
// pull that times out waiting for other ranks is sent again, for up to
// pull_wait_limit in all: a rank whose worker was lost waits there until
// another worker takes it over (the coordinator fails the job past its
// --worker_replace_timeout, which drops the tables and ends the wait).
class ServerParamStores : public ParamStores {
 public:
  explicit ServerParamStores(ServerParamStoresOptions options = {})
      : options_(options) {}

  absl::StatusOr<std::unique_ptr<ParamStore>> ConnectDense(
      const v1::Task& task, const std::string& worker_id, int64_t num_params,
      const std::atomic<bool>* cancelled) override;
  absl::StatusOr<std::unique_ptr<SparseParamStore>> ConnectSparse(
      const v1::Task& task, const std::string& worker_id,
      const FlightsModel& model, const std::atomic<bool>* cancelled) override;

 private:
  const ServerParamStoresOptions options_;
};

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_PARAM_STORES_H_
