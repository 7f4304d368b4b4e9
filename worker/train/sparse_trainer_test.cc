#include "worker/train/sparse_trainer.h"

#include <atomic>
#include <cmath>
#include <cstdint>
#include <map>
#include <memory>
#include <numeric>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "common/auc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/model/flights_model.h"
#include "worker/model/flights_model_testing.h"
#include "worker/train/in_memory_sparse_store.h"

namespace ps::worker {
namespace {

using ::testing::HasSubstr;
using ::testing::SizeIs;

constexpr int kSlots = 3;
constexpr int kVocabulary = 100;  // Values per slot.

// Slot f of an example holds key f * 1000 + v, v uniform in [0, 100). With
// kSeparable the label is v0 < 50: one slot decides, so a linear model on
// the keys separates it. With kXor it is (v0 < 50) != (v1 < 50), which no
// sum of per-key weights can fit, but the deep part can.
enum class Labels { kSeparable, kXor };

FlightFeatures SyntheticData(int64_t count, Labels labels, uint32_t seed) {
  std::mt19937 rng(seed);
  std::uniform_int_distribution<int> value(0, kVocabulary - 1);
  FlightFeatures data;
  data.count = count;
  data.slots = kSlots;
  data.num_bits = 20;
  for (int64_t i = 0; i < count; ++i) {
    int v[kSlots];
    for (int f = 0; f < kSlots; ++f) {
      v[f] = value(rng);
      data.keys.push_back(uint64_t{1000} * f + v[f]);
    }
    const bool low0 = v[0] < kVocabulary / 2, low1 = v[1] < kVocabulary / 2;
    data.labels.push_back(
        (labels == Labels::kSeparable ? low0 : low0 != low1) ? 1.0f : 0.0f);
  }
  return data;
}

// Hand-made features: `keys` holds count * kSlots keys.
FlightFeatures Features(std::vector<uint64_t> keys, std::vector<float> labels) {
  FlightFeatures data;
  data.count = static_cast<int64_t>(labels.size());
  data.slots = kSlots;
  data.keys = std::move(keys);
  data.labels = std::move(labels);
  return data;
}

FlightsModelSpec Spec(FlightsModelType type) {
  FlightsModelSpec spec;
  spec.type = type;
  spec.slots = kSlots;
  spec.embedding_dim = 4;
  spec.hidden_sizes = {16};
  spec.max_batch = 64;
  return spec;
}

// The bias at 0 and the MLP's weights uniform in +-scale, seeded.
std::vector<float> InitialDense(const FlightsModel& model, float scale) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> weight(-scale, scale);
  std::vector<float> dense(model.num_dense());
  for (size_t i = 1; i < dense.size(); ++i) dense[i] = weight(rng);
  return dense;
}

class RecordingSink : public ProgressSink {
 public:
  absl::Status Report(const Progress& progress) override {
    reports.push_back(progress);
    return absl::OkStatus();
  }
  std::vector<Progress> reports;
};

// Forwards to an InMemorySparseStore and keeps what was pulled and pushed.
class RecordingStore : public SparseParamStore {
 public:
  explicit RecordingStore(InMemorySparseStore* store) : store_(store) {}

  absl::StatusOr<int64_t> Pull(float* dense, std::vector<SparseBlock>* blocks,
                               int64_t clock) override {
    pull_clocks.push_back(clock);
    return store_->Pull(dense, blocks, clock);
  }
  absl::Status Push(const float* dense_grads,
                    const std::vector<SparseBlock>& blocks,
                    int64_t clock) override {
    push_clocks.push_back(clock);
    last_dense_grads.assign(dense_grads, dense_grads + store_->dense().size());
    last_blocks = blocks;
    return store_->Push(dense_grads, blocks, clock);
  }

  std::vector<int64_t> pull_clocks, push_clocks;
  std::vector<float> last_dense_grads;
  std::vector<SparseBlock> last_blocks;

