#include "common/model_layout.h"

#include <functional>

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

TEST(ModelLayoutTest, MixingHasOneEquallySeededCopyPerRank) {
  v1::JobSpec spec = MlpSpec();
  spec.mutable_cluster()->set_num_workers(2);
  for (float w : {0.5f, 0.5f, 0.5f, 0.5f}) {
    spec.mutable_training()->mutable_averaging()->add_mixing(w);
  }
  EXPECT_EQ(ModelCopies(spec), 2);
  absl::StatusOr<std::vector<v1::TableDef>> tables = ModelTables(spec);
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 8u);
  EXPECT_EQ((*tables)[0].name(), "rank0/layer0.weight");
  EXPECT_EQ((*tables)[4].name(), "rank1/layer0.weight");
  EXPECT_EQ((*tables)[7].name(), "rank1/layer1.bias");
  EXPECT_EQ((*tables)[0].init().seed(), (*tables)[4].init().seed());
  EXPECT_EQ(ModelCopies(MlpSpec()), 1);
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

v1::JobSpec EnsembleSpec() {
  v1::JobSpec spec = MlpSpec();
  spec.mutable_training()->set_seed(7);
  v1::EnsembleSpec* e = spec.mutable_model()->mutable_ensemble();
  e->add_members();  // hidden 256, seed 7
  e->add_members()->add_hidden_sizes(32);
  e->add_members()->set_seed(99);
  return spec;
}

TEST(ModelLayoutTest, EnsembleMembersHaveOwnPrefixedTables) {
  absl::StatusOr<std::vector<v1::TableDef>> tables =
      ModelTables(EnsembleSpec());
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 12u);
  EXPECT_EQ((*tables)[0].name(), "member0/layer0.weight");
  EXPECT_EQ((*tables)[4].name(), "member1/layer0.weight");
  EXPECT_EQ((*tables)[4].size(), 784 * 32);
  EXPECT_EQ((*tables)[11].name(), "member2/layer1.bias");
  EXPECT_EQ((*tables)[8].size(), 784 * 256);
}

TEST(ModelLayoutTest, EnsembleMemberZeroStartsAsTheSingleModel) {
  v1::JobSpec single = MlpSpec();
  single.mutable_training()->set_seed(7);
  absl::StatusOr<std::vector<v1::TableDef>> plain = ModelTables(single);
  absl::StatusOr<std::vector<v1::TableDef>> tables =
      ModelTables(EnsembleSpec());
  ASSERT_TRUE(plain.ok() && tables.ok());
  for (int t = 0; t < 4; ++t) {
    EXPECT_EQ((*tables)[t].init().seed(), (*plain)[t].init().seed());
  }
  // Member 1 is seeded with 8 and member 2 with its own 99.
  EXPECT_EQ((*tables)[4].init().seed(), 8u * 1000003 + 1);
  EXPECT_EQ((*tables)[8].init().seed(), 99u * 1000003 + 1);
}

TEST(ModelLayoutTest, FixedEnsembleWeightsAreNormalised) {
  v1::JobSpec spec = EnsembleSpec();
  EXPECT_TRUE(FixedEnsembleWeights(spec).empty());
  EXPECT_DOUBLE_EQ(HoldoutFraction(spec), 0.1);
  for (int i = 0; i < 3; ++i) {
    spec.mutable_model()->mutable_ensemble()->mutable_members(i)->set_weight(i +
                                                                             1);
  }
  EXPECT_EQ(FixedEnsembleWeights(spec),
            (std::vector<double>{1.0 / 6, 2.0 / 6, 3.0 / 6}));
  EXPECT_EQ(HoldoutFraction(spec), 0);
}

TEST(ModelLayoutTest, EnsembleOfSparseModelsIsInvalidArgument) {
  v1::JobSpec spec = EnsembleSpec();
  spec.mutable_model()->set_type(v1::SPARSE_LR);
  absl::Status s = ModelTables(spec).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("model.ensemble"), std::string::npos) << s;
}

v1::JobSpec WideDeepSpec() {
  v1::JobSpec spec;
  spec.mutable_model()->set_type(v1::WIDE_DEEP);
  spec.mutable_model()->add_hidden_sizes(32);
  spec.mutable_model()->set_embedding_dim(4);
  spec.mutable_data()->set_dataset(v1::FLIGHTS);
  spec.mutable_optimizer()->set_type(v1::ADAGRAD);
  spec.mutable_optimizer()->set_learning_rate(0.05f);
  return spec;
}

