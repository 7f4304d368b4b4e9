#include "worker/model/flights_model.h"

#include <algorithm>
#include <cmath>
#include <utility>

#include "absl/strings/str_format.h"
#include "worker/cpu/cpu_kernels.h"
#include "worker/model/embedding_model.h"

namespace ps::worker {
namespace {

// The shape CheckEmbeddingBatch validates a batch against, with the "wide"
// rows standing in for the embedding rows: the same bounds on examples,
// rows, row indices and labels.
EmbeddingModelSpec WideCheckSpec(const FlightsModelSpec& spec) {
  EmbeddingModelSpec check;
  check.slots = spec.slots;
  check.dim = 1;
  check.head = Head::kLogistic;
  check.max_batch_rows = spec.max_batch;
  return check;
}

absl::Status CheckWideCall(const EmbeddingModelSpec& check,
                           const FlightsParams& params,
                           const FlightsBatch& batch) {
  if (params.dense == nullptr) {
    return absl::InvalidArgumentError("params.dense must be non-null");
  }
  return CheckEmbeddingBatch(
      check, EmbeddingBatch{params.wide, batch.num_rows, batch.row_index,
                            batch.labels, batch.examples});
}

// logits[e] = bias + sum over example e's slots of its wide rows.
void WideLogits(float bias, const float* wide, const FlightsBatch& batch,
                int64_t slots, float* logits) {
  const int32_t* index = batch.row_index;
  for (int64_t e = 0; e < batch.examples; ++e, index += slots) {
    float z = bias;
    for (int64_t f = 0; f < slots; ++f) z += wide[index[f]];
    logits[e] = z;
  }
}

// The wide part's backward pass from d(loss)/d(logit): the bias gradient
// into *bias_grad and each row's summed gradient into wide_grads (num_rows
// values, overwritten).
void WideBackward(const float* dlogits, const FlightsBatch& batch,
                  int64_t slots, float* bias_grad, float* wide_grads) {
  std::fill_n(wide_grads, batch.num_rows, 0.0f);
  double bias = 0;
  const int32_t* index = batch.row_index;
  for (int64_t e = 0; e < batch.examples; ++e, index += slots) {
    const float g = dlogits[e];
    bias += g;
    for (int64_t f = 0; f < slots; ++f) wide_grads[index[f]] += g;
  }
  *bias_grad = static_cast<float>(bias);
}

class SparseLrModel final : public FlightsModel {
 public:
  explicit SparseLrModel(const FlightsModelSpec& spec)
      : spec_(spec),
        check_(WideCheckSpec(spec)),
        logits_(spec.max_batch),
        dlogits_(spec.max_batch) {}

  const FlightsModelSpec& spec() const override { return spec_; }
  int64_t num_dense() const override { return 1; }
  std::vector<int64_t> table_dims() const override { return {1}; }

  absl::Status ForwardBackward(const FlightsParams& params,
                               const FlightsBatch& batch,
                               const FlightsGrads& grads,
                               BatchStats* stats) override {
    if (grads.dense == nullptr || grads.wide == nullptr || stats == nullptr) {
      return absl::InvalidArgumentError(
          "grads.dense, grads.wide and stats must be non-null");
    }
    if (absl::Status s = CheckWideCall(check_, params, batch); !s.ok())
      return s;
    WideLogits(params.dense[0], params.wide, batch, spec_.slots,
               logits_.data());
    cpu::LogisticLoss<float>(logits_.data(), batch.labels, batch.examples,
                             dlogits_.data(), stats);
    WideBackward(dlogits_.data(), batch, spec_.slots, &grads.dense[0],
                 grads.wide);
    return absl::OkStatus();
  }

  absl::Status Logits(const FlightsParams& params, const FlightsBatch& batch,
                      float* logits) override {
    if (logits == nullptr) {
      return absl::InvalidArgumentError("logits must be non-null");
    }
    if (absl::Status s = CheckWideCall(check_, params, batch); !s.ok())
      return s;
    WideLogits(params.dense[0], params.wide, batch, spec_.slots, logits);
    return absl::OkStatus();
  }

 private:
  FlightsModelSpec spec_;
  EmbeddingModelSpec check_;
  std::vector<float> logits_;
  std::vector<float> dlogits_;
};

// The wide part is computed here and handed to the embedding model as a
// logit offset; the model hands back d(loss)/d(logit) for the wide backward.
class WideDeepModel final : public FlightsModel {
 public:
  WideDeepModel(const FlightsModelSpec& spec,
                std::unique_ptr<EmbeddingModel> deep)
      : spec_(spec),
        check_(WideCheckSpec(spec)),
        deep_(std::move(deep)),
        wide_logits_(spec.max_batch),
        dlogits_(spec.max_batch) {}

