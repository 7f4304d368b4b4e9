// Test helpers shared by the CPU and CUDA model tests: seeded random inputs,
// central-difference gradients in double precision, and the comparisons
// both backends must pass. Header-only; tests only.

#ifndef PS_WORKER_MODEL_GRADIENT_CHECK_H_
#define PS_WORKER_MODEL_GRADIENT_CHECK_H_

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "worker/model/embedding_model.h"
#include "worker/model/model.h"

namespace ps::worker::testing {

template <typename T>
std::vector<T> Uniform(int64_t n, double scale, std::mt19937& rng) {
  std::uniform_real_distribution<double> dist(-scale, scale);
  std::vector<T> v(n);
  for (T& x : v) x = static_cast<T>(dist(rng));
  return v;
}

// Labels in [0, classes); pass 2 for the logistic head.
inline std::vector<int32_t> RandomLabels(int64_t n, int64_t classes,
                                         std::mt19937& rng) {
  std::uniform_int_distribution<int32_t> dist(0, classes - 1);
  std::vector<int32_t> v(n);
  for (int32_t& label : v) label = dist(rng);
  return v;
}

template <typename To, typename From>
std::vector<To> Cast(const std::vector<From>& v) {
  return std::vector<To>(v.begin(), v.end());
}

// Step of the central differences: with doubles the truncation error
// (~h^2) and the rounding error (~1e-16 / h) are both below 1e-9.
// A small embedding model with `head`, for the backends' tests: 3 slots of
// dimension 4, one hidden layer of 5, 1 or 4 outputs, batches up to 8.
inline EmbeddingModelSpec SmallEmbeddingSpec(Head head) {
  EmbeddingModelSpec spec;
  spec.slots = 3;
  spec.dim = 4;
  spec.hidden_sizes = {5};
  spec.head = head;
  spec.outputs = head == Head::kLogistic ? 1 : 4;
  spec.max_batch_rows = 8;
  return spec;
}

inline constexpr double kStep = 1e-5;

// A double-precision check is tight: a wrong layer is off by far more.
inline bool GradientsAgree(double analytic, double numeric) {
  return std::abs(analytic - numeric) <= 1e-7 + 1e-5 * std::abs(numeric);
}

// Central differences of loss(values) with respect to each of values.
template <typename LossFn>
std::vector<double> NumericGradient(std::vector<double>& values,
                                    LossFn&& loss) {
  std::vector<double> gradient;
  gradient.reserve(values.size());
  for (double& v : values) {
    const double saved = v;
    v = saved + kStep;
    const double plus = loss();
    v = saved - kStep;
    const double minus = loss();
    v = saved;
    gradient.push_back((plus - minus) / (2 * kStep));
  }
  return gradient;
}

// Expects every pair to agree and the gradient not to be trivially zero
// (a check of all-zero gradients would prove nothing).
inline void ExpectGradientsMatch(const std::vector<double>& analytic,
                                 const std::vector<double>& numeric,
                                 const char* what) {
  ASSERT_EQ(analytic.size(), numeric.size()) << what;
  double largest = 0;
  for (size_t i = 0; i < numeric.size(); ++i) {
    EXPECT_TRUE(GradientsAgree(analytic[i], numeric[i]))
        << what << " " << i << ": analytic " << analytic[i] << ", numeric "
        << numeric[i];
    largest = std::max(largest, std::abs(numeric[i]));
  }
  EXPECT_GT(largest, 1e-3) << what;
}

// A dense model's analytic and numeric gradients on a random batch.
struct DenseGradients {
  std::vector<double> analytic;
  std::vector<double> numeric;
};

inline DenseGradients ComputeDenseGradients(BasicModel<double>& model,
                                            int64_t inputs, int64_t classes,
                                            int64_t rows, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> params = Uniform<double>(model.num_params(), 1.0, rng);
  const std::vector<double> x = Uniform<double>(rows * inputs, 1.0, rng);
  const std::vector<int32_t> y = RandomLabels(rows, classes, rng);
  const BasicBatch<double> batch{x.data(), y.data(), rows, inputs};
  DenseGradients g;
  g.analytic.resize(params.size());
  BatchStats stats;
  EXPECT_TRUE(
      model.ForwardBackward(params.data(), batch, g.analytic.data(), &stats)
          .ok());
  g.numeric = NumericGradient(params, [&] {
    BatchStats s;
    EXPECT_TRUE(model.Evaluate(params.data(), batch, &s).ok());
    return s.loss_sum / s.count;
  });
  return g;
}

// An embedding model's batch: `num_rows` rows for examples * slots pairs,
// so rows repeat (the scatter-add must sum them), and row num_rows - 1 is
// never used (its gradient must be zero).
template <typename T>
struct EmbeddingInputs {
  std::vector<T> rows;
  std::vector<int32_t> index;
  std::vector<int32_t> labels;
  int64_t num_rows = 0;
  int64_t examples = 0;

