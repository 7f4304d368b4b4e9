// The CUDA backend against finite differences (in double) and against the
// CPU backend (in float). Every test skips without a visible GPU.
#include <memory>
#include <random>
#include <thread>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/cpu/cpu_embedding_model.h"
#include "worker/cpu/cpu_mlp.h"
#include "worker/cuda/cuda_embedding_model.h"
#include "worker/cuda/cuda_mlp.h"
#include "worker/cuda/gpu_runtime.h"
#include "worker/model/gradient_check.h"
#include "worker/model/logit_offset_check.h"

namespace ps::worker {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// CUDA and CPU outputs must agree this closely on random inputs.
constexpr double kAgreement = 1e-4;

class CudaModelTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<int> count = gpu::DeviceCount();
    if (!count.ok() || *count == 0) {
      GTEST_SKIP() << "no CUDA device: "
                   << (count.ok() ? "0 visible" : count.status().ToString());
    }
  }
};

template <typename T = float>
std::unique_ptr<BasicModel<T>> CudaMlp(std::vector<int64_t> sizes,
                                       int64_t rows) {
  auto model = CreateCudaMlp<T>(std::move(sizes), rows, /*gpu_index=*/0);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

template <typename T = float>
std::unique_ptr<BasicEmbeddingModel<T>> CudaEmbedding(
    const EmbeddingModelSpec& spec) {
  auto model = CreateCudaEmbeddingModel<T>(spec, /*gpu_index=*/0);
  EXPECT_TRUE(model.ok()) << model.status();
  return model.ok() ? *std::move(model) : nullptr;
}

TEST_F(CudaModelTest, MlpGradientsMatchFiniteDifferencesInDouble) {
  for (const std::vector<int64_t>& sizes :
       {std::vector<int64_t>{7, 5, 4, 3}, std::vector<int64_t>{7, 3}}) {
    const testing::DenseGradients g = testing::ComputeDenseGradients(
        *CudaMlp<double>(sizes, 6), sizes.front(), sizes.back(), 6, 7);
    testing::ExpectGradientsMatch(g.analytic, g.numeric, "param");
  }
}

TEST_F(CudaModelTest, EmbeddingGradientsMatchFiniteDifferencesInDouble) {
  for (Head head : {Head::kLogistic, Head::kSoftmax}) {
    const testing::EmbeddingGradients g = testing::ComputeEmbeddingGradients(
        *CudaEmbedding<double>(testing::SmallEmbeddingSpec(head)), 6, 7, 11);
    testing::ExpectGradientsMatch(g.dense.analytic, g.dense.numeric,
                                  "dense param");
    testing::ExpectGradientsMatch(g.rows.analytic, g.rows.numeric, "row value");
  }
}

TEST_F(CudaModelTest, LogitOffsetGradientsMatchFiniteDifferencesInDouble) {
  testing::ExpectOffsetGradientsMatch(testing::ComputeOffsetGradients(
      *CudaEmbedding<double>(testing::SmallEmbeddingSpec(Head::kLogistic)), 6,
      7, 3));
}

// One training step of each backend on the same random batch.
struct Step {
  std::vector<float> grads;
  BatchStats stats;
};

Step RunStep(BasicModel<float>& model, const std::vector<float>& params,
             const Batch& batch, bool prefetch) {
  Step step;
  step.grads.resize(params.size());
  if (prefetch) {
    EXPECT_TRUE(model.Prefetch(batch).ok());
  }
  EXPECT_TRUE(
      model
          .ForwardBackward(params.data(), batch, step.grads.data(), &step.stats)
          .ok());
  return step;
}

void ExpectStepsAgree(const Step& cuda, const Step& cpu) {
  testing::ExpectClose(cuda.grads, cpu.grads, kAgreement, "grad");
  EXPECT_NEAR(cuda.stats.loss_sum, cpu.stats.loss_sum,
              kAgreement * cpu.stats.loss_sum);
  EXPECT_NEAR(cuda.stats.correct, cpu.stats.correct, 1);  // Near-ties.
  EXPECT_EQ(cuda.stats.count, cpu.stats.count);
}

TEST_F(CudaModelTest, MlpMatchesCpuOnRandomBatches) {
  const std::vector<int64_t> sizes = {784, 256, 64, 10};
  constexpr int64_t kRows = 200;
  std::unique_ptr<Model> cuda = CudaMlp(sizes, kRows);
  std::unique_ptr<Model> cpu = *CreateCpuMlp(sizes, kRows);
  std::mt19937 rng(17);
  // Several steps through the same model: buffers are reused, batch sizes
  // vary, and every other step goes through Prefetch.
  for (int64_t rows : {kRows, int64_t{37}, kRows, int64_t{1}}) {
    const std::vector<float> params =
        testing::Uniform<float>(cpu->num_params(), 0.1, rng);
    const std::vector<float> x = testing::Uniform<float>(rows * 784, 1.0, rng);
    const std::vector<int32_t> y = testing::RandomLabels(rows, 10, rng);
    const Batch batch{x.data(), y.data(), rows, 784};
    ExpectStepsAgree(RunStep(*cuda, params, batch, rows == kRows),
                     RunStep(*cpu, params, batch, false));
    BatchStats cuda_eval, cpu_eval;
    ASSERT_TRUE(cuda->Evaluate(params.data(), batch, &cuda_eval).ok());
    ASSERT_TRUE(cpu->Evaluate(params.data(), batch, &cpu_eval).ok());
    EXPECT_NEAR(cuda_eval.loss_sum, cpu_eval.loss_sum,
                kAgreement * cpu_eval.loss_sum);
  }
}

// A prefetched batch is used once: the same buffers refilled with another
// batch and passed without Prefetch must be copied again.
TEST_F(CudaModelTest, PrefetchedCopyServesOneCall) {
  const std::vector<int64_t> sizes = {6, 4};
  std::unique_ptr<Model> cuda = CudaMlp(sizes, 4);
  std::unique_ptr<Model> cpu = *CreateCpuMlp(sizes, 4);
  std::mt19937 rng(4);
  const std::vector<float> params =
      testing::Uniform<float>(cpu->num_params(), 1.0, rng);
  std::vector<float> x = testing::Uniform<float>(4 * 6, 1.0, rng);
  std::vector<int32_t> y = testing::RandomLabels(4, 4, rng);
  const Batch batch{x.data(), y.data(), 4, 6};
  RunStep(*cuda, params, batch, /*prefetch=*/true);
  x = testing::Uniform<float>(4 * 6, 1.0, rng);  // Same size: same buffer.
  ExpectStepsAgree(RunStep(*cuda, params, batch, false),
                   RunStep(*cpu, params, batch, false));
}

TEST_F(CudaModelTest, EmbeddingModelMatchesCpu) {
  for (Head head : {Head::kLogistic, Head::kSoftmax}) {
    EmbeddingModelSpec spec = testing::SmallEmbeddingSpec(head);
    spec.slots = 6;
    spec.dim = 16;
    spec.hidden_sizes = {64, 32};
    spec.max_batch_rows = 128;
    std::unique_ptr<EmbeddingModel> cuda = CudaEmbedding(spec);
    std::unique_ptr<EmbeddingModel> cpu = *CreateCpuEmbeddingModel(spec);
    std::mt19937 rng(23);
    const std::vector<float> params =
        testing::Uniform<float>(cpu->num_dense_params(), 0.2, rng);
    const testing::EmbeddingInputs<double> in =
        testing::RandomEmbeddingInputs(spec, 128, 300, rng);
    const std::vector<float> rows = testing::Cast<float>(in.rows);
    const EmbeddingBatch batch{rows.data(), in.num_rows, in.index.data(),
                               in.labels.data(), in.examples};
    std::vector<float> dense[2], row_grads[2], logits[2];
    BatchStats stats[2];
    EmbeddingModel* models[2] = {cuda.get(), cpu.get()};
    for (int m = 0; m < 2; ++m) {
      dense[m].resize(params.size());
      row_grads[m].resize(rows.size());
      logits[m].resize(128 * spec.outputs);
      ASSERT_TRUE(models[m]
                      ->ForwardBackward(params.data(), batch, dense[m].data(),
                                        row_grads[m].data(), &stats[m])
                      .ok());
      BatchStats ignored;
      ASSERT_TRUE(
          models[m]
              ->Evaluate(params.data(), batch, &ignored, logits[m].data())
              .ok());
    }
    testing::ExpectClose(dense[0], dense[1], kAgreement, "dense grad");
    testing::ExpectClose(row_grads[0], row_grads[1], kAgreement, "row grad");
    testing::ExpectClose(logits[0], logits[1], kAgreement, "logit");
    EXPECT_NEAR(stats[0].loss_sum, stats[1].loss_sum,
                kAgreement * stats[1].loss_sum);
  }
}

// The wide part's hook through both backends: the same shifted logits,
// logit gradients and embedding gradients.
TEST_F(CudaModelTest, LogitOffsetMatchesCpu) {
  EmbeddingModelSpec spec = testing::SmallEmbeddingSpec(Head::kLogistic);
  spec.hidden_sizes = {16};
  spec.max_batch_rows = 64;
  std::unique_ptr<EmbeddingModel> cuda = CudaEmbedding(spec);
  std::unique_ptr<EmbeddingModel> cpu = *CreateCpuEmbeddingModel(spec);
  std::mt19937 rng(29);
  const std::vector<float> params =
      testing::Uniform<float>(cpu->num_dense_params(), 0.3, rng);
  const testing::EmbeddingInputs<double> in =
      testing::RandomEmbeddingInputs(spec, 64, 100, rng);
  const std::vector<float> rows = testing::Cast<float>(in.rows);
  const std::vector<float> offset = testing::Uniform<float>(64, 2.0, rng);
  std::vector<float> dense[2], row_grads[2], logit_grads[2], logits[2];
  EmbeddingModel* models[2] = {cuda.get(), cpu.get()};
  for (int m = 0; m < 2; ++m) {
    dense[m].resize(params.size());
    row_grads[m].resize(rows.size());
    logit_grads[m].resize(64);
    logits[m].resize(64);
    EmbeddingBatch batch{rows.data(), in.num_rows, in.index.data(),
                         in.labels.data(), in.examples};
    batch.logit_offset = offset.data();
    batch.logit_grads = logit_grads[m].data();
    BatchStats stats;
    ASSERT_TRUE(models[m]
                    ->ForwardBackward(params.data(), batch, dense[m].data(),
                                      row_grads[m].data(), &stats)
                    .ok());
    ASSERT_TRUE(models[m]
                    ->Evaluate(params.data(), batch, &stats, logits[m].data())
                    .ok());
  }
  testing::ExpectClose(dense[0], dense[1], kAgreement, "dense grad");
  testing::ExpectClose(row_grads[0], row_grads[1], kAgreement, "row grad");
  testing::ExpectClose(logit_grads[0], logit_grads[1], kAgreement,
                       "logit grad");
  testing::ExpectClose(logits[0], logits[1], kAgreement, "logit");
}

// The CUDA runtime's current device is per thread: a model built in one
// thread must work from another (the worker builds and trains in its task
// thread, but nothing requires that).
TEST_F(CudaModelTest, WorksFromAnotherThread) {
  std::unique_ptr<Model> cuda = CudaMlp({6, 4}, 4);
  const std::vector<float> params(cuda->num_params(), 0.1f);
  const std::vector<float> x(4 * 6, 1.0f);
  const std::vector<int32_t> y = {0, 1, 2, 3};
  std::vector<float> grads(params.size());
  absl::Status status;
  BatchStats stats;
  std::thread([&] {
    status = cuda->ForwardBackward(params.data(), {x.data(), y.data(), 4, 6},
                                   grads.data(), &stats);
  }).join();
  EXPECT_TRUE(status.ok()) << status;
  EXPECT_EQ(stats.count, 4);
}

TEST_F(CudaModelTest, RejectsBatchesThatDoNotFit) {
  std::unique_ptr<Model> cuda = CudaMlp({4, 3}, 2);
  const std::vector<float> params(cuda->num_params(), 0.0f);
  std::vector<float> grads(params.size());
  const std::vector<float> x(3 * 5, 0.0f);
  std::vector<int32_t> y = {0, 1, 3};
  BatchStats stats;
  EXPECT_EQ(cuda->ForwardBackward(params.data(), {x.data(), y.data(), 3, 4},
                                  grads.data(), &stats)
                .code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(
      cuda->Evaluate(params.data(), {x.data(), y.data(), 2, 5}, &stats).code(),
      absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(cuda->Prefetch({x.data(), y.data(), 3, 4}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(stats.count, 0);
}

TEST_F(CudaModelTest, ModelLargerThanGpuMemoryIsResourceExhausted) {
  const absl::Status status =
      CreateCudaMlp({784, int64_t{1} << 30, 10}, 512, 0).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kResourceExhausted) << status;
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("bytes of GPU memory"), HasSubstr("free of")));
}

TEST_F(CudaModelTest, MissingGpuIndexFailsCleanly) {
  const absl::Status status = CreateCudaMlp({4, 3}, 2, 1000).status();
  EXPECT_FALSE(status.ok());
  EXPECT_THAT(status.message(), HasSubstr("cudaSetDevice"));
}

}  // namespace
}  // namespace ps::worker