  const FlightsModelSpec& spec() const override { return spec_; }
  int64_t num_dense() const override { return 1 + deep_->num_dense_params(); }
  std::vector<int64_t> table_dims() const override {
    return {1, spec_.embedding_dim};
  }

  absl::Status ForwardBackward(const FlightsParams& params,
                               const FlightsBatch& batch,
                               const FlightsGrads& grads,
                               BatchStats* stats) override {
    if (grads.dense == nullptr || grads.wide == nullptr ||
        grads.embed == nullptr) {
      return absl::InvalidArgumentError(
          "grads.dense, grads.wide and grads.embed must be non-null");
    }
    if (absl::Status s = CheckCall(params, batch); !s.ok()) return s;
    WideLogits(params.dense[0], params.wide, batch, spec_.slots,
               wide_logits_.data());
    EmbeddingBatch deep = DeepBatch(params, batch);
    deep.logit_grads = dlogits_.data();
    if (absl::Status s = deep_->ForwardBackward(
            params.dense + 1, deep, grads.dense + 1, grads.embed, stats);
        !s.ok()) {
      return s;
    }
    WideBackward(dlogits_.data(), batch, spec_.slots, &grads.dense[0],
                 grads.wide);
    return absl::OkStatus();
  }

  absl::Status Logits(const FlightsParams& params, const FlightsBatch& batch,
                      float* logits) override {
    if (logits == nullptr) {
      return absl::InvalidArgumentError("logits must be non-null");
    }
    if (absl::Status s = CheckCall(params, batch); !s.ok()) return s;
    WideLogits(params.dense[0], params.wide, batch, spec_.slots,
               wide_logits_.data());
    BatchStats ignored;
    return deep_->Evaluate(params.dense + 1, DeepBatch(params, batch), &ignored,
                           logits);
  }

 private:
  absl::Status CheckCall(const FlightsParams& params,
                         const FlightsBatch& batch) const {
    if (params.embed == nullptr) {
      return absl::InvalidArgumentError(
          "params.embed must be non-null: WIDE_DEEP reads the embed rows");
    }
    return CheckWideCall(check_, params, batch);
  }

  EmbeddingBatch DeepBatch(const FlightsParams& params,
                           const FlightsBatch& batch) const {
    EmbeddingBatch deep{params.embed, batch.num_rows, batch.row_index,
                        batch.labels, batch.examples};
    deep.logit_offset = wide_logits_.data();
    return deep;
  }

  FlightsModelSpec spec_;
  EmbeddingModelSpec check_;
  std::unique_ptr<EmbeddingModel> deep_;
  std::vector<float> wide_logits_;  // bias + wide sum, the deep offset.
  std::vector<float> dlogits_;
};

EmbeddingModelSpec DeepSpec(const FlightsModelSpec& spec) {
  EmbeddingModelSpec deep;
  deep.slots = spec.slots;
  deep.dim = spec.embedding_dim;
  deep.hidden_sizes = spec.hidden_sizes;
  deep.head = Head::kLogistic;
  deep.outputs = 1;
  deep.max_batch_rows = spec.max_batch;
  return deep;
}

}  // namespace

absl::Status ValidateFlightsModelSpec(const FlightsModelSpec& spec) {
  if (spec.slots < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("slots is %d, expected at least 1", spec.slots));
  }
  if (spec.max_batch < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_batch is %d, expected at least 1", spec.max_batch));
  }
  if (spec.type == FlightsModelType::kWideDeep && spec.embedding_dim < 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "embedding_dim is %d, expected at least 1", spec.embedding_dim));
  }
  // Also bounds max_batch * slots for the int32 row indices.
  return ValidateEmbeddingSpec(spec.type == FlightsModelType::kWideDeep
                                   ? DeepSpec(spec)
                                   : WideCheckSpec(spec));
}

absl::StatusOr<std::unique_ptr<FlightsModel>> CreateFlightsModel(
    const FlightsModelSpec& spec, const ComputeOptions& options) {
  if (absl::Status s = ValidateFlightsModelSpec(spec); !s.ok()) return s;
  if (spec.type == FlightsModelType::kSparseLr) {
    return std::make_unique<SparseLrModel>(spec);
  }
  absl::StatusOr<std::unique_ptr<EmbeddingModel>> deep =
      CreateEmbeddingModel(DeepSpec(spec), options);
  if (!deep.ok()) return deep.status();
  return std::make_unique<WideDeepModel>(spec, *std::move(deep));
}

}  // namespace ps::worker
