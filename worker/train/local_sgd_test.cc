// The learning modes' equalities, over an in-memory BSP store: local SGD
// with K = 1 is BSP SGD bit for bit, uniform mixing is plain averaging up
// to float rounding, and FedAvg with every client is local SGD over its
// epochs bit for bit.
#include "worker/train/local_sgd.h"

#include <functional>
#include <random>
#include <thread>

#include "gtest/gtest.h"
#include "worker/cpu/cpu_mlp.h"
#include "worker/train/bsp_memory_store.h"
#include "worker/train/federated.h"

namespace ps::worker {
namespace {

class NullSink : public ProgressSink {
 public:
  absl::Status Report(const Progress& p) override {
    reports.push_back(p);
    return absl::OkStatus();
  }
  std::vector<Progress> reports;
};

// Three Gaussian blobs in 4 dimensions; rank r of n gets rows r, r+n, ...
Examples Shard(int n_total, int rank, int ranks) {
  Examples e;
  e.dim = 4;
  std::mt19937 rng(11);
  std::normal_distribution<float> noise(0, 0.7f);
  for (int i = 0; i < n_total; ++i) {
    const int label = i % 3;
    float x[4];
    for (float& v : x) v = (label - 1) * 1.2f + noise(rng);
    if (i % ranks != rank) continue;
    e.x.insert(e.x.end(), x, x + 4);
    e.y.push_back(label);
    ++e.count;
  }
  e.split_count = n_total;
  return e;
}

constexpr float kLr = 0.2f;
const std::vector<int64_t> kLayers = {4, 5, 3};

std::vector<float> InitialParams(int64_t n) {
  std::vector<float> v(n);
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> init(-0.3f, 0.3f);
  for (float& x : v) x = init(rng);
  return v;
}

// Runs `train(rank, model, store, sink)` on `ranks` threads over a BSP table
// of `copies` copies of the model; returns the table's final values.
std::vector<float> RunRanks(
    int ranks, int copies,
    std::function<absl::Status(int, Model*, ParamStore*, ProgressSink*)>
        train) {
  const int64_t p = (*CreateCpuMlp(kLayers, 16))->num_params();
  std::vector<float> init;
  for (int c = 0; c < copies; ++c) {
    std::vector<float> one = InitialParams(p);
    init.insert(init.end(), one.begin(), one.end());
  }
  BspMemoryTable table(init, ranks, kLr);
  std::vector<std::thread> threads;
  std::vector<absl::Status> results(ranks);
  for (int r = 0; r < ranks; ++r) {
    threads.emplace_back([&, r] {
      auto model = CreateCpuMlp(kLayers, 16);
      std::unique_ptr<ParamStore> store = table.Rank(r);
      NullSink sink;
      results[r] = model.ok() ? train(r, model->get(), store.get(), &sink)
                              : model.status();
    });
  }
  for (std::thread& t : threads) t.join();
  for (const absl::Status& s : results) EXPECT_TRUE(s.ok()) << s;
  return table.values();
}

TrainerOptions Options(int rank, int epochs) {
  return TrainerOptions{
      .epochs = epochs, .batch_size = 8, .seed = 5, .rank = rank};
}

TEST(LocalSgdTest, OneLocalStepIsBspSgdBitForBit) {
  constexpr int kRanks = 3;
  std::vector<float> bsp = RunRanks(
      kRanks, 1, [](int r, Model* m, ParamStore* s, ProgressSink* sink) {
        return Train(Options(r, 2), Shard(150, r, kRanks), m, s, sink, nullptr);
      });
  std::vector<float> local = RunRanks(
      kRanks, 1, [](int r, Model* m, ParamStore* s, ProgressSink* sink) {
        LocalSgdOptions l{.local_steps = 1, .learning_rate = kLr};
        return TrainLocalSgd(Options(r, 2), l, Shard(150, r, kRanks), m, s,
                             sink, nullptr);
      });
  EXPECT_EQ(bsp, local);
  EXPECT_NE(bsp, InitialParams(bsp.size()));
}

// Mean of the `copies` copies in `values`.
std::vector<float> MeanOfCopies(const std::vector<float>& values, int copies) {
  const size_t p = values.size() / copies;
  std::vector<float> mean(p, 0.0f);
  for (int c = 0; c < copies; ++c) {
    for (size_t i = 0; i < p; ++i) mean[i] += values[c * p + i];
  }
  for (float& v : mean) v /= copies;
  return mean;
}

// Uniform W gives every rank the mean of the local models, as the servers'
// BSP mean does; the two differ by float rounding only: the mixed model is
// sum_j (1/3) theta_j computed on the worker, and each copy is written
// through the server as copy - lr * (3 (copy - theta') / lr) / 3.
TEST(LocalSgdTest, UniformMixingEqualsAveraging) {
  constexpr int kRanks = 3;
  const float third = 1.0f / 3;
  LocalSgdOptions mixing{.local_steps = 4,
                         .learning_rate = kLr,
                         .mixing = std::vector<float>(9, third),
                         .num_workers = kRanks};
  std::vector<float> averaged = RunRanks(
      kRanks, 1, [](int r, Model* m, ParamStore* s, ProgressSink* sink) {
        LocalSgdOptions l{.local_steps = 4, .learning_rate = kLr};
        return TrainLocalSgd(Options(r, 3), l, Shard(150, r, kRanks), m, s,
                             sink, nullptr);
      });
  std::vector<float> mixed = RunRanks(
      kRanks, kRanks, [&](int r, Model* m, ParamStore* s, ProgressSink* sink) {
        return TrainLocalSgd(Options(r, 3), mixing, Shard(150, r, kRanks), m, s,
                             sink, nullptr);
      });
  // Rank i's final model is the mix of the last copies, the mean here.
  std::vector<float> mean = MeanOfCopies(mixed, kRanks);
  ASSERT_EQ(mean.size(), averaged.size());
  float worst = 0;
  for (size_t i = 0; i < mean.size(); ++i) {
    worst = std::max(worst, std::abs(mean[i] - averaged[i]));
  }
  EXPECT_LT(worst, 1e-6f) << worst;  // measured 1.5e-7, about one ulp
  EXPECT_NE(averaged, InitialParams(averaged.size()));
}

// With an identity W no rank hears of the others: each copy is what its
// rank trained alone.
TEST(LocalSgdTest, IdentityMixingKeepsRanksApart) {
  constexpr int kRanks = 2;
  LocalSgdOptions mixing{.local_steps = 3,
                         .learning_rate = kLr,
                         .mixing = {1, 0, 0, 1},
                         .num_workers = kRanks};
  std::vector<float> mixed = RunRanks(
      kRanks, kRanks, [&](int r, Model* m, ParamStore* s, ProgressSink* sink) {
        return TrainLocalSgd(Options(r, 2), mixing, Shard(60, r, kRanks), m, s,
                             sink, nullptr);
      });
  std::vector<float> alone =
      RunRanks(1, 1, [](int, Model* m, ParamStore* s, ProgressSink* sink) {
        LocalSgdOptions l{.local_steps = 1000, .learning_rate = kLr};
        return TrainLocalSgd(Options(1, 2), l, Shard(60, 1, kRanks), m, s, sink,
                             nullptr);
      });
  const size_t p = alone.size();
  for (size_t i = 0; i < p; ++i) {
    EXPECT_NEAR(mixed[p + i], alone[i], 1e-5f) << i;
  }
}

TEST(LocalSgdTest, RoundsAreReportedAsSteps) {
  NullSink sink;
  auto model = CreateCpuMlp(kLayers, 16);
  BspMemoryTable table(InitialParams((*model)->num_params()), 1, kLr);
  std::unique_ptr<ParamStore> store = table.Rank(0);
  TrainerOptions o = Options(0, 2);
  o.report_every_steps = 2;
  LocalSgdOptions l{.local_steps = 3, .learning_rate = kLr};
  // 40 rows of batch 8: 5 steps an epoch, 10 in all, 4 rounds of 3, 3, 3, 1.
  ASSERT_TRUE(TrainLocalSgd(o, l, Shard(40, 0, 1), model->get(), store.get(),
                            &sink, nullptr)
                  .ok());
  ASSERT_EQ(sink.reports.size(), 2u);
  EXPECT_EQ(sink.reports.back().step, 4);
  EXPECT_EQ(sink.reports.back().total_steps, 4);
  EXPECT_EQ(sink.reports.back().epoch, 2);
}

TEST(FederatedTest, RoundClientsAreDeterministicAndSized) {
  EXPECT_EQ(RoundClients(1, 0, 10, 0.3f), RoundClients(1, 0, 10, 0.3f));
  EXPECT_EQ(RoundClients(1, 0, 10, 0.3f).size(), 3u);
  EXPECT_EQ(RoundClients(1, 0, 10, 0.01f).size(), 1u);
  EXPECT_EQ(RoundClients(1, 0, 4, 1.0f), (std::vector<int>{0, 1, 2, 3}));
  bool differ = false;
  for (int r = 1; r < 10; ++r) {
    differ |= RoundClients(1, r, 10, 0.3f) != RoundClients(1, 0, 10, 0.3f);
  }
  EXPECT_TRUE(differ);
  EXPECT_EQ(ShardSize(10, 0, 3) + ShardSize(10, 1, 3) + ShardSize(10, 2, 3),
            10);
}

// With C = 1 and equal shards each client's scale is exactly 1, and E
// local epochs a round are local SGD with K = E epochs of steps.
TEST(FederatedTest, AllClientsEqualLocalSgdOverTheirEpochs) {
  constexpr int kRanks = 2;
  // 80 rows: 40 a rank, 5 steps of 8 an epoch.
  std::vector<float> local = RunRanks(
      kRanks, 1, [](int r, Model* m, ParamStore* s, ProgressSink* sink) {
        LocalSgdOptions l{.local_steps = 2 * 5, .learning_rate = kLr};
        return TrainLocalSgd(Options(r, 3 * 2), l, Shard(80, r, kRanks), m, s,
                             sink, nullptr);
      });
  std::vector<std::vector<int64_t>> seen(kRanks);
  std::vector<float> fed = RunRanks(
      kRanks, 1, [&](int r, Model* m, ParamStore* s, ProgressSink* sink) {
        FederatedOptions f{.client_fraction = 1,
                           .local_epochs = 2,
                           .learning_rate = kLr,
                           .num_workers = kRanks,
                           .split_count = 80};
        return TrainFederated(
            Options(r, 3), f, Shard(80, r, kRanks), m, s, sink, nullptr,
            [&](int64_t round, const std::vector<int>& clients, const float*) {
              EXPECT_EQ(clients.size(), 2u);
              seen[r].push_back(round);
              return absl::OkStatus();
            });
      });
  EXPECT_EQ(fed, local);
  EXPECT_EQ(seen[0], (std::vector<int64_t>{1, 2, 3}));
}

// Clients weighted by examples: one client a round whose model becomes the
// global model (weight n * n_k / n_k = n against the others' zeros; with
// n = 4 the scaling is exact, so bit for bit).
TEST(FederatedTest, OneClientARoundSetsTheGlobalModel) {
  constexpr int kRanks = 4;
  std::vector<std::vector<float>> after(kRanks);
  std::vector<int> clients_of_round1;
  RunRanks(kRanks, 1, [&](int r, Model* m, ParamStore* s, ProgressSink* sink) {
    FederatedOptions f{.client_fraction = 0.25f,
                       .local_epochs = 1,
                       .learning_rate = kLr,
                       .num_workers = kRanks,
                       .split_count = 120};
    return TrainFederated(
        Options(r, 1), f, Shard(120, r, kRanks), m, s, sink, nullptr,
        [&](int64_t, const std::vector<int>& clients, const float* params) {
          after[r].assign(params, params + m->num_params());
          if (r == 0) clients_of_round1 = clients;
          return absl::OkStatus();
        });
  });
  ASSERT_EQ(clients_of_round1.size(), 1u);
  const int k = clients_of_round1[0];
  // The client's own local model, trained alone from the same start over
  // the same data order (one epoch as one round of local SGD).
  std::vector<float> alone =
      RunRanks(1, 1, [&](int, Model* m, ParamStore* s, ProgressSink* sink) {
        LocalSgdOptions l{.local_steps = 1000, .learning_rate = kLr};
        return TrainLocalSgd(Options(k, 1), l, Shard(120, k, kRanks), m, s,
                             sink, nullptr);
      });
  for (int r = 0; r < kRanks; ++r) EXPECT_EQ(after[r], after[0]);
  ASSERT_EQ(after[0].size(), alone.size());
  EXPECT_EQ(after[0], alone);
}

}  // namespace
}  // namespace ps::worker
