#include "common/model_layout.h"

#include <algorithm>
#include <cmath>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"

namespace ps {
namespace {

// Table i (0-based) of a model seeded with `seed` is seeded with
// seed * 1000003 + i + 1; an ensemble member's tables count from 0 again.
v1::TableDef& AddTable(const v1::JobSpec& spec, uint64_t seed,
                       int64_t first_table, std::string name,
                       std::vector<v1::TableDef>* tables) {
  v1::TableDef& t = tables->emplace_back();
  t.set_name(std::move(name));
  t.mutable_init()->set_seed(seed * 1000003 + tables->size() - first_table);
  *t.mutable_optimizer() = spec.optimizer();
  return t;
}

v1::TableDef& AddTable(const v1::JobSpec& spec, std::string name,
                       std::vector<v1::TableDef>* tables) {
  return AddTable(spec, spec.training().seed(), 0, std::move(name), tables);
}

// The layers' tables, "<prefix>layer<l>.weight" and ".bias", seeded with
// `seed`, counting tables from tables[first_table].
void AddDenseLayers(const v1::JobSpec& spec, const std::vector<int64_t>& sizes,
                    uint64_t seed, int64_t first_table,
                    const std::string& prefix,
                    std::vector<v1::TableDef>* tables) {
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    const int64_t in = sizes[l], out = sizes[l + 1];
    const float scale = 1.0f / std::sqrt(static_cast<float>(in));
    for (bool is_weight : {true, false}) {
      v1::TableDef& t = AddTable(
          spec, seed, first_table,
          absl::StrCat(prefix, "layer", l, is_weight ? ".weight" : ".bias"),
          tables);
      if (is_weight) t.add_shape(in);
      t.add_shape(out);
      t.set_size(is_weight ? in * out : out);
      t.mutable_init()->set_kind(v1::Initializer::UNIFORM);
      t.mutable_init()->set_scale(scale);
    }
  }
}

}  // namespace

absl::StatusOr<DatasetShape> ShapeOf(v1::Dataset dataset) {
  switch (dataset) {
    case v1::FASHION_MNIST:
      return DatasetShape{28 * 28, 10};
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("data.dataset: ", v1::Dataset_Name(dataset),
                       " has no dense input; allowed with model.type SOFTMAX "
                       "or MLP: FASHION_MNIST"));
  }
}

bool IsSparseModel(v1::ModelType type) {
  return type == v1::SPARSE_LR || type == v1::WIDE_DEEP;
}

std::vector<v1::FlightFeature> DefaultFlightFeatures() {
  return {v1::ORIGIN, v1::DEST,    v1::ROUTE,
          v1::HOUR,   v1::WEEKDAY, v1::DISTANCE_BUCKET};
}

absl::StatusOr<SparseModelShape> SparseShapeOf(const v1::JobSpec& spec) {
  const v1::ModelSpec& m = spec.model();
  if (!IsSparseModel(m.type())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.type: ", v1::ModelType_Name(m.type()),
        " is not a sparse model; allowed: SPARSE_LR, WIDE_DEEP"));
  }
  if (spec.data().dataset() != v1::FLIGHTS) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data.dataset: ", v1::Dataset_Name(spec.data().dataset()), " with ",
        v1::ModelType_Name(m.type()), "; allowed: FLIGHTS"));
  }
  SparseModelShape shape;
  absl::flat_hash_set<int> seen;
  for (int i = 0; i < m.features_size(); ++i) {
    const int f = m.features(i);
    if (f == v1::FLIGHT_FEATURE_UNSPECIFIED || !v1::FlightFeature_IsValid(f)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "model.features[", i, "]: ", f,
          " is not a feature; allowed: ORIGIN, DEST, ROUTE, HOUR, WEEKDAY, "
          "DISTANCE_BUCKET, ORIGIN_HOUR, DEST_HOUR"));
    }
    if (!seen.insert(f).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.features[", i, "]: ",
                       v1::FlightFeature_Name(m.features(i)),
                       " is repeated; allowed: each feature at most once"));
    }
    shape.features.push_back(m.features(i));
  }
  if (shape.features.empty()) shape.features = DefaultFlightFeatures();
  if (m.hash_bits() != 0) {
    if (m.hash_bits() < 1 || m.hash_bits() > 62) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.hashBits: ", m.hash_bits(),
                       " is out of range; allowed: 0 (20) or [1, 62]"));
    }
    shape.hash_bits = m.hash_bits();
  }
  if (m.type() == v1::SPARSE_LR) {
    if (m.hidden_sizes_size() > 0 || m.embedding_dim() != 0) {
      return absl::InvalidArgumentError(
          "model.hiddenSizes, model.embeddingDim: set for SPARSE_LR; allowed: "
          "unset (use WIDE_DEEP for a deep part)");
    }
  } else {
    shape.embedding_dim = m.embedding_dim() == 0 ? 8 : m.embedding_dim();
    if (shape.embedding_dim < 1 || shape.embedding_dim > 256) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.embeddingDim: ", m.embedding_dim(),
                       " is out of range; allowed: 0 (8) or [1, 256]"));
    }
  }
  return shape;
}

