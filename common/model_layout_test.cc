#include "common/model_layout.h"

#include "gtest/gtest.h"

namespace ps {
namespace {

v1::JobSpec MlpSpec() {
  v1::JobSpec spec;
  spec.mutable_model()->set_type(v1::MLP);
  spec.mutable_model()->add_hidden_sizes(256);
  spec.mutable_data()->set_dataset(v1::FASHION_MNIST);
  spec.mutable_optimizer()->set_type(v1::SGD);
  spec.mutable_optimizer()->set_learning_rate(0.1f);
  return spec;
}

TEST(ModelLayoutTest, MlpHasWeightAndBiasPerLayerInOrder) {
  absl::StatusOr<std::vector<v1::TableDef>> tables = ModelTables(MlpSpec());
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 4u);
  EXPECT_EQ((*tables)[0].name(), "layer0.weight");
  EXPECT_EQ((*tables)[0].size(), 784 * 256);
  EXPECT_EQ((*tables)[1].name(), "layer0.bias");
  EXPECT_EQ((*tables)[1].size(), 256);
  EXPECT_EQ((*tables)[2].size(), 256 * 10);
  EXPECT_EQ((*tables)[3].size(), 10);
  EXPECT_FLOAT_EQ((*tables)[2].init().scale(), 1.0f / 16.0f);
  EXPECT_NE((*tables)[0].init().seed(), (*tables)[2].init().seed());
  EXPECT_EQ((*tables)[0].optimizer().learning_rate(), 0.1f);
}

TEST(ModelLayoutTest, SoftmaxIgnoresHiddenSizes) {
  v1::JobSpec spec = MlpSpec();
  spec.mutable_model()->set_type(v1::SOFTMAX);
  absl::StatusOr<std::vector<int64_t>> sizes = LayerSizes(spec);
  ASSERT_TRUE(sizes.ok());
  EXPECT_EQ(*sizes, (std::vector<int64_t>{784, 10}));
}

TEST(ModelLayoutTest, UnknownModelIsInvalidArgument) {
  v1::JobSpec spec = MlpSpec();
  spec.mutable_model()->set_type(v1::MODEL_TYPE_UNSPECIFIED);
  absl::StatusOr<std::vector<v1::TableDef>> tables = ModelTables(spec);
  EXPECT_EQ(tables.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(tables.status().message().find("model.type"), std::string::npos);
}

}  // namespace
}  // namespace ps
