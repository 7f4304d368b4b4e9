#include "worker/cpu/cpu_embedding_model.h"

#include <algorithm>
#include <cmath>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/model/gradient_check.h"
#include "worker/model/logit_offset_check.h"

namespace ps::worker {
namespace {

using ::testing::HasSubstr;

template <typename T = float>
std::unique_ptr<BasicEmbeddingModel<T>> MakeModel(
    const EmbeddingModelSpec& spec) {
  absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<T>>> model =
      CreateCpuEmbeddingModel<T>(spec);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

void ExpectGradientsMatch(const EmbeddingModelSpec& spec) {
  std::unique_ptr<BasicEmbeddingModel<double>> model = MakeModel<double>(spec);
  const testing::EmbeddingGradients g = testing::ComputeEmbeddingGradients(
      *model, /*examples=*/6, /*num_rows=*/7, /*seed=*/11);
  testing::ExpectGradientsMatch(g.dense.analytic, g.dense.numeric,
                                "dense param");
  testing::ExpectGradientsMatch(g.rows.analytic, g.rows.numeric, "row value");
}

// Gather, dense layers with ReLU and the sigmoid cross-entropy head, with
// rows used by several (example, slot) pairs and one row unused.
TEST(CpuEmbeddingModelTest, LogisticGradientsMatchFiniteDifferences) {
  ExpectGradientsMatch(testing::SmallEmbeddingSpec(Head::kLogistic));
}

TEST(CpuEmbeddingModelTest, SoftmaxGradientsMatchFiniteDifferences) {
  ExpectGradientsMatch(testing::SmallEmbeddingSpec(Head::kSoftmax));
}

TEST(CpuEmbeddingModelTest, LinearModelOnEmbeddingsMatchesFiniteDifferences) {
  EmbeddingModelSpec spec = testing::SmallEmbeddingSpec(Head::kLogistic);
  spec.hidden_sizes.clear();
  ExpectGradientsMatch(spec);
}

TEST(CpuEmbeddingModelTest, UnusedRowGetsZeroGradient) {
  const testing::EmbeddingGradients g = testing::ComputeEmbeddingGradients(
      *MakeModel<double>(testing::SmallEmbeddingSpec(Head::kLogistic)), 6, 7,
      11);
  const int64_t dim = 4;
  for (int64_t d = 0; d < dim; ++d) EXPECT_EQ(g.rows.analytic[6 * dim + d], 0);
}

// Row r's gradient is the sum of the input gradients of the pairs using it:
// the model with the row duplicated into separate rows gives the parts.
TEST(CpuEmbeddingModelTest, RepeatedRowsSumTheirGradients) {
  EmbeddingModelSpec spec = testing::SmallEmbeddingSpec(Head::kLogistic);
  spec.slots = 2;
  std::unique_ptr<EmbeddingModel> model = MakeModel(spec);
  std::mt19937 rng(5);
  const std::vector<float> params =
      testing::Uniform<float>(model->num_dense_params(), 1.0, rng);
  const std::vector<float> row = testing::Uniform<float>(4, 1.0, rng);
  std::vector<float> two_rows = row;
  two_rows.insert(two_rows.end(), row.begin(), row.end());
  const std::vector<int32_t> labels = {1};
  const std::vector<int32_t> shared = {0, 0}, split = {0, 1};
  std::vector<float> dense(params.size()), once(4), twice(8);
  BatchStats stats;
  ASSERT_TRUE(
      model
          ->ForwardBackward(params.data(),
                            {row.data(), 1, shared.data(), labels.data(), 1},
                            dense.data(), once.data(), &stats)
          .ok());
  ASSERT_TRUE(model
                  ->ForwardBackward(
                      params.data(),
                      {two_rows.data(), 2, split.data(), labels.data(), 1},
                      dense.data(), twice.data(), &stats)
                  .ok());
  for (int d = 0; d < 4; ++d) {
    EXPECT_NEAR(once[d], twice[d] + twice[4 + d], 1e-6);
  }
}

TEST(CpuEmbeddingModelTest, EvaluateReturnsLogitsAndMatchingLoss) {
  const EmbeddingModelSpec spec = testing::SmallEmbeddingSpec(Head::kSoftmax);
  std::unique_ptr<EmbeddingModel> model = MakeModel(spec);
  std::mt19937 rng(2);
  const std::vector<float> params =
      testing::Uniform<float>(model->num_dense_params(), 1.0, rng);
  testing::EmbeddingInputs<double> in =
      testing::RandomEmbeddingInputs(spec, 5, 6, rng);
  const std::vector<float> rows = testing::Cast<float>(in.rows);
  const EmbeddingBatch batch{rows.data(), in.num_rows, in.index.data(),
                             in.labels.data(), in.examples};
  BatchStats trained, evaluated;
  std::vector<float> dense(params.size()), row_grads(rows.size());
  ASSERT_TRUE(model
                  ->ForwardBackward(params.data(), batch, dense.data(),
                                    row_grads.data(), &trained)
                  .ok());
  std::vector<float> logits(5 * 4);
  ASSERT_TRUE(
      model->Evaluate(params.data(), batch, &evaluated, logits.data()).ok());
  EXPECT_EQ(evaluated.loss_sum, trained.loss_sum);
  EXPECT_EQ(evaluated.count, 5);
  int correct = 0;
  for (int e = 0; e < 5; ++e) {
    const float* z = &logits[e * 4];
    correct += std::max_element(z, z + 4) - z == in.labels[e];
  }
  EXPECT_EQ(correct, evaluated.correct);
}

// The wide part's hook: logits shifted by batch.logit_offset, and
// batch.logit_grads equal to d(mean loss)/d(offset).
TEST(CpuEmbeddingModelTest, LogitOffsetGradientsMatchFiniteDifferences) {
  EmbeddingModelSpec spec = testing::SmallEmbeddingSpec(Head::kLogistic);
  testing::ExpectOffsetGradientsMatch(testing::ComputeOffsetGradients(
      *MakeModel<double>(spec), /*examples=*/6, /*num_rows=*/7, /*seed=*/3));
  spec.hidden_sizes.clear();
  testing::ExpectOffsetGradientsMatch(
      testing::ComputeOffsetGradients(*MakeModel<double>(spec), 6, 7, 4));
}

TEST(CpuEmbeddingModelTest, LogitOffsetShiftsLogitsAndLoss) {
  const EmbeddingModelSpec spec = testing::SmallEmbeddingSpec(Head::kLogistic);
  std::unique_ptr<EmbeddingModel> model = MakeModel(spec);
  std::mt19937 rng(8);
  const std::vector<float> params =
      testing::Uniform<float>(model->num_dense_params(), 1.0, rng);
  const testing::EmbeddingInputs<double> in =
      testing::RandomEmbeddingInputs(spec, 5, 6, rng);
  const std::vector<float> rows = testing::Cast<float>(in.rows);
  EmbeddingBatch batch{rows.data(), in.num_rows, in.index.data(),
                       in.labels.data(), in.examples};
  std::vector<float> plain(5), shifted(5);
  BatchStats plain_stats, shifted_stats;
  ASSERT_TRUE(
      model->Evaluate(params.data(), batch, &plain_stats, plain.data()).ok());
  const std::vector<float> offset = {0.5f, -1.0f, 2.0f, 0.0f, -3.0f};
  batch.logit_offset = offset.data();
  ASSERT_TRUE(
      model->Evaluate(params.data(), batch, &shifted_stats, shifted.data())
          .ok());
  double loss = 0;
  for (int e = 0; e < 5; ++e) {
    EXPECT_NEAR(shifted[e], plain[e] + offset[e], 1e-6) << "example " << e;
    const double z = shifted[e];
    loss += std::log1p(std::exp(-std::abs(z))) + std::max(z, 0.0) -
            in.labels[e] * z;
  }
  EXPECT_NEAR(shifted_stats.loss_sum, loss, 1e-5);
  // ForwardBackward sees the same shifted logits: its logit gradients are
  // (sigmoid(z) - y) / examples.
  std::vector<float> dense(params.size()), row_grads(rows.size()), dz(5);
  batch.logit_grads = dz.data();
  BatchStats trained;
  ASSERT_TRUE(model
                  ->ForwardBackward(params.data(), batch, dense.data(),
                                    row_grads.data(), &trained)
                  .ok());
  EXPECT_EQ(trained.loss_sum, shifted_stats.loss_sum);
  for (int e = 0; e < 5; ++e) {
    const double p = 1 / (1 + std::exp(-static_cast<double>(shifted[e])));
    EXPECT_NEAR(dz[e], (p - in.labels[e]) / 5, 1e-6) << "example " << e;
  }
}

void ExpectInvalid(const absl::Status& status, const std::string& part) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), HasSubstr(part));
}

