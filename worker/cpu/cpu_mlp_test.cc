#include "worker/cpu/cpu_mlp.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <memory>
#include <random>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/model/gradient_check.h"

namespace ps::worker {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

std::vector<float> UniformVector(int64_t n, float scale, std::mt19937& rng) {
  return testing::Uniform<float>(n, scale, rng);
}

std::vector<int32_t> RandomLabels(int64_t n, int classes, std::mt19937& rng) {
  return testing::RandomLabels(n, classes, rng);
}

template <typename T = float>
std::unique_ptr<BasicModel<T>> MakeMlp(std::vector<int64_t> sizes,
                                       int64_t max_rows) {
  absl::StatusOr<std::unique_ptr<BasicModel<T>>> model =
      CreateCpuMlp<T>(std::move(sizes), max_rows);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

// Every layer (dense, bias, ReLU, softmax cross-entropy) in double, against
// central differences of the double model's own loss.
testing::DenseGradients DoubleGradients(const std::vector<int64_t>& sizes) {
  constexpr int kRows = 6;
  std::unique_ptr<BasicModel<double>> model = MakeMlp<double>(sizes, kRows);
  return testing::ComputeDenseGradients(*model, sizes.front(), sizes.back(),
                                        kRows, /*seed=*/7);
}

TEST(CpuMlpTest, ParamCountFollowsLayout) {
  EXPECT_EQ(MlpParamCount({784, 256, 10}), 784 * 256 + 256 + 256 * 10 + 10);
  EXPECT_EQ(MlpParamCount({784, 10}), 7850);
  EXPECT_EQ(MakeMlp({7, 5, 4, 3}, 1)->num_params(),
            7 * 5 + 5 + 5 * 4 + 4 + 4 * 3 + 3);
}

TEST(CpuMlpTest, MlpGradientsMatchFiniteDifferencesInDouble) {
  const testing::DenseGradients g = DoubleGradients({7, 5, 4, 3});
  testing::ExpectGradientsMatch(g.analytic, g.numeric, "param");
}

TEST(CpuMlpTest, SoftmaxRegressionGradientsMatchFiniteDifferencesInDouble) {
  const testing::DenseGradients g = DoubleGradients({7, 3});
  testing::ExpectGradientsMatch(g.analytic, g.numeric, "param");
}

// Guards the tolerance itself: a 0.1% gradient error must not pass.
TEST(CpuMlpTest, GradientCheckCatchesSmallError) {
  const testing::DenseGradients g = DoubleGradients({7, 5, 4, 3});
  int mismatches = 0;
  for (size_t i = 0; i < g.numeric.size(); ++i) {
    mismatches += !testing::GradientsAgree(1.001 * g.analytic[i], g.numeric[i]);
  }
  EXPECT_GT(mismatches, 10);
}

// The float model computes what the double one does, to float precision.
TEST(CpuMlpTest, FloatGradientsMatchDouble) {
  constexpr int kRows = 16;
  const std::vector<int64_t> sizes = {20, 12, 6};
  std::mt19937 rng(3);
  const std::vector<double> params =
      testing::Uniform<double>(MlpParamCount(sizes), 0.5, rng);
  const std::vector<double> x = testing::Uniform<double>(kRows * 20, 1.0, rng);
  const std::vector<int32_t> y = RandomLabels(kRows, 6, rng);
  std::vector<double> grads(params.size());
  BatchStats stats;
  ASSERT_TRUE(MakeMlp<double>(sizes, kRows)
                  ->ForwardBackward(params.data(),
                                    {x.data(), y.data(), kRows, 20},
                                    grads.data(), &stats)
                  .ok());
  const std::vector<float> params_f = testing::Cast<float>(params);
  const std::vector<float> x_f = testing::Cast<float>(x);
  std::vector<float> grads_f(params.size());
  BatchStats stats_f;
  ASSERT_TRUE(MakeMlp(sizes, kRows)
                  ->ForwardBackward(params_f.data(),
                                    {x_f.data(), y.data(), kRows, 20},
                                    grads_f.data(), &stats_f)
                  .ok());
  testing::ExpectClose(testing::Cast<double>(grads_f), grads, 1e-4, "grad");
  EXPECT_NEAR(stats_f.loss_sum, stats.loss_sum, 1e-4 * stats.loss_sum);
}

// Labels are the argmax of a random linear "teacher", so a linear model can
// separate them. Points closer than kMargin to a class boundary are dropped,
// so held-out accuracy measures learning rather than boundary noise.
struct Dataset {
  std::vector<float> x;
  std::vector<int32_t> y;
};

Dataset TeacherData(int64_t rows, int64_t dim, int classes,
                    const std::vector<float>& teacher, std::mt19937& rng) {
  constexpr float kMargin = 0.5f;
  std::normal_distribution<float> normal;
  Dataset data;
  std::vector<float> point(dim);
  std::vector<float> scores(classes);
  while (static_cast<int64_t>(data.y.size()) < rows) {
    std::fill(scores.begin(), scores.end(), 0.0f);
    for (int64_t d = 0; d < dim; ++d) {
      point[d] = normal(rng);
      for (int c = 0; c < classes; ++c) {
        scores[c] += point[d] * teacher[d * classes + c];
      }
    }
    std::vector<float> sorted = scores;
    std::sort(sorted.rbegin(), sorted.rend());
    if (sorted[0] - sorted[1] < kMargin) continue;
    data.x.insert(data.x.end(), point.begin(), point.end());
    data.y.push_back(std::max_element(scores.begin(), scores.end()) -
                     scores.begin());
  }
  return data;
}

double TrainAndTestAccuracy(const std::vector<int64_t>& sizes) {
  constexpr int64_t kRows = 1024;
  constexpr int64_t kBatch = 64;
  constexpr int kSteps = 300;
  constexpr float kLearningRate = 0.5f;
  const int64_t dim = sizes.front();
  const int classes = static_cast<int>(sizes.back());
  std::mt19937 rng(123);
  const std::vector<float> teacher = UniformVector(dim * classes, 1.0f, rng);
  const Dataset train = TeacherData(kRows, dim, classes, teacher, rng);
  const Dataset test = TeacherData(kRows, dim, classes, teacher, rng);

  std::unique_ptr<Model> model = MakeMlp(sizes, kRows);
  std::vector<float> params = UniformVector(model->num_params(), 0.1f, rng);
  std::vector<float> grads(params.size());
  for (int step = 0; step < kSteps; ++step) {
    const int64_t start = (step * kBatch) % kRows;
    const Batch batch{&train.x[start * dim], &train.y[start], kBatch, dim};
    BatchStats stats;
    EXPECT_TRUE(
        model->ForwardBackward(params.data(), batch, grads.data(), &stats)
            .ok());
    for (size_t i = 0; i < params.size(); ++i) {
      params[i] -= kLearningRate * grads[i];
    }
  }
  BatchStats stats;
  const Batch batch{test.x.data(), test.y.data(), kRows, dim};
  EXPECT_TRUE(model->Evaluate(params.data(), batch, &stats).ok());
  return static_cast<double>(stats.correct) / stats.count;
}

TEST(CpuMlpTest, SgdLearnsSeparableProblemWithSoftmaxRegression) {
  EXPECT_GT(TrainAndTestAccuracy({10, 4}), 0.95);
}

TEST(CpuMlpTest, SgdLearnsSeparableProblemWithHiddenLayer) {
  EXPECT_GT(TrainAndTestAccuracy({10, 32, 4}), 0.95);
}

TEST(CpuMlpTest, EvaluateMatchesForwardBackwardStats) {
  constexpr int kRows = 5;
  std::mt19937 rng(1);
  std::unique_ptr<Model> model = MakeMlp({6, 8, 4}, 8);
  const std::vector<float> params =
      UniformVector(model->num_params(), 1.0f, rng);
  const std::vector<float> x = UniformVector(kRows * 6, 1.0f, rng);
  const std::vector<int32_t> y = RandomLabels(kRows, 4, rng);
  const Batch batch{x.data(), y.data(), kRows, 6};

  BatchStats trained;
  std::vector<float> grads(params.size());
  ASSERT_TRUE(
      model->ForwardBackward(params.data(), batch, grads.data(), &trained)
          .ok());
  // Gradients are overwritten, not accumulated: garbage in grads is ignored.
  std::vector<float> garbage(params.size(),
                             std::numeric_limits<float>::quiet_NaN());
  ASSERT_TRUE(
      model->ForwardBackward(params.data(), batch, garbage.data(), &trained)
          .ok());
  EXPECT_EQ(garbage, grads);

  BatchStats evaluated;
  ASSERT_TRUE(model->Evaluate(params.data(), batch, &evaluated).ok());
  ASSERT_TRUE(model->Evaluate(params.data(), batch, &evaluated).ok());
  EXPECT_EQ(evaluated.loss_sum, trained.loss_sum);
  EXPECT_EQ(evaluated.correct, trained.correct);
  EXPECT_EQ(evaluated.count, 2 * kRows);
  EXPECT_EQ(trained.count, 2 * kRows);
}

// The logits' softmax cross-entropy is the loss Evaluate reports, and
// labels are not needed.
TEST(CpuMlpTest, LogitsGiveEvaluatesLoss) {
  constexpr int kRows = 5, kClasses = 4;
  std::mt19937 rng(2);
  std::unique_ptr<Model> model = MakeMlp({6, 8, kClasses}, 8);
  const std::vector<float> params =
      UniformVector(model->num_params(), 1.0f, rng);
  const std::vector<float> x = UniformVector(kRows * 6, 1.0f, rng);
  const std::vector<int32_t> y = RandomLabels(kRows, kClasses, rng);
  std::vector<float> logits(kRows * kClasses);
  ASSERT_TRUE(
      model->Logits(params.data(), {x.data(), nullptr, kRows, 6}, logits.data())
          .ok());
  double loss = 0;
  for (int r = 0; r < kRows; ++r) {
    double sum = 0;
    for (int c = 0; c < kClasses; ++c)
      sum += std::exp(logits[r * kClasses + c]);
    loss += std::log(sum) - logits[r * kClasses + y[r]];
  }
  BatchStats stats;
  ASSERT_TRUE(
      model->Evaluate(params.data(), {x.data(), y.data(), kRows, 6}, &stats)
          .ok());
  EXPECT_NEAR(loss, stats.loss_sum, 1e-4);
  EXPECT_EQ(
      model->Logits(params.data(), {x.data(), nullptr, kRows, 5}, logits.data())
          .code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(CpuMlpTest, HugeLogitsGiveFiniteLoss) {
  std::unique_ptr<Model> model = MakeMlp({2, 3}, 1);
  // Logits are {1e4, -1e4, 0}: exp() of them unshifted would overflow.
  const std::vector<float> params = {1e4f, -1e4f, 0, -1e4f, 1e4f, 0, 0, 0, 0};
  const std::vector<float> x = {1.0f, 0.0f};
  const int32_t label = 1;
  BatchStats stats;
  std::vector<float> grads(params.size());
  ASSERT_TRUE(model
                  ->ForwardBackward(params.data(),
                                    Batch{x.data(), &label, 1, 2}, grads.data(),
                                    &stats)
                  .ok());
  EXPECT_NEAR(stats.loss_sum, 2e4, 1.0);
  for (float g : grads) EXPECT_TRUE(std::isfinite(g));
}

void ExpectInvalid(const absl::Status& status, const std::string& part1,
                   const std::string& part2) {
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument) << status;
  EXPECT_THAT(status.message(), AllOf(HasSubstr(part1), HasSubstr(part2)));
}

TEST(CpuMlpTest, FactoryRejectsBadShapes) {
  ExpectInvalid(CreateCpuMlp({784}, 8).status(), "layer_sizes has 1", "2");
  ExpectInvalid(CreateCpuMlp({784, 0, 10}, 8).status(), "layer_sizes[1]",
                "is 0");
  ExpectInvalid(CreateCpuMlp({784, 10}, 0).status(), "max_batch_rows is 0",
                "expected 1..");
}

// A model that cannot fit fails its creation instead of throwing
// std::bad_alloc through the worker.
TEST(CpuMlpTest, FactoryRejectsModelsLargerThanMemory) {
  const absl::Status status = CreateCpuMlp({784, 1 << 30, 10}, 1000).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("needs"), HasSubstr("bytes of memory")));
}

TEST(CpuMlpTest, RejectsBatchesThatDoNotFit) {
  std::unique_ptr<Model> model = MakeMlp({4, 3}, 2);
  const std::vector<float> params(model->num_params(), 0.0f);
  std::vector<float> grads(params.size());
  const std::vector<float> x(3 * 5, 0.0f);
  std::vector<int32_t> y = {0, 1, 2};
  BatchStats stats;
  auto run = [&](const Batch& batch) {
    ExpectInvalid(model->Evaluate(params.data(), batch, &stats), "", "");
    return model->ForwardBackward(params.data(), batch, grads.data(), &stats);
  };
  ExpectInvalid(run({x.data(), y.data(), 2, 5}), "batch.dim is 5",
                "layer_sizes[0] = 4");
  ExpectInvalid(run({x.data(), y.data(), 3, 4}), "batch.rows is 3",
                "max_batch_rows = 2");
  ExpectInvalid(run({x.data(), y.data(), 0, 4}), "batch.rows is 0",
                "max_batch_rows = 2");
  y[1] = 3;
  ExpectInvalid(run({x.data(), y.data(), 2, 4}), "batch.y[1] is 3", "[0, 3)");
  y[1] = -1;
  ExpectInvalid(run({x.data(), y.data(), 2, 4}), "batch.y[1] is -1", "[0, 3)");
  EXPECT_EQ(stats.count, 0);  // Rejected batches leave the stats alone.
}

}  // namespace
}  // namespace ps::worker
