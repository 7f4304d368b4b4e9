// Federated averaging (FedAvg, McMahan et al. 2017) over a ParamStore
// under BSP (docs/design.md, "Learning modes"): each round a fraction of the
// ranks (the round's clients) train local epochs on their own shard with
// plain SGD, and the servers' mean of the pushes is the average of their
// models weighted by example count.
#ifndef PS_WORKER_TRAIN_FEDERATED_H_
#define PS_WORKER_TRAIN_FEDERATED_H_

#include <atomic>
#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "worker/data/fashion_mnist.h"
#include "worker/model/model.h"
#include "worker/train/trainer.h"

namespace ps::worker {

struct FederatedOptions {
  float client_fraction = 1;   // C, in (0, 1]
  int local_epochs = 1;        // E, >= 1
  float learning_rate = 0.1f;  // of the local plain-SGD steps
  int num_workers = 1;
  // Training rows over all ranks; with ShardSize() every rank knows every
  // client's example count.
  int64_t split_count = 0;
};

// The clients of `round` (0-based): max(1, round(C * n)) ranks of [0, n),
// the first of a shuffle seeded from (seed, round), ascending. Every rank
// computes the same set.
std::vector<int> RoundClients(uint64_t seed, int64_t round, int num_workers,
                              float fraction);

// Rows of rank `rank`'s shard of a split of `split_count` rows over
// `num_workers` ranks: [r*N/n, (r+1)*N/n).
int64_t ShardSize(int64_t split_count, int rank, int num_workers);

// Called with the global model after round `round` (1-based: rounds done)
// and that round's clients; a non-OK status stops training with it.
using RoundObserver = absl::FunctionRef<absl::Status(
    int64_t round, const std::vector<int>& clients, const float* params)>;

// options.epochs rounds, from round options.first_step. In round r every
// rank pulls at clock r (and reports the model to `after_round` as round
// r's predecessor's result, from r >= 1); a client trains
// fed.local_epochs epochs over its whole shard (each shuffled as Train()
// shuffles epoch r * E + e + 1) and pushes its gradient sum scaled by
// n * n_k / sum over the clients of n_j; the others push zeros. So with
// server SGD at the same rate the new model is sum_k (n_k / N) theta_k. After
// the last round it pulls at clock options.epochs and reports that round.
absl::Status TrainFederated(const TrainerOptions& options,
                            const FederatedOptions& fed, const Examples& train,
                            Model* model, ParamStore* store, ProgressSink* sink,
                            const std::atomic<bool>* cancelled,
                            RoundObserver after_round);

}  // namespace ps::worker

#endif  // PS_WORKER_TRAIN_FEDERATED_H_
