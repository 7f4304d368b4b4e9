// What every backend's stack of dense layers agrees on: the layer sizes, the
// flat parameter layout, the loss head, and the argument checks a backend
// runs before it computes, so the CPU and CUDA backends accept the same
// inputs and reject bad ones with the same messages.

#ifndef PS_WORKER_MODEL_MLP_SPEC_H_
#define PS_WORKER_MODEL_MLP_SPEC_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ps::worker {

// The loss on top of the last dense layer.
enum class Head {
  // layer_sizes.back() logits, softmax cross-entropy; labels are classes in
  // [0, layer_sizes.back()); a row is correct when its largest logit (the
  // first one on ties) is the label's.
  kSoftmax,
  // One logit z, sigmoid binary cross-entropy; labels are 0 or 1; a row is
  // correct when (z > 0) equals its label.
  kLogistic,
};

// Largest layer size and batch: BLAS takes int dimensions.
inline constexpr int64_t kMaxMlpDimension = (int64_t{1} << 31) - 1;

// Parameter layout, for layer l = 0 .. L-1 in order, with in = layer_sizes[l]
// and out = layer_sizes[l + 1]:
//   weight: in x out values, row-major, so a layer computes y = x * W + b;
//   bias:   out values.
// Hidden layers apply ReLU; the last layer's outputs are the head's logits.
//
// Number of values in that buffer. Expects sizes ValidateMlpShape accepts.
int64_t MlpParamCount(const std::vector<int64_t>& layer_sizes);

// Where each layer's weight starts in the buffer; its bias follows the
// weight at offset + in * out.
std::vector<int64_t> MlpLayerOffsets(const std::vector<int64_t>& layer_sizes);

// Values of scratch a backend keeps for batches of up to max_rows: each
// layer's output plus two gradient buffers as wide as the widest layer.
int64_t MlpScratchCount(const std::vector<int64_t>& layer_sizes,
                        int64_t max_rows);

// OK when there are at least 2 sizes, each in [1, kMaxMlpDimension],
// max_batch_rows is in [1, kMaxMlpDimension], the logistic head has exactly
// one output, and the parameters and scratch can be counted in an int64.
// Otherwise InvalidArgument naming the field, its value and what was
// expected.
absl::Status ValidateMlpShape(const std::vector<int64_t>& layer_sizes,
                              Head head, int64_t max_batch_rows);

// InvalidArgument naming `field` (e.g. "batch.rows") unless
// 1 <= rows <= max_rows.
absl::Status CheckBatchRows(absl::string_view field, int64_t rows,
                            int64_t max_rows);

// InvalidArgument naming `field`[i] (e.g. "batch.y[3]") for the first of
// labels[0, rows) the head rejects: outside [0, classes) for softmax, other
// than 0 or 1 for logistic.
absl::Status CheckLabels(absl::string_view field, const int32_t* labels,
                         int64_t rows, Head head, int64_t classes);

// ResourceExhausted, naming both figures, if `bytes` (what `what` needs)
// exceeds the machine's physical memory, so an absurd model fails its task
// instead of throwing std::bad_alloc through the worker daemon.
absl::Status CheckFitsHostMemory(double bytes, const char* what);

}  // namespace ps::worker

#endif  // PS_WORKER_MODEL_MLP_SPEC_H_
