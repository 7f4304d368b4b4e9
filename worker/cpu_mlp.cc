#include "worker/cpu_mlp.h"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

namespace ps::worker {
namespace {

// C (m x n) = op(A) * op(B) for dense row-major matrices, where op(A) is
// m x k and op(B) is k x n. Sizes fit blasint: the factory bounds them.
void Gemm(CBLAS_TRANSPOSE trans_a, CBLAS_TRANSPOSE trans_b, int64_t m,
          int64_t n, int64_t k, const float* a, const float* b, float* c) {
  const int64_t lda = trans_a == CblasNoTrans ? k : m;
  const int64_t ldb = trans_b == CblasNoTrans ? n : k;
  cblas_sgemm(CblasRowMajor, trans_a, trans_b, m, n, k, 1.0f, a, lda, b, ldb,
              0.0f, c, n);
}

void AddBias(const float* bias, int64_t rows, int64_t cols, float* out) {
  for (int64_t r = 0; r < rows; ++r, out += cols) {
    for (int64_t c = 0; c < cols; ++c) out[c] += bias[c];
  }
}

void Relu(int64_t n, float* x) {
  for (int64_t i = 0; i < n; ++i) x[i] = std::max(x[i], 0.0f);
}

// Zeroes the gradient wherever the ReLU's output (hence its input) was <= 0.
void ReluBackward(const float* activations, int64_t n, float* grad) {
  for (int64_t i = 0; i < n; ++i) {
    grad[i] = activations[i] > 0.0f ? grad[i] : 0.0f;
  }
}

void ColumnSums(const float* x, int64_t rows, int64_t cols, float* sums) {
  std::fill(sums, sums + cols, 0.0f);
  for (int64_t r = 0; r < rows; ++r, x += cols) {
    for (int64_t c = 0; c < cols; ++c) sums[c] += x[c];
  }
}

// Adds each row's softmax cross-entropy loss and correctness to *stats. When
// dlogits is non-null it also receives d(mean loss)/d(logits). Subtracting
// the row max before exp keeps large logits from overflowing.
void SoftmaxCrossEntropy(const float* logits, const int32_t* labels,
                         int64_t rows, int64_t classes, float* dlogits,
                         BatchStats* stats) {
  const float inv_rows = 1.0f / static_cast<float>(rows);
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * classes;
    const int64_t argmax = std::max_element(z, z + classes) - z;
    const float max = z[argmax];
    float sum = 0.0f;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(z[c] - max);
    stats->loss_sum += std::log(sum) - (z[labels[r]] - max);
    stats->correct += argmax == labels[r];
    if (dlogits == nullptr) continue;
    float* d = dlogits + r * classes;
    for (int64_t c = 0; c < classes; ++c) {
      d[c] = std::exp(z[c] - max) / sum * inv_rows;
    }
    d[labels[r]] -= inv_rows;
  }
  stats->count += rows;
}

class CpuMlp final : public Model {
 public:
  CpuMlp(std::vector<int64_t> sizes, int64_t max_rows)
      : sizes_(std::move(sizes)), max_rows_(max_rows) {
    int64_t widest = 0;
    for (int l = 0; l < num_layers(); ++l) {
      offsets_.push_back(num_params_);
      num_params_ += sizes_[l] * sizes_[l + 1] + sizes_[l + 1];
      activations_.emplace_back(max_rows * sizes_[l + 1]);
      widest = std::max(widest, sizes_[l + 1]);
    }
    delta_.resize(max_rows * widest);
    next_delta_.resize(max_rows * widest);
  }

  int64_t num_params() const override { return num_params_; }

  absl::Status ForwardBackward(const float* params, const Batch& batch,
                               float* grads, BatchStats* stats) override {
    if (grads == nullptr) return absl::InvalidArgumentError("grads is null");
    if (absl::Status s = CheckArgs(params, batch, stats); !s.ok()) return s;
    const float* logits = Forward(params, batch);
    SoftmaxCrossEntropy(logits, batch.y, batch.rows, sizes_.back(),
                        delta_.data(), stats);
    Backward(params, batch, grads);
    return absl::OkStatus();
  }

  absl::Status Evaluate(const float* params, const Batch& batch,
                        BatchStats* stats) override {
    if (absl::Status s = CheckArgs(params, batch, stats); !s.ok()) return s;
    const float* logits = Forward(params, batch);
    SoftmaxCrossEntropy(logits, batch.y, batch.rows, sizes_.back(),
                        /*dlogits=*/nullptr, stats);
    return absl::OkStatus();
  }

 private:
  int num_layers() const { return static_cast<int>(sizes_.size()) - 1; }

  absl::Status CheckArgs(const float* params, const Batch& batch,
                         const BatchStats* stats) const;

  // Runs every layer over the batch, leaving layer l's output in
  // activations_[l]; returns the logits (the last layer's output).
  const float* Forward(const float* params, const Batch& batch);