  BasicEmbeddingBatch<T> batch() const {
    return {rows.data(), num_rows, index.data(), labels.data(), examples};
  }
};

inline EmbeddingInputs<double> RandomEmbeddingInputs(
    const EmbeddingModelSpec& spec, int64_t examples, int64_t num_rows,
    std::mt19937& rng) {
  EmbeddingInputs<double> in;
  in.examples = examples;
  in.num_rows = num_rows;
  in.rows = Uniform<double>(num_rows * spec.dim, 1.0, rng);
  std::uniform_int_distribution<int32_t> row(0, num_rows - 2);
  in.index.resize(examples * spec.slots);
  for (int32_t& i : in.index) i = row(rng);
  const int64_t classes = spec.head == Head::kLogistic ? 2 : spec.outputs;
  in.labels = RandomLabels(examples, classes, rng);
  return in;
}

struct EmbeddingGradients {
  DenseGradients dense;
  DenseGradients rows;
};

inline EmbeddingGradients ComputeEmbeddingGradients(
    BasicEmbeddingModel<double>& model, int64_t examples, int64_t num_rows,
    uint32_t seed) {
  std::mt19937 rng(seed);
  const EmbeddingModelSpec& spec = model.spec();
  std::vector<double> params =
      Uniform<double>(model.num_dense_params(), 1.0, rng);
  EmbeddingInputs<double> in =
      RandomEmbeddingInputs(spec, examples, num_rows, rng);
  EmbeddingGradients g;
  g.dense.analytic.resize(params.size());
  g.rows.analytic.resize(in.rows.size());
  BatchStats stats;
  EXPECT_TRUE(model
                  .ForwardBackward(params.data(), in.batch(),
                                   g.dense.analytic.data(),
                                   g.rows.analytic.data(), &stats)
                  .ok());
  auto loss = [&] {
    BatchStats s;
    EXPECT_TRUE(model.Evaluate(params.data(), in.batch(), &s, nullptr).ok());
    return s.loss_sum / s.count;
  };
  g.dense.numeric = NumericGradient(params, loss);
  g.rows.numeric = NumericGradient(in.rows, loss);
  return g;
}

// Expects a to be b within `relative` of b's scale: each element's error is
// measured against the larger of |b_i| and 1% of the largest |b_j|, so that
// entries that are nearly zero (and carry only rounding noise) do not fail.
template <typename T>
void ExpectClose(const std::vector<T>& a, const std::vector<T>& b,
                 double relative, const char* what) {
  ASSERT_EQ(a.size(), b.size()) << what;
  double largest = 0;
  for (T v : b) largest = std::max(largest, std::abs(static_cast<double>(v)));
  for (size_t i = 0; i < a.size(); ++i) {
    const double scale =
        std::max(std::abs(static_cast<double>(b[i])), 0.01 * largest);
    EXPECT_LE(std::abs(static_cast<double>(a[i]) - b[i]), relative * scale)
        << what << " " << i << ": " << a[i] << " vs " << b[i];
  }
}

}  // namespace ps::worker::testing

#endif  // PS_WORKER_MODEL_GRADIENT_CHECK_H_