absl::StatusOr<std::vector<int64_t>> LayerSizes(const v1::JobSpec& spec) {
  const v1::ModelType type = spec.model().type();
  if (IsSparseModel(type)) {
    absl::StatusOr<SparseModelShape> shape = SparseShapeOf(spec);
    if (!shape.ok()) return shape.status();
    if (type == v1::SPARSE_LR) return std::vector<int64_t>{};
    std::vector<int64_t> sizes = {static_cast<int64_t>(shape->features.size()) *
                                  shape->embedding_dim};
    for (int32_t h : spec.model().hidden_sizes()) sizes.push_back(h);
    sizes.push_back(1);
    return sizes;
  }
  if (type != v1::SOFTMAX && type != v1::MLP) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.type: unknown model ", type,
        "; allowed: SOFTMAX, MLP (FASHION_MNIST), SPARSE_LR, WIDE_DEEP "
        "(FLIGHTS)"));
  }
  absl::StatusOr<DatasetShape> shape = ShapeOf(spec.data().dataset());
  if (!shape.ok()) return shape.status();
  std::vector<int64_t> sizes = {shape->input_dim};
  if (type == v1::MLP) {
    for (int32_t h : spec.model().hidden_sizes()) sizes.push_back(h);
  }
  sizes.push_back(shape->num_classes);
  return sizes;
}

int ModelCopies(const v1::JobSpec& spec) {
  return spec.training().averaging().mixing().empty()
             ? 1
             : std::max(1, spec.cluster().num_workers());
}

bool IsEnsemble(const v1::JobSpec& spec) {
  return spec.model().ensemble().members_size() > 0;
}

absl::StatusOr<std::vector<std::vector<int64_t>>> MemberLayerSizes(
    const v1::JobSpec& spec) {
  if (!IsEnsemble(spec)) {
    absl::StatusOr<std::vector<int64_t>> sizes = LayerSizes(spec);
    if (!sizes.ok()) return sizes.status();
    return std::vector<std::vector<int64_t>>{*std::move(sizes)};
  }
  const v1::ModelType type = spec.model().type();
  if (type != v1::SOFTMAX && type != v1::MLP) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.ensemble: set for model.type ", v1::ModelType_Name(type),
        "; allowed: ensembles of SOFTMAX or MLP models on FASHION_MNIST"));
  }
  absl::StatusOr<DatasetShape> shape = ShapeOf(spec.data().dataset());
  if (!shape.ok()) return shape.status();
  std::vector<std::vector<int64_t>> members;
  for (const v1::EnsembleMember& m : spec.model().ensemble().members()) {
    std::vector<int64_t>& sizes = members.emplace_back();
    sizes.push_back(shape->input_dim);
    if (type == v1::MLP) {
      const auto& hidden = m.hidden_sizes().empty()
                               ? spec.model().hidden_sizes()
                               : m.hidden_sizes();
      sizes.insert(sizes.end(), hidden.begin(), hidden.end());
    }
    sizes.push_back(shape->num_classes);
  }
  return members;
}