 private:
  InMemorySparseStore* store_;
};

SparseEvaluation Evaluate(const FlightFeatures& data, FlightsModel* model,
                          SparseParamStore* store) {
  absl::StatusOr<SparseEvaluation> result =
      EvaluateSparse(data, 64, /*clock=*/0, model, store);
  EXPECT_TRUE(result.ok()) << result.status();
  return result.ok() ? *std::move(result) : SparseEvaluation();
}

// Trains on 8,000 synthetic examples and returns the test set's loss and AUC
// before and after.
struct Outcome {
  double loss_before, loss_after, auc_before, auc_after, accuracy_after;
  std::vector<Progress> reports;
};

Outcome TrainAndEvaluate(FlightsModelType type, Labels labels, int epochs,
                         float learning_rate) {
  const FlightFeatures train = SyntheticData(8000, labels, 1);
  const FlightFeatures test = SyntheticData(2000, labels, 2);
  std::unique_ptr<FlightsModel> model = MakeCpuFlightsModel(Spec(type));
  InMemorySparseStoreOptions store_options;
  store_options.learning_rate = learning_rate;
  store_options.init_scale = 0.3f;
  InMemorySparseStore store(InitialDense(*model, 0.3f), store_options);
  Outcome out;
  SparseEvaluation before = Evaluate(test, model.get(), &store);
  out.loss_before = before.stats.loss_sum / before.stats.count;
  out.auc_before = Auc(before.histogram);
  TrainerOptions options;
  options.epochs = epochs;
  options.batch_size = 32;
  options.report_every_steps = 50;
  RecordingSink sink;
  EXPECT_TRUE(TrainSparse(options, train, model.get(), &store, &sink,
                          /*cancelled=*/nullptr)
                  .ok());
  SparseEvaluation after = Evaluate(test, model.get(), &store);
  EXPECT_EQ(after.stats.count, 2000);
  out.loss_after = after.stats.loss_sum / after.stats.count;
  out.auc_after = Auc(after.histogram);
  out.accuracy_after =
      static_cast<double>(after.stats.correct) / after.stats.count;
  out.reports = std::move(sink.reports);
  return out;
}

TEST(SparseTrainerTest, SparseLrLearnsSeparableData) {
  const Outcome out =
      TrainAndEvaluate(FlightsModelType::kSparseLr, Labels::kSeparable, 2, 1);
  EXPECT_NEAR(out.loss_before, std::log(2.0), 1e-6);  // All weights zero.
  EXPECT_DOUBLE_EQ(out.auc_before, 0.5);              // All p = 0.5.
  EXPECT_LT(out.loss_after, 0.3);
  EXPECT_GT(out.auc_after, 0.99);
  EXPECT_GT(out.accuracy_after, 0.95);
  ASSERT_THAT(out.reports, SizeIs(10));  // 500 steps, one report per 50.
  EXPECT_LT(out.reports.back().loss, out.reports.front().loss);
  EXPECT_EQ(out.reports.back().step, 500);
  EXPECT_EQ(out.reports.back().epoch, 2);
  EXPECT_GT(out.reports.back().examples_per_sec, 0);
}

TEST(SparseTrainerTest, WideDeepLearnsSeparableData) {
  const Outcome out = TrainAndEvaluate(FlightsModelType::kWideDeep,
                                       Labels::kSeparable, 2, 0.5f);
  EXPECT_LT(out.loss_after, 0.5 * out.loss_before);
  EXPECT_GT(out.auc_after, 0.99);
  EXPECT_LT(out.reports.back().loss, out.reports.front().loss);
}

// The wide part alone cannot fit XOR; the deep part must carry it, through
// the embedding rows and the MLP. (From small random weights the deep model
// leaves the XOR saddle after 4 to 7 epochs at this rate; 15 leave margin.)
TEST(SparseTrainerTest, WideDeepLearnsWhatTheWidePartCannot) {
  const Outcome wide =
      TrainAndEvaluate(FlightsModelType::kSparseLr, Labels::kXor, 4, 0.5f);
  EXPECT_LT(wide.auc_after, 0.6);
  const Outcome deep =
      TrainAndEvaluate(FlightsModelType::kWideDeep, Labels::kXor, 15, 2.0f);
  EXPECT_GT(deep.auc_after, 0.9);
}

// A SPARSE_LR model with its bias at 0, its store recorded.
class SparseLrTrainerTest : public ::testing::Test {
 protected:
  std::unique_ptr<FlightsModel> model_ =
      MakeCpuFlightsModel(Spec(FlightsModelType::kSparseLr));
  InMemorySparseStore store_{{0.0f}, InMemorySparseStoreOptions()};
  RecordingStore recorder_{&store_};
  RecordingSink sink_;
};

// Two examples whose keys repeat within and across them: keys 7, 7, 9 and
// 9, 7, 11. Each distinct key is pulled and pushed once, with the sum of
// its uses' gradients.
const FlightFeatures& RepeatedKeys() {
  static const FlightFeatures* data =
      new FlightFeatures(Features({7, 7, 9, 9, 7, 11}, {1, 0}));
  return *data;
}

std::map<uint64_t, std::vector<float>> ByKey(const SparseBlock& block) {
  std::map<uint64_t, std::vector<float>> out;
  for (size_t k = 0; k < block.keys.size(); ++k) {
    out[block.keys[k]].assign(block.values.begin() + k * block.dim,
                              block.values.begin() + (k + 1) * block.dim);
  }
  return out;
}

TEST_F(SparseLrTrainerTest, SparseLrSumsGradientsOfRepeatedKeys) {
  (*store_.mutable_dense())[0] = 0.25f;
  *store_.MutableRow(kWideTable, 1, 7) = 0.5f;
  *store_.MutableRow(kWideTable, 1, 9) = -0.3f;
  *store_.MutableRow(kWideTable, 1, 11) = 0.8f;
  TrainerOptions options;
  options.batch_size = 2;
  ASSERT_TRUE(TrainSparse(options, RepeatedKeys(), model_.get(), &recorder_,
                          &sink_, nullptr)
                  .ok());
  auto sigmoid = [](double z) { return 1 / (1 + std::exp(-z)); };
  const double g0 = (sigmoid(0.25 + 0.5 + 0.5 - 0.3) - 1) / 2;
  const double g1 = (sigmoid(0.25 - 0.3 + 0.5 + 0.8) - 0) / 2;
  ASSERT_THAT(recorder_.last_blocks, SizeIs(1));
  const SparseBlock& wide = recorder_.last_blocks[0];
  EXPECT_EQ(wide.table, kWideTable);
  ASSERT_THAT(wide.keys, SizeIs(3));  // Distinct keys only.
  std::map<uint64_t, std::vector<float>> grads = ByKey(wide);
  EXPECT_NEAR(grads[7][0], 2 * g0 + g1, 1e-6);
  EXPECT_NEAR(grads[9][0], g0 + g1, 1e-6);
  EXPECT_NEAR(grads[11][0], g1, 1e-6);
  ASSERT_THAT(recorder_.last_dense_grads, SizeIs(1));
  EXPECT_NEAR(recorder_.last_dense_grads[0], g0 + g1, 1e-6);
}

// The same batch through WIDE_DEEP: the pushed gradient of every wide and
// embed value and of the bias against central differences of the mean
// loss (in float, hence the loose tolerance).
TEST(SparseTrainerTest, WideDeepGradientsOfRepeatedKeysMatchFiniteDifferences) {
  FlightsModelSpec spec = Spec(FlightsModelType::kWideDeep);
  spec.embedding_dim = 2;
  spec.hidden_sizes = {3};
  std::unique_ptr<FlightsModel> model = MakeCpuFlightsModel(spec);
  InMemorySparseStoreOptions frozen;
  frozen.learning_rate = 0;  // The push leaves the parameters as they were.
  frozen.init_scale = 1.0f;
  InMemorySparseStore store(InitialDense(*model, 1.0f), frozen);
  for (uint64_t key : {7, 9, 11}) {
    *store.MutableRow(kWideTable, 1, key) = 0.1f * static_cast<float>(key % 4);
  }
  RecordingStore recorder(&store);
  TrainerOptions options;
  options.batch_size = 2;
  RecordingSink sink;
  ASSERT_TRUE(TrainSparse(options, RepeatedKeys(), model.get(), &recorder,
                          &sink, nullptr)
                  .ok());
  ASSERT_THAT(recorder.last_blocks, SizeIs(2));
  auto loss = [&] {
    SparseEvaluation e = Evaluate(RepeatedKeys(), model.get(), &store);
    return e.stats.loss_sum / e.stats.count;
  };
  constexpr float kStep = 1e-2f;
  auto numeric = [&](float* value) {
    const float saved = *value;
    *value = saved + kStep;
    const double plus = loss();
    *value = saved - kStep;
    const double minus = loss();
    *value = saved;
    return (plus - minus) / (2 * kStep);
  };
  for (const SparseBlock& block : recorder.last_blocks) {
    ASSERT_THAT(block.keys, SizeIs(3)) << block.table;
    for (const auto& [key, grad] : ByKey(block)) {
      for (int j = 0; j < block.dim; ++j) {
        float* value = store.MutableRow(block.table, block.dim, key) + j;
        EXPECT_NEAR(grad[j], numeric(value), 1e-3)
            << block.table << " key " << key << " value " << j;
      }
    }
  }
  float* bias = store.mutable_dense()->data();
  EXPECT_NEAR(recorder.last_dense_grads[0], numeric(bias), 1e-3);
}

TEST_F(SparseLrTrainerTest, StepCPullsAndPushesAtClockC) {
  TrainerOptions options;
  options.epochs = 2;
  options.batch_size = 16;
  options.examples_per_epoch = 40;  // A prefix: 3 steps per epoch.
  RecordingSink sink;
  ASSERT_TRUE(TrainSparse(options, SyntheticData(100, Labels::kSeparable, 3),
                          model_.get(), &recorder_, &sink_, nullptr)
                  .ok());
  const std::vector<int64_t> clocks = {0, 1, 2, 3, 4, 5};
  EXPECT_EQ(recorder_.pull_clocks, clocks);
  EXPECT_EQ(recorder_.push_clocks, clocks);
  EXPECT_EQ(TotalSteps(options, 100), 6);
  ASSERT_THAT(sink_.reports, SizeIs(1));  // Only after the last step.
  EXPECT_EQ(sink_.reports[0].total_steps, 6);
}

// A rank taken over mid-training resumes at first_step: its clocks and its
// batches are those the full run has at the same steps.
TEST_F(SparseLrTrainerTest, FirstStepResumesWithThatStepsClockAndBatch) {
  TrainerOptions options;
  options.epochs = 2;
  options.batch_size = 16;
  options.examples_per_epoch = 40;  // 3 steps per epoch
  const FlightFeatures data = SyntheticData(100, Labels::kSeparable, 3);
  ASSERT_TRUE(
      TrainSparse(options, data, model_.get(), &recorder_, &sink_, nullptr)
          .ok());
  InMemorySparseStore store{{0.0f}, InMemorySparseStoreOptions()};
  RecordingStore resumed(&store);
  RecordingSink sink;
  options.first_step = 4;  // the second step of epoch 2
  ASSERT_TRUE(
      TrainSparse(options, data, model_.get(), &resumed, &sink, nullptr).ok());
  EXPECT_EQ(resumed.pull_clocks, (std::vector<int64_t>{4, 5}));
  EXPECT_EQ(resumed.push_clocks, (std::vector<int64_t>{4, 5}));
  ASSERT_EQ(resumed.last_blocks.size(), recorder_.last_blocks.size());
  EXPECT_EQ(resumed.last_blocks[0].keys, recorder_.last_blocks[0].keys);
  ASSERT_THAT(sink.reports, SizeIs(1));
  EXPECT_EQ(sink.reports[0].step, 6);
  options.first_step = 7;
  EXPECT_EQ(
      TrainSparse(options, data, model_.get(), &resumed, &sink, nullptr).code(),
      absl::StatusCode::kInvalidArgument);
}

TEST_F(SparseLrTrainerTest, CancelledStopsBeforeTheNextPull) {
  const std::atomic<bool> cancelled(true);
  const absl::Status status =
      TrainSparse(TrainerOptions(), SyntheticData(10, Labels::kSeparable, 3),
                  model_.get(), &recorder_, &sink_, &cancelled);
  EXPECT_EQ(status.code(), absl::StatusCode::kCancelled);
  EXPECT_TRUE(recorder_.pull_clocks.empty());
}

TEST_F(SparseLrTrainerTest, BadInputIsInvalidArgumentBeforeAnyPull) {
  auto train = [&](const FlightFeatures& data, int batch_size) {
    TrainerOptions options;
    options.batch_size = batch_size;
    return TrainSparse(options, data, model_.get(), &recorder_, &sink_,
                       nullptr);
  };
  FlightFeatures data = SyntheticData(10, Labels::kSeparable, 3);
  absl::Status status = train(data, 65);
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(), HasSubstr("batch_size is 65, expected 1..64"));
  data.slots = 4;
  status = train(data, 8);
  EXPECT_THAT(status.message(),
              HasSubstr("4 slots per example, the model expects 3"));
  data.slots = kSlots;
  data.labels.pop_back();
  status = train(data, 8);
  EXPECT_THAT(status.message(), HasSubstr("hold 30 keys and 9 labels"));
  FlightFeatures empty;
  empty.slots = kSlots;
  EXPECT_EQ(train(empty, 8).code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(recorder_.pull_clocks.empty());
}

TEST_F(SparseLrTrainerTest, EvaluateCountsEveryExampleOnce) {
  absl::StatusOr<SparseEvaluation> result =
      EvaluateSparse(SyntheticData(100, Labels::kSeparable, 4), 30,
                     /*clock=*/7, model_.get(), &recorder_);
  ASSERT_TRUE(result.ok()) << result.status();
  EXPECT_EQ(result->stats.count, 100);
  int64_t counted = 0;
  for (int b = 0; b < kAucBins; ++b) {
    counted += result->histogram.pos[b] + result->histogram.neg[b];
  }
  EXPECT_EQ(counted, 100);
  // p = 0.5 everywhere: every example counts as predicted negative (as in
  // the models' own accuracy).
  const int64_t negatives = std::accumulate(
      result->histogram.neg.begin(), result->histogram.neg.end(), int64_t{0});
  EXPECT_GT(negatives, 0);
  EXPECT_LT(negatives, 100);
  EXPECT_EQ(result->stats.correct, negatives);
  EXPECT_EQ(recorder_.pull_clocks, std::vector<int64_t>({7, 7, 7, 7}));
  EXPECT_TRUE(recorder_.push_clocks.empty());
}

}  // namespace
}  // namespace ps::worker
