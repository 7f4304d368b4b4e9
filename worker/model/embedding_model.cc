#include "worker/model/embedding_model.h"

#include <cmath>
#include <limits>

#include "absl/strings/str_format.h"

namespace ps::worker {
namespace {

constexpr int64_t kMaxRowIndex = std::numeric_limits<int32_t>::max();

absl::Status CheckRowIndex(const int32_t* index, int64_t n, int64_t num_rows,
                           int64_t slots) {
  for (int64_t j = 0; j < n; ++j) {
    if (index[j] < 0 || index[j] >= num_rows) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "batch.row_index[%d] (example %d, slot %d) is %d, expected a row "
          "in [0, num_rows = %d)",
          j, j / slots, j % slots, index[j], num_rows));
    }
  }
  return absl::OkStatus();
}

}  // namespace

std::vector<int64_t> EmbeddingDenseSizes(const EmbeddingModelSpec& spec) {
  std::vector<int64_t> sizes = {spec.slots * spec.dim};
  sizes.insert(sizes.end(), spec.hidden_sizes.begin(), spec.hidden_sizes.end());
  sizes.push_back(spec.outputs);
  return sizes;
}

absl::Status ValidateEmbeddingSpec(const EmbeddingModelSpec& spec) {
  if (spec.slots < 1 || spec.slots > kMaxRowIndex) {
    return absl::InvalidArgumentError(
        absl::StrFormat("slots is %d, expected at least 1", spec.slots));
  }
  if (spec.dim < 1 || spec.dim > kMaxMlpDimension) {
    return absl::InvalidArgumentError(
        absl::StrFormat("dim is %d, expected at least 1", spec.dim));
  }
  if (spec.outputs < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("outputs is %d, expected at least 1", spec.outputs));
  }
  if (spec.head == Head::kLogistic && spec.outputs != 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "outputs is %d, but the logistic head takes exactly 1", spec.outputs));
  }
  if (spec.slots * spec.dim > kMaxMlpDimension) {
    return absl::InvalidArgumentError(
        absl::StrFormat("slots * dim is %d * %d, expected at most %d inputs",
                        spec.slots, spec.dim, kMaxMlpDimension));
  }
  if (spec.max_batch_rows > kMaxRowIndex / spec.slots) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "max_batch_rows * slots is %d * %d, expected at most %d rows",
        spec.max_batch_rows, spec.slots, kMaxRowIndex));
  }
  return ValidateMlpShape(EmbeddingDenseSizes(spec), spec.head,
                          spec.max_batch_rows);
}

template <typename T>
absl::Status CheckEmbeddingBatch(const EmbeddingModelSpec& spec,
                                 const BasicEmbeddingBatch<T>& batch) {
  if (batch.rows == nullptr || batch.row_index == nullptr ||
      batch.labels == nullptr) {
    return absl::InvalidArgumentError(
        "batch.rows, batch.row_index and batch.labels must all be non-null");
  }
  if (absl::Status s =
          CheckBatchRows("batch.examples", batch.examples, spec.max_batch_rows);
      !s.ok()) {
    return s;
  }
  const int64_t max_rows = spec.max_batch_rows * spec.slots;
  if (batch.num_rows < 1 || batch.num_rows > max_rows) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batch.num_rows is %d, expected 1..max_batch_rows * slots = %d",
        batch.num_rows, max_rows));
  }
  if (absl::Status s =
          CheckRowIndex(batch.row_index, batch.examples * spec.slots,
                        batch.num_rows, spec.slots);
      !s.ok()) {
    return s;
  }
  if (spec.head != Head::kLogistic &&
      (batch.logit_offset != nullptr || batch.logit_grads != nullptr)) {
    return absl::InvalidArgumentError(
        "batch.logit_offset and batch.logit_grads must be null for the "
        "softmax head: they need the logistic head's single logit");
  }
  return CheckLabels("batch.labels", batch.labels, batch.examples, spec.head,
                     spec.outputs);
}

template <typename T>
void LogisticLogitGradients(const T* logits, const int32_t* labels,
                            int64_t examples, T* grads) {
  const T inv_examples = T{1} / static_cast<T>(examples);
  for (int64_t e = 0; e < examples; ++e) {
    const T z = logits[e];
    const T x = std::exp(-std::abs(z));  // In (0, 1]: never overflows.
    const T sigmoid = z >= T{0} ? T{1} / (T{1} + x) : x / (T{1} + x);
    grads[e] = (sigmoid - static_cast<T>(labels[e])) * inv_examples;
  }
}

template absl::Status CheckEmbeddingBatch<float>(
    const EmbeddingModelSpec&, const BasicEmbeddingBatch<float>&);
template absl::Status CheckEmbeddingBatch<double>(
    const EmbeddingModelSpec&, const BasicEmbeddingBatch<double>&);
template void LogisticLogitGradients<float>(const float*, const int32_t*,
                                            int64_t, float*);
template void LogisticLogitGradients<double>(const double*, const int32_t*,
                                             int64_t, double*);

}  // namespace ps::worker
