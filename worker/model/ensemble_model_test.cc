#include "worker/model/ensemble_model.h"

#include <memory>
#include <random>
#include <utility>
#include <vector>

#include "gtest/gtest.h"
#include "worker/cpu/cpu_mlp.h"

namespace ps::worker {
namespace {

constexpr int64_t kDim = 6, kClasses = 4, kRows = 7;

std::unique_ptr<Model> Mlp(std::vector<int64_t> sizes) {
  absl::StatusOr<std::unique_ptr<Model>> m = CreateCpuMlp(std::move(sizes), 8);
  EXPECT_TRUE(m.ok()) << m.status();
  return *std::move(m);
}

std::vector<std::vector<int64_t>> MemberSizes() {
  return {{kDim, 5, kClasses}, {kDim, kClasses}, {kDim, 3, 2, kClasses}};
}

struct Inputs {
  std::vector<float> params, x;
  std::vector<int32_t> y;
};

Inputs RandomInputs(int64_t num_params) {
  std::mt19937 rng(5);
  std::uniform_real_distribution<float> u(-1, 1);
  Inputs in;
  for (int64_t i = 0; i < num_params; ++i) in.params.push_back(u(rng));
  for (int64_t i = 0; i < kRows * kDim; ++i) in.x.push_back(u(rng));
  for (int64_t r = 0; r < kRows; ++r) in.y.push_back(rng() % kClasses);
  return in;
}

std::unique_ptr<EnsembleModel> Ensemble() {
  std::vector<std::unique_ptr<Model>> members;
  for (auto& sizes : MemberSizes()) members.push_back(Mlp(sizes));
  absl::StatusOr<std::unique_ptr<EnsembleModel>> e =
      EnsembleModel::Create(std::move(members));
  EXPECT_TRUE(e.ok()) << e.status();
  return *std::move(e);
}

TEST(EnsembleModelTest, EachMembersGradientIsItsOwnAlone) {
  std::unique_ptr<EnsembleModel> ensemble = Ensemble();
  const Inputs in = RandomInputs(ensemble->num_params());
  const Batch batch{in.x.data(), in.y.data(), kRows, kDim};
  std::vector<float> grads(ensemble->num_params());
  BatchStats mean;
  ASSERT_TRUE(
      ensemble->ForwardBackward(in.params.data(), batch, grads.data(), &mean)
          .ok());

  double loss_sum = 0;
  int64_t correct = 0;
  int64_t total = 0;
  for (int i = 0; i < ensemble->num_members(); ++i) {
    std::unique_ptr<Model> alone = Mlp(MemberSizes()[i]);
    const int64_t offset = ensemble->member_offset(i);
    ASSERT_EQ(offset, total);
    total += alone->num_params();
    std::vector<float> own(alone->num_params());
    BatchStats stats;
    ASSERT_TRUE(alone
                    ->ForwardBackward(in.params.data() + offset, batch,
                                      own.data(), &stats)
                    .ok());
    EXPECT_EQ(own, std::vector<float>(grads.begin() + offset,
                                      grads.begin() + offset + own.size()))
        << "member " << i;
    loss_sum += stats.loss_sum;
    correct += stats.correct;
  }
  EXPECT_EQ(total, ensemble->num_params());
  EXPECT_DOUBLE_EQ(mean.loss_sum, loss_sum / 3);
  EXPECT_EQ(mean.correct, correct / 3);
  EXPECT_EQ(mean.count, kRows);

  BatchStats evaluated;
  ASSERT_TRUE(ensemble->Evaluate(in.params.data(), batch, &evaluated).ok());
  EXPECT_NEAR(evaluated.loss_sum, mean.loss_sum, 1e-5);
  EXPECT_EQ(evaluated.count, kRows);
}

TEST(EnsembleModelTest, BadBatchIsMembersError) {
  std::unique_ptr<EnsembleModel> ensemble = Ensemble();
  const Inputs in = RandomInputs(ensemble->num_params());
  std::vector<float> grads(ensemble->num_params());
  BatchStats stats;
  absl::Status s = ensemble->ForwardBackward(
      in.params.data(), {in.x.data(), in.y.data(), kRows, kDim + 1},
      grads.data(), &stats);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_EQ(stats.count, 0);
}

TEST(EnsembleModelTest, NoMembersIsInvalidArgument) {
  EXPECT_EQ(EnsembleModel::Create({}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps::worker