TEST(ModelLayoutTest, WideDeepHasSparseTablesThenDenseOnes) {
  absl::StatusOr<std::vector<v1::TableDef>> tables = ModelTables(WideDeepSpec());
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 7u);
  EXPECT_EQ((*tables)[0].name(), "wide");
  EXPECT_EQ((*tables)[0].kind(), v1::SPARSE);
  EXPECT_EQ((*tables)[0].dim(), 1);
  EXPECT_EQ((*tables)[0].size(), 0);
  EXPECT_EQ((*tables)[1].name(), "embed");
  EXPECT_EQ((*tables)[1].dim(), 4);
  EXPECT_EQ((*tables)[2].name(), "bias");
  EXPECT_EQ((*tables)[2].kind(), v1::DENSE);
  EXPECT_EQ((*tables)[2].size(), 1);
  EXPECT_EQ((*tables)[3].name(), "layer0.weight");
  EXPECT_EQ((*tables)[3].size(), 6 * 4 * 32);  // six default features
  EXPECT_EQ((*tables)[6].name(), "layer1.bias");
  EXPECT_EQ((*tables)[6].size(), 1);
  EXPECT_EQ((*tables)[1].optimizer().type(), v1::ADAGRAD);
}

TEST(ModelLayoutTest, SparseLrIsWideAndBias) {
  v1::JobSpec spec = WideDeepSpec();
  spec.mutable_model()->set_type(v1::SPARSE_LR);
  spec.mutable_model()->clear_hidden_sizes();
  spec.mutable_model()->set_embedding_dim(0);
  spec.mutable_model()->add_features(v1::ORIGIN_HOUR);
  absl::StatusOr<std::vector<v1::TableDef>> tables = ModelTables(spec);
  ASSERT_TRUE(tables.ok()) << tables.status();
  ASSERT_EQ(tables->size(), 2u);
  EXPECT_EQ((*tables)[0].name(), "wide");
  EXPECT_EQ((*tables)[1].name(), "bias");
  absl::StatusOr<SparseModelShape> shape = SparseShapeOf(spec);
  ASSERT_TRUE(shape.ok());
  EXPECT_EQ(shape->features.size(), 1u);
  EXPECT_EQ(shape->hash_bits, 20);
}

TEST(ModelLayoutTest, SparseModelErrorsNameTheField) {
  struct Case {
    std::function<void(v1::JobSpec*)> edit;
    std::string field;
  };
  std::vector<Case> cases = {
      {[](v1::JobSpec* s) { s->mutable_data()->set_dataset(v1::FASHION_MNIST); },
       "data.dataset"},
      {[](v1::JobSpec* s) { s->mutable_model()->add_features(v1::ORIGIN);
                            s->mutable_model()->add_features(v1::ORIGIN); },
       "model.features[1]"},
      {[](v1::JobSpec* s) { s->mutable_model()->add_features(
                                static_cast<v1::FlightFeature>(99)); },
       "model.features[0]"},
      {[](v1::JobSpec* s) { s->mutable_model()->set_hash_bits(63); },
       "model.hashBits"},
      {[](v1::JobSpec* s) { s->mutable_model()->set_embedding_dim(257); },
       "model.embeddingDim"},
      {[](v1::JobSpec* s) { s->mutable_model()->set_type(v1::SPARSE_LR); },
       "model.hiddenSizes"},
  };
  for (const Case& c : cases) {
    v1::JobSpec spec = WideDeepSpec();
    c.edit(&spec);
    absl::Status s = ModelTables(spec).status();
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << c.field;
    EXPECT_NE(s.message().find(c.field), std::string::npos) << s.message();
  }
}

TEST(ModelLayoutTest, DenseModelOnFlightsIsRejected) {
  v1::JobSpec spec = MlpSpec();
  spec.mutable_data()->set_dataset(v1::FLIGHTS);
  absl::Status s = ModelTables(spec).status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("data.dataset"), std::string::npos) << s.message();
}

}  // namespace
}  // namespace ps
