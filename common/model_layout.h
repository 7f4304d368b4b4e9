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

// Dense datasets only (FASHION_MNIST); FLIGHTS examples are hashed keys.
absl::StatusOr<DatasetShape> ShapeOf(v1::Dataset dataset);

// True for the models over hashed sparse features (SPARSE_LR, WIDE_DEEP).
bool IsSparseModel(v1::ModelType type);

// The sparse models' settings with defaults resolved.
struct SparseModelShape {
  std::vector<v1::FlightFeature> features;  // never empty
  int hash_bits = 20;
  int embedding_dim = 0;  // WIDE_DEEP only; 0 for SPARSE_LR
};

// The features used when ModelSpec.features is empty.
std::vector<v1::FlightFeature> DefaultFlightFeatures();

// InvalidArgument naming the field unless `spec` describes a sparse model
// over FLIGHTS with valid features (each at most once), hash_bits and
// embedding_dim.
absl::StatusOr<SparseModelShape> SparseShapeOf(const v1::JobSpec& spec);

// Dense layer widths from input to output: {784, 256, 10} for an MLP with one
// hidden layer of 256 on Fashion-MNIST, {784, 10} for softmax regression;
// for WIDE_DEEP the deep part {slots * embedding_dim, hidden..., 1}; empty
// for SPARSE_LR.
absl::StatusOr<std::vector<int64_t>> LayerSizes(const v1::JobSpec& spec);

// Ensembles (ModelSpec.ensemble with members): several dense models of
// model.type in one job, each with tables of its own.
bool IsEnsemble(const v1::JobSpec& spec);

// Each member's dense layer widths, as LayerSizes gives them for a single
// model: a member's hidden_sizes, or model.hiddenSizes when it has none.
// Not an ensemble: LayerSizes(spec) as the only member. InvalidArgument
// naming the field for an ensemble of another model type or dataset.
absl::StatusOr<std::vector<std::vector<int64_t>>> MemberLayerSizes(
    const v1::JobSpec& spec);

// The seed of member `member`'s initialisation: its own, else
// training.seed + member (so member 0 starts as the single model would).
uint64_t MemberSeed(const v1::JobSpec& spec, int member);

// The members' fixed weights normalised to sum to 1; empty when they are
// to be fitted (no member has a weight).
std::vector<double> FixedEnsembleWeights(const v1::JobSpec& spec);

// The share of the training split held out of training to fit an
// ensemble's weights on: holdout_fraction with its default resolved; 0 for
// fixed weights and for a single model.
double HoldoutFraction(const v1::JobSpec& spec);

// The model's tables in flat-buffer order. Dense models: for each layer l,
// "layer<l>.weight" [in, out] then "layer<l>.bias" [out]. Weights and biases
// start uniform in +-1/sqrt(in) (PyTorch's nn.Linear default), seeded from
// spec.training.seed and the table's index.
//
// Sparse models: "wide" (SPARSE, dim 1, zeros), for WIDE_DEEP "embed"
// (SPARSE, dim embedding_dim, uniform in +-1/sqrt(embedding_dim)), then the
// dense "bias" (1 value, zero), then for WIDE_DEEP the deep layers as above.
// The worker's dense flat buffer holds the DENSE tables only, in this order.
//
// Ensembles: member i's layers as above, named "member<i>/layer<l>.weight"
// and ".bias", seeded from MemberSeed(spec, i) and counted from the member's
// first table; members in order.
//
// A dense model with training.averaging.mixing has ModelCopies(spec) copies
// of its tables, one per rank, in rank order, each name prefixed with
// "rank<r>/" (e.g. "rank1/layer0.weight") and each initialised as the single
// copy would be.
absl::StatusOr<std::vector<v1::TableDef>> ModelTables(const v1::JobSpec& spec);

// Copies of the model's tables: cluster.num_workers with a mixing matrix,
// else 1.
int ModelCopies(const v1::JobSpec& spec);

}  // namespace ps

#endif  // PS_COMMON_MODEL_LAYOUT_H_
