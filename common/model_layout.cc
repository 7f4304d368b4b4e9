#include "common/model_layout.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace ps {

absl::StatusOr<DatasetShape> ShapeOf(v1::Dataset dataset) {
  switch (dataset) {
    case v1::FASHION_MNIST:
      return DatasetShape{28 * 28, 10};
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("data.dataset: unknown dataset ", dataset,
                       "; allowed: FASHION_MNIST"));
  }
}

absl::StatusOr<std::vector<int64_t>> LayerSizes(const v1::JobSpec& spec) {
  absl::StatusOr<DatasetShape> shape = ShapeOf(spec.data().dataset());
  if (!shape.ok()) return shape.status();
  std::vector<int64_t> sizes = {shape->input_dim};
  switch (spec.model().type()) {
    case v1::SOFTMAX:
      break;
    case v1::MLP:
      for (int32_t h : spec.model().hidden_sizes()) sizes.push_back(h);
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("model.type: unknown model ", spec.model().type(),
                       "; allowed: SOFTMAX, MLP"));
  }
  sizes.push_back(shape->num_classes);
  return sizes;
}

absl::StatusOr<std::vector<v1::TableDef>> ModelTables(const v1::JobSpec& spec) {
  absl::StatusOr<std::vector<int64_t>> sizes = LayerSizes(spec);
  if (!sizes.ok()) return sizes.status();
  std::vector<v1::TableDef> tables;
  for (size_t l = 0; l + 1 < sizes->size(); ++l) {
    const int64_t in = (*sizes)[l], out = (*sizes)[l + 1];
    const float scale = 1.0f / std::sqrt(static_cast<float>(in));
    for (bool is_weight : {true, false}) {
      v1::TableDef& t = tables.emplace_back();
      t.set_name(absl::StrCat("layer", l, is_weight ? ".weight" : ".bias"));
      if (is_weight) t.add_shape(in);
      t.add_shape(out);
      t.set_size(is_weight ? in * out : out);
      t.mutable_init()->set_kind(v1::Initializer::UNIFORM);
      t.mutable_init()->set_scale(scale);
      t.mutable_init()->set_seed(spec.training().seed() * 1000003 + tables.size());
      *t.mutable_optimizer() = spec.optimizer();
    }
  }
  return tables;
}

}  // namespace ps
