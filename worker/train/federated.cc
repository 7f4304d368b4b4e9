#include "worker/train/federated.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "worker/train/local_sgd.h"

namespace ps::worker {

std::vector<int> RoundClients(uint64_t seed, int64_t round, int num_workers,
                              float fraction) {
  const int m = std::clamp(
      static_cast<int>(std::lround(fraction * num_workers)), 1, num_workers);
  std::vector<int> ranks(num_workers);
  std::iota(ranks.begin(), ranks.end(), 0);
  std::mt19937_64 rng(seed * 1000003 + 0x9e3779b9 + round);
  std::shuffle(ranks.begin(), ranks.end(), rng);
  ranks.resize(m);
  std::sort(ranks.begin(), ranks.end());
  return ranks;
}

int64_t ShardSize(int64_t split_count, int rank, int num_workers) {
  return (rank + 1) * split_count / num_workers -
         rank * split_count / num_workers;
}

namespace {

// n * n_k / sum of the clients' n_j: the client's push is scaled by it so
// that the servers' mean over all n ranks weighs each client by n_k.
float ClientScale(const FederatedOptions& fed, int rank,
                  const std::vector<int>& clients) {
  int64_t sum = 0;
  for (int k : clients) sum += ShardSize(fed.split_count, k, fed.num_workers);
  const int64_t mine = ShardSize(fed.split_count, rank, fed.num_workers);
  if (sum == 0) return 0;
  return static_cast<float>(static_cast<double>(fed.num_workers) * mine / sum);
}

// Trains E local epochs over the whole shard from the model in *steps.
absl::Status LocalEpochs(const TrainerOptions& options,
                         const FederatedOptions& fed, const Examples& train,
                         int64_t round, LocalSteps* steps, BatchStats* window) {
  for (int e = 0; e < fed.local_epochs; ++e) {
    const std::vector<int64_t> order = EpochOrder(
        options.seed, options.rank,
        static_cast<int>(round * fed.local_epochs + e + 1), train.count);
    for (int64_t first = 0; first < train.count; first += options.batch_size) {
      const int64_t rows =
          std::min<int64_t>(options.batch_size, train.count - first);
      absl::Status s = steps->Step(order, first, rows, window);
      if (!s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status TrainFederated(const TrainerOptions& options,
                            const FederatedOptions& fed, const Examples& train,
                            Model* model, ParamStore* store, ProgressSink* sink,
                            const std::atomic<bool>* cancelled,
                            RoundObserver after_round) {
  const int64_t rounds = options.epochs;
  std::vector<float> params(model->num_params());
  const std::vector<float> zeros(model->num_params(), 0.0f);
  LocalSteps steps(train, model, options.batch_size, fed.learning_rate);
  auto clients_of = [&](int64_t r) {
    return RoundClients(options.seed, r, fed.num_workers, fed.client_fraction);
  };
  absl::Status trained = RunRoundLoop(
      options, rounds, sink, cancelled,
      [&](int64_t r, BatchStats* window,
          int* epoch) -> absl::StatusOr<int64_t> {
        *epoch = static_cast<int>(r) + 1;
        absl::StatusOr<int64_t> staleness = store->Pull(params.data(), r);
        if (!staleness.ok()) return staleness.status();
        if (r > 0) {
          absl::Status s = after_round(r, clients_of(r - 1), params.data());
          if (!s.ok()) return s;
        }
        const std::vector<int> clients = clients_of(r);
        if (!std::binary_search(clients.begin(), clients.end(), options.rank)) {
          absl::Status s = store->Push(zeros.data(), r);
          if (!s.ok()) return s;
          return staleness;
        }
        steps.Start(params.data());
        absl::Status s = LocalEpochs(options, fed, train, r, &steps, window);
        if (!s.ok()) return s;
        std::vector<float>& sum = steps.gradient_sum();
        const float scale = ClientScale(fed, options.rank, clients);
        if (scale != 1.0f) {
          for (float& g : sum) g *= scale;
        }
        s = store->Push(sum.data(), r);
        if (!s.ok()) return s;
        return staleness;
      });
  if (!trained.ok()) return trained;
  absl::StatusOr<int64_t> last = store->Pull(params.data(), rounds);
  if (!last.ok()) return last.status();
  return after_round(rounds, clients_of(rounds - 1), params.data());
}

}  // namespace ps::worker
