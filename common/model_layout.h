// What a job's model looks like as parameter tables. Shared by the
// coordinator (which creates the tables on the servers) and the worker (whose
// compute backend lays them out in one flat buffer in the same order).
#ifndef PS_COMMON_MODEL_LAYOUT_H_
#define PS_COMMON_MODEL_LAYOUT_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps {

struct DatasetShape {
  int64_t input_dim = 0;
  int64_t num_classes = 0;
};

absl::StatusOr<DatasetShape> ShapeOf(v1::Dataset dataset);

// Dense layer widths from input to output: {784, 256, 10} for an MLP with one
// hidden layer of 256 on Fashion-MNIST, {784, 10} for softmax regression.
absl::StatusOr<std::vector<int64_t>> LayerSizes(const v1::JobSpec& spec);

// One table per tensor, in flat-buffer order: for each layer l,
// "layer<l>.weight" [in, out] then "layer<l>.bias" [out]. Weights and biases
// start uniform in +-1/sqrt(in) (PyTorch's nn.Linear default), seeded from
// spec.training.seed and the table's index.
absl::StatusOr<std::vector<v1::TableDef>> ModelTables(const v1::JobSpec& spec);

}  // namespace ps

#endif  // PS_COMMON_MODEL_LAYOUT_H_