uint64_t MemberSeed(const v1::JobSpec& spec, int member) {
  const v1::EnsembleMember& m = spec.model().ensemble().members(member);
  return m.has_seed() ? m.seed() : spec.training().seed() + member;
}

std::vector<double> FixedEnsembleWeights(const v1::JobSpec& spec) {
  const auto& members = spec.model().ensemble().members();
  std::vector<double> weights;
  double sum = 0;
  for (const v1::EnsembleMember& m : members) {
    if (!m.has_weight()) return {};
    weights.push_back(m.weight());
    sum += m.weight();
  }
  for (double& w : weights) w = sum > 0 ? w / sum : 1.0 / weights.size();
  return weights;
}

double HoldoutFraction(const v1::JobSpec& spec) {
  if (!IsEnsemble(spec) || !FixedEnsembleWeights(spec).empty()) return 0;
  const float f = spec.model().ensemble().holdout_fraction();
  return f == 0 ? 0.1 : f;
}

absl::StatusOr<std::vector<v1::TableDef>> ModelTables(const v1::JobSpec& spec) {
  std::vector<v1::TableDef> tables;
  if (IsEnsemble(spec)) {
    absl::StatusOr<std::vector<std::vector<int64_t>>> members =
        MemberLayerSizes(spec);
    if (!members.ok()) return members.status();
    for (size_t i = 0; i < members->size(); ++i) {
      AddDenseLayers(spec, (*members)[i], MemberSeed(spec, i),
                     static_cast<int64_t>(tables.size()),
                     absl::StrCat("member", i, "/"), &tables);
    }
    return tables;
  }
  absl::StatusOr<std::vector<int64_t>> sizes = LayerSizes(spec);
  if (!sizes.ok()) return sizes.status();
  if (!IsSparseModel(spec.model().type())) {
    AddDenseLayers(spec, *sizes, spec.training().seed(), 0, "", &tables);
    const int copies = ModelCopies(spec);
    if (copies == 1) return tables;
    // One copy per rank, each seeded as the single copy is, so that every
    // rank starts from the same model.
    std::vector<v1::TableDef> per_rank;
    for (int r = 0; r < copies; ++r) {
      for (const v1::TableDef& t : tables) {
        per_rank.push_back(t);
        per_rank.back().set_name(absl::StrCat("rank", r, "/", t.name()));
      }
    }
    return per_rank;
  }
  absl::StatusOr<SparseModelShape> shape = SparseShapeOf(spec);
  if (!shape.ok()) return shape.status();
  const int64_t keys = int64_t{1} << shape->hash_bits;
  v1::TableDef& wide = AddTable(spec, "wide", &tables);
  wide.set_kind(v1::SPARSE);
  wide.set_dim(1);
  wide.add_shape(keys);
  wide.add_shape(1);
  wide.mutable_init()->set_kind(v1::Initializer::ZEROS);
  if (spec.model().type() == v1::WIDE_DEEP) {
    v1::TableDef& embed = AddTable(spec, "embed", &tables);
    embed.set_kind(v1::SPARSE);
    embed.set_dim(shape->embedding_dim);
    embed.add_shape(keys);
    embed.add_shape(shape->embedding_dim);
    embed.mutable_init()->set_kind(v1::Initializer::UNIFORM);
    embed.mutable_init()->set_scale(
        1.0f / std::sqrt(static_cast<float>(shape->embedding_dim)));
  }
  v1::TableDef& bias = AddTable(spec, "bias", &tables);
  bias.add_shape(1);
  bias.set_size(1);
  bias.mutable_init()->set_kind(v1::Initializer::ZEROS);
  AddDenseLayers(spec, *sizes, spec.training().seed(), 0, "", &tables);
  return tables;
}

}  // namespace ps
