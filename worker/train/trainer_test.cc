#include "worker/train/trainer.h"

#include <random>

#include "gtest/gtest.h"
#include "worker/cpu/cpu_mlp.h"

namespace ps::worker {
namespace {

// The server side in miniature: values and plain SGD.
class InMemoryStore : public ParamStore {
 public:
  InMemoryStore(int64_t n, float lr) : values(n, 0.0f), lr_(lr) {}
  absl::StatusOr<int64_t> Pull(float* params, int64_t clock) override {
    if (fail_pulls) return absl::UnavailableError("server gone");
    EXPECT_EQ(clock, pulls) << "clock is the number of finished steps";
    std::copy(values.begin(), values.end(), params);
    ++pulls;
    return clock % 3;  // pretend staleness
  }
  absl::Status Push(const float* grads, int64_t clock) override {
    EXPECT_EQ(clock, pushes);
    for (size_t i = 0; i < values.size(); ++i) values[i] -= lr_ * grads[i];
    ++pushes;
    return absl::OkStatus();
  }
  std::vector<float> values;
  int pulls = 0, pushes = 0;
  bool fail_pulls = false;

 private:
  float lr_;
};

class RecordingSink : public ProgressSink {
 public:
  absl::Status Report(const Progress& p) override {
    reports.push_back(p);
    return stop_after && reports.size() >= stop_after
               ? absl::FailedPreconditionError("job is CANCELLED")
               : absl::OkStatus();
  }
  std::vector<Progress> reports;
  size_t stop_after = 0;
};

// Two Gaussian blobs in 4 dimensions, labels 0 and 1.
Examples Blobs(int n, uint64_t seed) {
  Examples e;
  e.count = n;
  e.dim = 4;
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0, 0.5f);
  for (int i = 0; i < n; ++i) {
    const int label = i % 2;
    for (int d = 0; d < 4; ++d)
      e.x.push_back((label ? 1.5f : -1.5f) + noise(rng));
    e.y.push_back(label);
  }
  return e;
}

TEST(TrainerTest, PullComputePushEveryStepAndLearns) {
  Examples data = Blobs(200, 1);
  auto model = CreateCpuMlp({4, 2}, 32);
  ASSERT_TRUE(model.ok());
  InMemoryStore store((*model)->num_params(), 0.5f);
  RecordingSink sink;
  TrainerOptions opt{.epochs = 3, .batch_size = 32, .report_every_steps = 5};
  ASSERT_TRUE(Train(opt, data, model->get(), &store, &sink, nullptr).ok());
  EXPECT_EQ(store.pulls, 3 * 7);  // ceil(200/32) = 7 steps per epoch
  EXPECT_EQ(store.pushes, 3 * 7);
  ASSERT_FALSE(sink.reports.empty());
  EXPECT_EQ(sink.reports.back().step, 21);
  EXPECT_EQ(sink.reports.back().total_steps, 21);
  EXPECT_EQ(sink.reports.back().epoch, 3);
  EXPECT_EQ(sink.reports.back().max_staleness, 2);
  EXPECT_GT(sink.reports.back().accuracy, 0.95);
  EXPECT_LT(sink.reports.back().loss, sink.reports.front().loss);
  int64_t examples = 0;  // the report windows cover every example once
  for (const Progress& p : sink.reports) examples += p.window_examples;
  EXPECT_EQ(examples, 3 * 200);
  auto stats = Evaluate(Blobs(100, 2), 16, store.values.data(), model->get());
  ASSERT_TRUE(stats.ok());
  EXPECT_EQ(stats->count, 100);
  EXPECT_GT(stats->correct, 95);
}

TEST(TrainerTest, ExamplesPerEpochLimitsSteps) {
  auto model = CreateCpuMlp({4, 2}, 8);
  InMemoryStore store((*model)->num_params(), 0.1f);
  RecordingSink sink;
  TrainerOptions opt{.epochs = 2, .batch_size = 8, .examples_per_epoch = 20};
  ASSERT_TRUE(
      Train(opt, Blobs(23, 1), model->get(), &store, &sink, nullptr).ok());
  EXPECT_EQ(store.pushes, 2 * 3);  // ceil(20 / 8) per epoch, not ceil(23 / 8)
}

TEST(TrainerTest, StoreFailureStopsTrainingWithItsStatus) {
  auto model = CreateCpuMlp({4, 2}, 8);
  InMemoryStore store((*model)->num_params(), 0.1f);
  store.fail_pulls = true;
  RecordingSink sink;
  absl::Status s = Train({.epochs = 1, .batch_size = 8}, Blobs(16, 1),
                         model->get(), &store, &sink, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kUnavailable);
}

TEST(TrainerTest, ZeroReportIntervalIsInvalidArgumentNotACrash) {
  auto model = CreateCpuMlp({4, 2}, 8);
  InMemoryStore store((*model)->num_params(), 0.1f);
  RecordingSink sink;
  absl::Status s =
      Train({.epochs = 1, .batch_size = 8, .report_every_steps = 0},
            Blobs(16, 1), model->get(), &store, &sink, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("report_every_steps: 0"), std::string::npos);
}

TEST(TrainerTest, SinkErrorOrCancelFlagStopsTraining) {
  auto model = CreateCpuMlp({4, 2}, 8);
  InMemoryStore store((*model)->num_params(), 0.1f);
  RecordingSink sink;
  sink.stop_after = 2;
  TrainerOptions opt{.epochs = 10, .batch_size = 8, .report_every_steps = 1};
  absl::Status s =
      Train(opt, Blobs(64, 1), model->get(), &store, &sink, nullptr);
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_EQ(store.pushes, 2);

  std::atomic<bool> cancelled{true};
  s = Train(opt, Blobs(64, 1), model->get(), &store, &sink, &cancelled);
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled);
}

TEST(TrainerTest, SameSeedGivesSameResult) {
  std::vector<float> runs[2];
  for (auto& out : runs) {
    auto model = CreateCpuMlp({4, 3, 2}, 8);
    InMemoryStore store((*model)->num_params(), 0.1f);
    for (size_t i = 0; i < store.values.size(); ++i)
      store.values[i] = 0.01f * (i % 7);
    RecordingSink sink;
    ASSERT_TRUE(Train({.epochs = 2, .batch_size = 8, .seed = 5}, Blobs(40, 3),
                      model->get(), &store, &sink, nullptr)
                    .ok());
    out = store.values;
  }
  EXPECT_EQ(runs[0], runs[1]);
}

}  // namespace
}  // namespace ps::worker
