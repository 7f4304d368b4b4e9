#include "worker/model/flights_model.h"

#include <cmath>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/model/flights_model_testing.h"
#include "worker/model/mlp_spec.h"

namespace ps::worker {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

FlightsModelSpec Spec(FlightsModelType type) {
  return {.type = type,
          .slots = 2,
          .embedding_dim = 3,
          .hidden_sizes = {4},
          .max_batch = 4};
}

TEST(FlightsModelTest, DenseLayoutIsBiasThenTheMlp) {
  EXPECT_EQ(MakeCpuFlightsModel(Spec(FlightsModelType::kSparseLr))->num_dense(),
            1);
  EXPECT_THAT(
      MakeCpuFlightsModel(Spec(FlightsModelType::kSparseLr))->table_dims(),
      ElementsAre(1));
  std::unique_ptr<FlightsModel> wide_deep =
      MakeCpuFlightsModel(Spec(FlightsModelType::kWideDeep));
  EXPECT_EQ(wide_deep->num_dense(), 1 + MlpParamCount({2 * 3, 4, 1}));
  EXPECT_THAT(wide_deep->table_dims(), ElementsAre(1, 3));
}

// Two examples over rows {0, 1, 2}: example 0 uses rows 0 and 0, example 1
// rows 2 and 1.
const std::vector<int32_t> kIndex = {0, 0, 2, 1};
const std::vector<int32_t> kLabels = {1, 0};
const FlightsBatch kBatch{kIndex.data(), kLabels.data(), 2, 3};

TEST(FlightsModelTest, SparseLrLogitIsBiasPlusWideRows) {
  std::unique_ptr<FlightsModel> model =
      MakeCpuFlightsModel(Spec(FlightsModelType::kSparseLr));
  const std::vector<float> dense = {0.5f}, wide = {1.0f, -2.0f, 0.25f};
  std::vector<float> logits(2);
  ASSERT_TRUE(
      model->Logits({dense.data(), wide.data()}, kBatch, logits.data()).ok());
  EXPECT_THAT(logits, ElementsAre(2.5f, -1.25f));
}

// All-zero parameters of `model` for kIndex's three rows, and room for
// their gradients.
struct ZeroParams {
  explicit ZeroParams(const FlightsModel& model)
      : dense(model.num_dense(), 0.0f), dense_grads(dense.size()) {}
  ZeroParams(const ZeroParams&) = delete;  // params and grads point inside

  std::vector<float> dense, dense_grads;
  std::vector<float> wide = std::vector<float>(3, 0.0f), wide_grads = wide;
  std::vector<float> embed = std::vector<float>(9, 0.0f), embed_grads = embed;
  const FlightsParams params{dense.data(), wide.data(), embed.data()};
  const FlightsGrads grads{dense_grads.data(), wide_grads.data(),
                           embed_grads.data()};
};

// A logit of exactly 0 (p = 0.5) counts as predicting 0, as the dense
// models' kernels count it: with every parameter zero, label-0 examples
// are correct.
TEST(FlightsModelTest, ZeroLogitPredictsTheNegativeClass) {
  for (FlightsModelType type :
       {FlightsModelType::kSparseLr, FlightsModelType::kWideDeep}) {
    std::unique_ptr<FlightsModel> model = MakeCpuFlightsModel(Spec(type));
    const std::vector<int32_t> negatives = {0, 0};
    ZeroParams zero(*model);
    BatchStats stats;
    ASSERT_TRUE(model
                    ->ForwardBackward(zero.params,
                                      {kIndex.data(), negatives.data(), 2, 3},
                                      zero.grads, &stats)
                    .ok());
    EXPECT_EQ(stats.count, 2);
    EXPECT_EQ(stats.correct, 2);
    EXPECT_NEAR(stats.loss_sum, 2 * std::log(2.0), 1e-5);
  }
}

// With the MLP's parameters zero the deep part adds nothing: the logits
// are the wide part's, and the loss is SPARSE_LR's.
TEST(FlightsModelTest, WideDeepAddsTheDeepLogitToTheWidePart) {
  std::unique_ptr<FlightsModel> model =
      MakeCpuFlightsModel(Spec(FlightsModelType::kWideDeep));
  std::vector<float> dense(model->num_dense(), 0.0f);
  dense[0] = 0.5f;
  const std::vector<float> wide = {1.0f, -2.0f, 0.25f};
  const std::vector<float> embed(3 * 3, 0.7f);
  std::vector<float> logits(2);
  ASSERT_TRUE(model
                  ->Logits({dense.data(), wide.data(), embed.data()}, kBatch,
                           logits.data())
                  .ok());
  EXPECT_THAT(logits, ElementsAre(2.5f, -1.25f));
  // The output layer's bias (the last dense value) shifts every logit.
  dense.back() = 1.0f;
  ASSERT_TRUE(model
                  ->Logits({dense.data(), wide.data(), embed.data()}, kBatch,
                           logits.data())
                  .ok());
  EXPECT_THAT(logits, ElementsAre(3.5f, -0.25f));
}

TEST(FlightsModelTest, BadSpecsAreInvalidArgument) {
  ComputeOptions cpu;
  cpu.device = Device::kCpu;
  FlightsModelSpec spec = Spec(FlightsModelType::kWideDeep);
  spec.embedding_dim = 0;
  EXPECT_THAT(CreateFlightsModel(spec, cpu).status().message(),
              HasSubstr("embedding_dim is 0"));
  spec = Spec(FlightsModelType::kSparseLr);
  spec.slots = 0;
  EXPECT_THAT(CreateFlightsModel(spec, cpu).status().message(),
              HasSubstr("slots is 0"));
  spec = Spec(FlightsModelType::kSparseLr);
  spec.max_batch = 0;
  EXPECT_EQ(CreateFlightsModel(spec, cpu).status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(FlightsModelTest, BatchesThatDoNotFitAreInvalidArgument) {
  for (FlightsModelType type :
       {FlightsModelType::kSparseLr, FlightsModelType::kWideDeep}) {
    std::unique_ptr<FlightsModel> model = MakeCpuFlightsModel(Spec(type));
    ZeroParams zero(*model);
    const FlightsParams& params = zero.params;
    const FlightsGrads& grads = zero.grads;
    BatchStats stats;
    const std::vector<int32_t> bad_index = {0, 3, 1, 1};
    absl::Status status = model->ForwardBackward(
        params, {bad_index.data(), kLabels.data(), 2, 3}, grads, &stats);
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("row_index[1]"));
    const std::vector<int32_t> bad_labels = {1, 2};
    status = model->ForwardBackward(
        params, {kIndex.data(), bad_labels.data(), 2, 3}, grads, &stats);
    EXPECT_THAT(status.message(), HasSubstr("labels[1] is 2"));
    status = model->ForwardBackward(
        params, {kIndex.data(), kLabels.data(), 5, 3}, grads, &stats);
    EXPECT_THAT(status.message(), HasSubstr("examples is 5"));
    EXPECT_EQ(stats.count, 0);
  }
}

}  // namespace
}  // namespace ps::worker