TEST(CpuEmbeddingModelTest, FactoryRejectsBadSpecs) {
  EmbeddingModelSpec spec = testing::SmallEmbeddingSpec(Head::kLogistic);
  spec.slots = 0;
  ExpectInvalid(CreateCpuEmbeddingModel(spec).status(), "slots is 0");
  spec = testing::SmallEmbeddingSpec(Head::kLogistic);
  spec.dim = 0;
  ExpectInvalid(CreateCpuEmbeddingModel(spec).status(), "dim is 0");
  spec = testing::SmallEmbeddingSpec(Head::kLogistic);
  spec.outputs = 3;
  ExpectInvalid(CreateCpuEmbeddingModel(spec).status(), "outputs is 3");
  spec = testing::SmallEmbeddingSpec(Head::kSoftmax);
  spec.hidden_sizes = {5, -1};
  ExpectInvalid(CreateCpuEmbeddingModel(spec).status(), "layer_sizes[2] is -1");
}

TEST(CpuEmbeddingModelTest, RejectsBatchesThatDoNotFit) {
  const EmbeddingModelSpec spec = testing::SmallEmbeddingSpec(Head::kLogistic);
  std::unique_ptr<EmbeddingModel> model = MakeModel(spec);
  const std::vector<float> params(model->num_dense_params(), 0.0f);
  const std::vector<float> rows(4 * 4, 0.0f);
  std::vector<int32_t> index = {0, 1, 2, 3, 0, 1};
  std::vector<int32_t> labels = {0, 1};
  std::vector<float> dense(params.size()), row_grads(rows.size());
  BatchStats stats;
  auto run = [&](const EmbeddingBatch& batch) {
    return model->ForwardBackward(params.data(), batch, dense.data(),
                                  row_grads.data(), &stats);
  };
  ExpectInvalid(run({rows.data(), 4, index.data(), labels.data(), 9}),
                "batch.examples is 9");
  ExpectInvalid(run({rows.data(), 25, index.data(), labels.data(), 2}),
                "batch.num_rows is 25");
  index[4] = 4;
  ExpectInvalid(run({rows.data(), 4, index.data(), labels.data(), 2}),
                "batch.row_index[4] (example 1, slot 1) is 4");
  index[4] = 0;
  labels[1] = 2;
  ExpectInvalid(run({rows.data(), 4, index.data(), labels.data(), 2}),
                "batch.labels[1] is 2, expected a binary label");
  ExpectInvalid(run({nullptr, 4, index.data(), labels.data(), 2}), "non-null");
  EXPECT_EQ(stats.count, 0);
}

TEST(CpuEmbeddingModelTest, SoftmaxHeadRejectsLogitOffsetAndGrads) {
  const EmbeddingModelSpec spec = testing::SmallEmbeddingSpec(Head::kSoftmax);
  std::unique_ptr<EmbeddingModel> model = MakeModel(spec);
  const std::vector<float> params(model->num_dense_params(), 0.0f);
  const std::vector<float> rows(4 * 4, 0.0f), offset(2, 0.0f);
  const std::vector<int32_t> index = {0, 1, 2, 3, 0, 1}, labels = {0, 3};
  std::vector<float> dense(params.size()), row_grads(rows.size()), dz(2);
  EmbeddingBatch batch{rows.data(), 4, index.data(), labels.data(), 2};
  batch.logit_offset = offset.data();
  BatchStats stats;
  ExpectInvalid(model->Evaluate(params.data(), batch, &stats, nullptr),
                "batch.logit_offset and batch.logit_grads must be null");
  batch.logit_offset = nullptr;
  batch.logit_grads = dz.data();
  ExpectInvalid(model->ForwardBackward(params.data(), batch, dense.data(),
                                       row_grads.data(), &stats),
                "softmax head");
}

}  // namespace
}  // namespace ps::worker
