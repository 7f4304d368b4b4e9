#include "worker/task/param_stores.h"

#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/ps_client.h"

namespace ps::worker {
namespace {

// Whether pulls of `task` wait on the servers for the other ranks.
bool PullsWait(const v1::Task& task) {
  const v1::Consistency mode = task.spec().training().consistency();
  return mode == v1::BSP || mode == v1::SSP;
}

// Runs `pull` again while it ends DEADLINE_EXCEEDED (each try is bounded
// by the client's RPC deadline), up to `limit` after the first try: a BSP
// or SSP pull waits there for a rank whose worker was lost until another
// takes the rank over. A cancelled task's pull returns CANCELLED, and a job
// that failed meanwhile has its tables dropped (ABORTED), so the retries
// end with the job.
template <typename Pull>
absl::StatusOr<int64_t> PullPatiently(bool waits, absl::Duration limit,
                                      Pull pull) {
  const absl::Time deadline = absl::Now() + limit;
  for (int tries = 1;; ++tries) {
    absl::StatusOr<int64_t> pulled = pull();
    if (!waits || !absl::IsDeadlineExceeded(pulled.status())) return pulled;
    if (absl::Now() >= deadline) {
      // The last try's message names whom it waited for.
      return absl::DeadlineExceededError(
          absl::StrCat("waited ", absl::FormatDuration(limit), " (", tries,
                       " pulls) for the other ranks: ",
                       pulled.status().message()));
    }
  }
}

client::PsClientOptions ClientOptions(const v1::Task& task,
                                      const std::string& worker_id,
                                      const std::atomic<bool>* cancelled,
                                      const ServerParamStoresOptions& o) {
  // Clock-derived sequence numbers: a worker that takes over this rank
  // sends a step again under the same numbers (see Task.resume_step), and
  // a push sent again after a failover keeps its numbers too.
  client::PsClientOptions options{
      .worker_id = worker_id,
      .seq_numbering = client::SeqNumbering::kByClock,
      .rpc_timeout = o.rpc_timeout,
      .cancelled = cancelled};
  options.newest_epoch = o.newest_epoch;
  options.security = o.security;
  options.job_token = o.job_token;
  options.compression = task.spec().training().compression();
  if (o.refresh) {
    options.refresh_map = [refresh = o.refresh, job = task.job_id()](
                              uint64_t, const std::vector<std::string>& ids) {
      return refresh(job, ids);
    };
  }
  return options;
}

// The job's tables as one flat buffer on the servers.
class ServerParamStore : public ParamStore {
 public:
  // `wait_limit`: how long a pull may wait for other ranks (PullPatiently);
  // 0 when the job's pulls do not wait.
  ServerParamStore(std::unique_ptr<client::PsClient> client,
                   std::vector<client::TableRef> refs,
                   absl::Duration wait_limit)
      : client_(std::move(client)),
        refs_(std::move(refs)),
        wait_limit_(wait_limit) {}
  absl::StatusOr<int64_t> Pull(float* params, int64_t clock) override {
    return PullPatiently(wait_limit_ > absl::ZeroDuration(), wait_limit_,
                         [&]() -> absl::StatusOr<int64_t> {
                           int64_t staleness = 0;
                           absl::Status s =
                               client_->Pull(refs_, params, clock, &staleness);
                           if (!s.ok()) return s;
                           return staleness;
                         });
  }
  absl::Status Push(const float* grads, int64_t clock) override {
    return client_->Push(refs_, grads, clock);
  }

 private:
  std::unique_ptr<client::PsClient> client_;
  std::vector<client::TableRef> refs_;
  const absl::Duration wait_limit_;
};

// A sparse model's tables on the servers: the DENSE tables as one flat
// buffer, the sparse ones row by row.
class ServerSparseParamStore : public SparseParamStore {
 public:
  // `overlap`: send a step's push and the next step's pull together (ASP
  // only; see PsClient::PushAndPull).
  // `wait_limit` as for ServerParamStore.
  ServerSparseParamStore(std::unique_ptr<client::PsClient> client,
                         std::vector<client::TableRef> dense, bool overlap,
                         absl::Duration wait_limit)
      : client_(std::move(client)),
        dense_(std::move(dense)),
        overlap_(overlap),
        wait_limit_(wait_limit) {}
  absl::StatusOr<int64_t> Pull(float* dense, std::vector<SparseBlock>* blocks,
                               int64_t clock) override {
    return PullPatiently(wait_limit_ > absl::ZeroDuration(), wait_limit_,
                         [&]() -> absl::StatusOr<int64_t> {
                           int64_t staleness = 0;
                           absl::Status s =
                               client_->Pull(dense_, dense, PullRefs(blocks),
                                             clock, &staleness);
                           if (!s.ok()) return s;
                           return staleness;
                         });
  }
  absl::Status Push(const float* dense_grads,
                    const std::vector<SparseBlock>& blocks,
                    int64_t clock) override {
    return client_->Push(dense_, dense_grads, PushRefs(blocks), clock);
  }
  absl::StatusOr<int64_t> PushAndPull(
      const float* dense_grads, const std::vector<SparseBlock>& push_blocks,
      int64_t push_clock, float* dense, std::vector<SparseBlock>* pull_blocks,
      int64_t pull_clock) override {
    if (!overlap_) {
      return SparseParamStore::PushAndPull(dense_grads, push_blocks, push_clock,
                                           dense, pull_blocks, pull_clock);
    }
    int64_t staleness = 0;
    absl::Status s = client_->PushAndPull(
        dense_, dense_grads, PushRefs(push_blocks), push_clock, dense_, dense,
        PullRefs(pull_blocks), pull_clock, &staleness);
    if (!s.ok()) return s;
    return staleness;
  }

