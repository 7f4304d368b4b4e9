// Where a task's parameters live. An interface so that the task runner is
// tested without parameter servers; ServerParamStores, the real one, reaches
// the job's servers through a PsClient.
#ifndef PS_WORKER_TASK_PARAM_STORES_H_
#define PS_WORKER_TASK_PARAM_STORES_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/statusor.h"
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

// The job's parameter servers, through task.partition_map(). A sparse store
// sends a step's push and the next step's pull together under ASP (see
// PsClient::PushAndPull).
class ServerParamStores : public ParamStores {
 public:
  // `refresh` (may be null): how a client finds the job's map after a
  // server failed (PsClientOptions::refresh_map); its arguments are the
  // job id and the servers the client could not reach.
  using RefreshFn = std::function<absl::StatusOr<v1::PartitionMap>(
      const std::string& job_id, const std::vector<std::string>& unreachable)>;
  explicit ServerParamStores(RefreshFn refresh = nullptr)
      : refresh_(std::move(refresh)) {}

  absl::StatusOr<std::unique_ptr<ParamStore>> ConnectDense(
      const v1::Task& task, const std::string& worker_id, int64_t num_params,
      const std::atomic<bool>* cancelled) override;
  absl::StatusOr<std::unique_ptr<SparseParamStore>> ConnectSparse(
      const v1::Task& task, const std::string& worker_id,
      const FlightsModel& model, const std::atomic<bool>* cancelled) override;

 private:
  client::PsClientOptions ClientOptions(const v1::Task& task,
                                        const std::string& worker_id,
                                        const std::atomic<bool>* cancelled);
  const RefreshFn refresh_;
};

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_PARAM_STORES_H_
