// Test helper shared by the CPU and CUDA embedding model tests: the
// gradients of a logistic embedding model whose logits carry a per-example
// offset (batch.logit_offset), analytic against central differences in
// double, including the logit gradients (batch.logit_grads), which must
// equal d(mean loss)/d(offset). Header-only; tests only.

#ifndef PS_WORKER_MODEL_LOGIT_OFFSET_CHECK_H_
#define PS_WORKER_MODEL_LOGIT_OFFSET_CHECK_H_

#include <cstdint>
#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "worker/model/embedding_model.h"
#include "worker/model/gradient_check.h"

namespace ps::worker::testing {

struct OffsetGradients {
  EmbeddingGradients embedding;
  DenseGradients offset;  // analytic: batch.logit_grads.
};

inline OffsetGradients ComputeOffsetGradients(
    BasicEmbeddingModel<double>& model, int64_t examples, int64_t num_rows,
    uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<double> params =
      Uniform<double>(model.num_dense_params(), 1.0, rng);
  EmbeddingInputs<double> in =
      RandomEmbeddingInputs(model.spec(), examples, num_rows, rng);
  std::vector<double> offset = Uniform<double>(examples, 2.0, rng);
  OffsetGradients g;
  g.embedding.dense.analytic.resize(params.size());
  g.embedding.rows.analytic.resize(in.rows.size());
  g.offset.analytic.resize(examples);
  BasicEmbeddingBatch<double> batch = in.batch();
  batch.logit_offset = offset.data();
  batch.logit_grads = g.offset.analytic.data();
  BatchStats stats;
  EXPECT_TRUE(model
                  .ForwardBackward(params.data(), batch,
                                   g.embedding.dense.analytic.data(),
                                   g.embedding.rows.analytic.data(), &stats)
                  .ok());
  auto loss = [&] {
    BasicEmbeddingBatch<double> b = in.batch();
    b.logit_offset = offset.data();
    BatchStats s;
    EXPECT_TRUE(model.Evaluate(params.data(), b, &s, nullptr).ok());
    return s.loss_sum / s.count;
  };
  g.embedding.dense.numeric = NumericGradient(params, loss);
  g.embedding.rows.numeric = NumericGradient(in.rows, loss);
  g.offset.numeric = NumericGradient(offset, loss);
  return g;
}

inline void ExpectOffsetGradientsMatch(const OffsetGradients& g) {
  ExpectGradientsMatch(g.embedding.dense.analytic, g.embedding.dense.numeric,
                       "dense param");
  ExpectGradientsMatch(g.embedding.rows.analytic, g.embedding.rows.numeric,
                       "row value");
  ExpectGradientsMatch(g.offset.analytic, g.offset.numeric, "logit offset");
}

}  // namespace ps::worker::testing

#endif  // PS_WORKER_MODEL_LOGIT_OFFSET_CHECK_H_