 private:
  // The blocks as the client's refs, in buffers reused from call to call.
  const std::vector<client::SparsePullRef>& PullRefs(
      std::vector<SparseBlock>* blocks) {
    pull_refs_.clear();
    for (SparseBlock& b : *blocks) {
      pull_refs_.push_back({b.table, b.keys, b.values.data()});
    }
    return pull_refs_;
  }
  const std::vector<client::SparsePushRef>& PushRefs(
      const std::vector<SparseBlock>& blocks) {
    push_refs_.clear();
    for (const SparseBlock& b : blocks) {
      push_refs_.push_back({b.table, b.keys, b.values.data()});
    }
    return push_refs_;
  }

  std::unique_ptr<client::PsClient> client_;
  std::vector<client::TableRef> dense_;
  const bool overlap_;
  const absl::Duration wait_limit_;
  std::vector<client::SparsePullRef> pull_refs_;
  std::vector<client::SparsePushRef> push_refs_;
};

}  // namespace

absl::StatusOr<std::unique_ptr<ParamStore>> ServerParamStores::ConnectDense(
    const v1::Task& task, const std::string& worker_id, int64_t num_params,
    const std::atomic<bool>* cancelled) {
  std::vector<client::TableRef> refs;
  int64_t offset = 0;
  for (const v1::TableDef& t : task.partition_map().tables()) {
    refs.push_back({t.name(), 0, t.size(), offset});
    offset += t.size();
  }
  if (offset != num_params) {
    return absl::InvalidArgumentError(
        absl::StrCat("the job's tables hold ", offset,
                     " values but the model has ", num_params, " parameters"));
  }
  absl::StatusOr<std::unique_ptr<client::PsClient>> client =
      client::PsClient::Create(
          task.job_id(), task.partition_map(),
          ClientOptions(task, worker_id, cancelled, options_));
  if (!client.ok()) return client.status();
  return std::make_unique<ServerParamStore>(
      *std::move(client), std::move(refs),
      PullsWait(task) ? options_.pull_wait_limit : absl::ZeroDuration());
}

absl::StatusOr<std::unique_ptr<SparseParamStore>>
ServerParamStores::ConnectSparse(const v1::Task& task,
                                 const std::string& worker_id,
                                 const FlightsModel& model,
                                 const std::atomic<bool>* cancelled) {
  std::vector<client::TableRef> dense;
  int64_t offset = 0;
  std::vector<int64_t> sparse_dims;
  for (const v1::TableDef& t : task.partition_map().tables()) {
    if (t.kind() == v1::SPARSE) {
      sparse_dims.push_back(t.dim());
      continue;
    }
    dense.push_back({t.name(), 0, t.size(), offset});
    offset += t.size();
  }
  if (offset != model.num_dense() || sparse_dims != model.table_dims()) {
    return absl::InvalidArgumentError(
        absl::StrCat("the job's tables hold ", offset, " dense values and ",
                     sparse_dims.size(), " sparse tables but the model has ",
                     model.num_dense(), " dense parameters and ",
                     model.table_dims().size(), " sparse tables"));
  }
  absl::StatusOr<std::unique_ptr<client::PsClient>> client =
      client::PsClient::Create(
          task.job_id(), task.partition_map(),
          ClientOptions(task, worker_id, cancelled, options_));
  if (!client.ok()) return client.status();
  const bool waits = PullsWait(task);
  return std::make_unique<ServerSparseParamStore>(
      *std::move(client), std::move(dense), /*overlap=*/!waits,
      waits ? options_.pull_wait_limit : absl::ZeroDuration());
}

}  // namespace ps::worker