  // Back-propagates the logit gradient held in delta_ into grads.
  void Backward(const float* params, const Batch& batch, float* grads);

  std::vector<int64_t> sizes_;
  int64_t max_rows_;
  int64_t num_params_ = 0;
  std::vector<int64_t> offsets_;  // Start of layer l's weights in params.
  // Scratch, sized for max_rows_ in the constructor and reused every call.
  std::vector<std::vector<float>> activations_;
  std::vector<float> delta_;       // d(loss)/d(current layer's output).
  std::vector<float> next_delta_;  // d(loss)/d(current layer's input).
};

absl::Status CpuMlp::CheckArgs(const float* params, const Batch& batch,
                               const BatchStats* stats) const {
  if (params == nullptr || stats == nullptr || batch.x == nullptr ||
      batch.y == nullptr) {
    return absl::InvalidArgumentError(
        "params, stats, batch.x and batch.y must all be non-null");
  }
  if (batch.dim != sizes_[0]) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batch.dim is %d, expected layer_sizes[0] = %d", batch.dim, sizes_[0]));
  }
  if (batch.rows < 1 || batch.rows > max_rows_) {
    return absl::InvalidArgumentError(
        absl::StrFormat("batch.rows is %d, expected 1..max_batch_rows = %d",
                        batch.rows, max_rows_));
  }
  const int64_t classes = sizes_.back();
  for (int64_t r = 0; r < batch.rows; ++r) {
    if (batch.y[r] < 0 || batch.y[r] >= classes) {
      return absl::InvalidArgumentError(
          absl::StrFormat("batch.y[%d] is %d, expected a class in [0, %d)", r,
                          batch.y[r], classes));
    }
  }
  return absl::OkStatus();
}

const float* CpuMlp::Forward(const float* params, const Batch& batch) {
  const float* in = batch.x;
  for (int l = 0; l < num_layers(); ++l) {
    const int64_t n_in = sizes_[l];
    const int64_t n_out = sizes_[l + 1];
    const float* weight = params + offsets_[l];
    float* out = activations_[l].data();
    Gemm(CblasNoTrans, CblasNoTrans, batch.rows, n_out, n_in, in, weight, out);
    AddBias(weight + n_in * n_out, batch.rows, n_out, out);
    if (l + 1 < num_layers()) Relu(batch.rows * n_out, out);
    in = out;
  }
  return in;
}

void CpuMlp::Backward(const float* params, const Batch& batch, float* grads) {
  float* dy = delta_.data();
  float* dx = next_delta_.data();
  for (int l = num_layers() - 1; l >= 0; --l) {
    const int64_t n_in = sizes_[l];
    const int64_t n_out = sizes_[l + 1];
    const float* in = l == 0 ? batch.x : activations_[l - 1].data();
    float* grad_weight = grads + offsets_[l];
    Gemm(CblasTrans, CblasNoTrans, n_in, n_out, batch.rows, in, dy,
         grad_weight);
    ColumnSums(dy, batch.rows, n_out, grad_weight + n_in * n_out);
    if (l == 0) break;  // Nothing upstream needs the input gradient.
    Gemm(CblasNoTrans, CblasTrans, batch.rows, n_in, n_out, dy,
         params + offsets_[l], dx);
    ReluBackward(in, batch.rows * n_in, dx);
    std::swap(dy, dx);
  }
}

}  // namespace

int64_t MlpParamCount(const std::vector<int64_t>& layer_sizes) {
  int64_t count = 0;
  for (size_t l = 0; l + 1 < layer_sizes.size(); ++l) {
    count += layer_sizes[l] * layer_sizes[l + 1] + layer_sizes[l + 1];
  }
  return count;
}

absl::StatusOr<std::unique_ptr<Model>> CreateCpuMlp(
    std::vector<int64_t> layer_sizes, int64_t max_batch_rows) {
  if (layer_sizes.size() < 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "layer_sizes has %d entries, expected at least 2 (inputs, classes)",
        layer_sizes.size()));
  }
  // BLAS takes int dimensions; larger layers would not fit in memory anyway.
  constexpr int64_t kMaxSize = std::numeric_limits<int>::max();
  for (size_t l = 0; l < layer_sizes.size(); ++l) {
    if (layer_sizes[l] < 1 || layer_sizes[l] > kMaxSize) {
      return absl::InvalidArgumentError(
          absl::StrFormat("layer_sizes[%d] is %d, expected 1..%d", l,
                          layer_sizes[l], kMaxSize));
    }
  }
  if (max_batch_rows < 1 || max_batch_rows > kMaxSize) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_batch_rows is %d, expected 1..%d", max_batch_rows, kMaxSize));
  }
  return std::make_unique<CpuMlp>(std::move(layer_sizes), max_batch_rows);
}

}  // namespace ps::worker
