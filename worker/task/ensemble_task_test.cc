#include "worker/task/ensemble_task.h"

#include <random>
#include <vector>

#include "gtest/gtest.h"
#include "worker/task/task_test_data.h"

namespace ps::worker {
namespace {

// A two-member MLP ensemble over 200 synthetic training and 100 test rows.
v1::JobSpec Spec(const std::string& dir) {
  v1::JobSpec spec;
  spec.mutable_model()->set_type(v1::MLP);
  spec.mutable_model()->add_hidden_sizes(8);
  spec.mutable_model()->mutable_ensemble()->add_members();
  spec.mutable_model()->mutable_ensemble()->add_members()->add_hidden_sizes(4);
  spec.mutable_data()->set_dataset(v1::FASHION_MNIST);
  spec.mutable_data()->set_dir(dir);
  return spec;
}

std::string Data(const std::string& name) {
  const std::string dir = TestDir(name);
  EXPECT_TRUE(ps::testing::WriteSyntheticFashionMnist(dir, 200, 100, 1).ok());
  return dir;
}

TEST(EnsembleTaskTest, HoldoutIsTheSplitsTailAndIsLeftOutOfEveryShard) {
  const std::string dir = Data("holdout");
  v1::JobSpec spec = Spec(dir);
  spec.mutable_model()->mutable_ensemble()->set_holdout_fraction(0.25f);
  EXPECT_EQ(HoldoutRows(spec, 200), 50);
  absl::StatusOr<Examples> all = LoadFashionMnist(dir, Split::kTrain, 0, 1);
  ASSERT_TRUE(all.ok());
  int64_t row = 0;
  for (int rank = 0; rank < 2; ++rank) {
    absl::StatusOr<TrainingShard> shard = LoadTrainingShard(dir, spec, rank, 2);
    ASSERT_TRUE(shard.ok()) << shard.status();
    EXPECT_EQ(shard->train.count, 75);
    EXPECT_EQ(shard->train.split_count, 150);
    for (int64_t r = 0; r < shard->train.count; ++r, ++row) {
      EXPECT_EQ(shard->train.y[r], all->y[row]);
    }
    ASSERT_EQ(shard->holdout.count, 50);
    EXPECT_EQ(shard->holdout.y,
              std::vector<int32_t>(all->y.begin() + 150, all->y.end()));
    EXPECT_EQ(
        shard->holdout.x,
        std::vector<float>(all->x.begin() + 150 * all->dim, all->x.end()));
  }
}

TEST(EnsembleTaskTest, FixedWeightsHoldNothingOut) {
  const std::string dir = Data("fixed");
  v1::JobSpec spec = Spec(dir);
  for (auto& m : *spec.mutable_model()->mutable_ensemble()->mutable_members()) {
    m.set_weight(1);
  }
  absl::StatusOr<TrainingShard> shard = LoadTrainingShard(dir, spec, 1, 2);
  ASSERT_TRUE(shard.ok());
  EXPECT_EQ(shard->train.count, 100);
  EXPECT_EQ(shard->train.split_count, 200);
  EXPECT_EQ(shard->holdout.count, 0);
}

TEST(EnsembleTaskTest, CompositeModelSpansEveryMember) {
  absl::StatusOr<std::unique_ptr<Model>> model =
      CreateEnsemble(Spec("/unused"), 16, {.device = Device::kCpu});
  ASSERT_TRUE(model.ok()) << model.status();
  EXPECT_EQ((*model)->num_params(),
            (784 * 8 + 8 + 8 * 10 + 10) + (784 * 4 + 4 + 4 * 10 + 10));
}

// Plain SGD (lr 0.1) on a flat buffer in memory; pulls are never stale.
class SgdStore : public ParamStore {
 public:
  explicit SgdStore(std::vector<float> values) : values(std::move(values)) {}
  absl::StatusOr<int64_t> Pull(float* params, int64_t clock) override {
    std::copy(values.begin(), values.end(), params);
    return 0;
  }
  absl::Status Push(const float* grads, int64_t clock) override {
    for (size_t i = 0; i < values.size(); ++i) values[i] -= 0.1f * grads[i];
    return absl::OkStatus();
  }
  std::vector<float> values;
};

class NullSink : public ProgressSink {
 public:
  absl::Status Report(const Progress&) override { return absl::OkStatus(); }
};

// Each member trains exactly as one model trained alone with the member's
// seed for its data order: member 0 as the single model of the job.
TEST(EnsembleTaskTest, EachMemberTrainsAsItWouldAlone) {
  const std::string dir = Data("train");
  v1::JobSpec spec = Spec(dir);
  spec.mutable_training()->set_seed(3);
  v1::EnsembleMember* second =
      spec.mutable_model()->mutable_ensemble()->mutable_members(1);
  second->set_hidden_sizes(0, 8);
  second->set_seed(11);
  absl::StatusOr<Examples> train = LoadFashionMnist(dir, Split::kTrain, 0, 1);
  ASSERT_TRUE(train.ok());
  TrainerOptions options{.epochs = 2, .batch_size = 32, .seed = 3};
  absl::StatusOr<std::unique_ptr<Model>> ensemble =
      CreateEnsemble(spec, 32, {.device = Device::kCpu});
  ASSERT_TRUE(ensemble.ok());
  const int64_t n = (*ensemble)->num_params() / 2;
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  std::vector<float> init(2 * n);
  for (float& v : init) v = u(rng);
  SgdStore store(init);
  NullSink sink;
  ASSERT_TRUE(TrainEnsemble(options, spec, *train, ensemble->get(), &store,
                            &sink, nullptr)
                  .ok());
  for (int member = 0; member < 2; ++member) {
    absl::StatusOr<std::unique_ptr<Model>> alone =
        CreateModel({784, 8, 10}, 32, {.device = Device::kCpu});
    ASSERT_TRUE(alone.ok());
    SgdStore own(std::vector<float>(init.begin() + member * n,
                                    init.begin() + (member + 1) * n));
    options.seed = member == 0 ? 3 : 11;
    ASSERT_TRUE(
        Train(options, *train, alone->get(), &own, &sink, nullptr).ok());
    EXPECT_EQ(own.values,
              std::vector<float>(store.values.begin() + member * n,
                                 store.values.begin() + (member + 1) * n))
        << "member " << member;
  }
}

// With weights {1, 0} the mixture is member 0 exactly; the result lists
// both members with their normalised weights.
TEST(EnsembleTaskTest, ZeroWeightMemberLeavesTheMixtureToTheOther) {
  const std::string dir = Data("zero_weight");
  v1::JobSpec spec = Spec(dir);
  spec.mutable_model()->mutable_ensemble()->mutable_members(0)->set_weight(3);
  spec.mutable_model()->mutable_ensemble()->mutable_members(1)->set_weight(0);
  absl::StatusOr<Examples> test = LoadFashionMnist(dir, Split::kTest, 0, 1);
  ASSERT_TRUE(test.ok());
  absl::StatusOr<std::unique_ptr<Model>> model =
      CreateEnsemble(spec, 64, {.device = Device::kCpu});
  ASSERT_TRUE(model.ok());
  std::mt19937 rng(4);
  std::uniform_real_distribution<float> u(-0.1f, 0.1f);
  std::vector<float> params((*model)->num_params());
  for (float& p : params) p = u(rng);
  v1::CompleteTaskRequest done;
  ASSERT_TRUE(
      EvaluateEnsemble(spec, params.data(), Examples{}, *test, 64, &done).ok());
  EXPECT_EQ(done.test_examples(), 100);
  ASSERT_EQ(done.members_size(), 2);
  EXPECT_EQ(done.members(0).weight(), 1.0);
  EXPECT_EQ(done.members(1).weight(), 0.0);
  EXPECT_EQ(done.test_correct(), done.members(0).test_correct());
  EXPECT_NEAR(done.test_loss_sum(), done.members(0).test_loss_sum(), 1e-9);
}

// Fitted on held-out rows, the weights go to the member that predicts
// them: on rows of one class, member 0 (a large output bias for that class)
// is right everywhere and member 1 (all parameters zero) is uniform.
TEST(EnsembleTaskTest, FittedWeightsFavourTheBetterMember) {
  const std::string dir = Data("fitted");
  v1::JobSpec spec = Spec(dir);
  absl::StatusOr<Examples> all = LoadFashionMnist(dir, Split::kTrain, 0, 1);
  ASSERT_TRUE(all.ok());
  Examples threes;
  threes.dim = all->dim;
  for (int64_t r = 0; r < all->count; ++r) {
    if (all->y[r] != 3) continue;
    threes.x.insert(threes.x.end(), all->x.begin() + r * all->dim,
                    all->x.begin() + (r + 1) * all->dim);
    threes.y.push_back(3);
    ++threes.count;
  }
  ASSERT_GT(threes.count, 0);
  absl::StatusOr<std::unique_ptr<Model>> model =
      CreateEnsemble(spec, 64, {.device = Device::kCpu});
  ASSERT_TRUE(model.ok());
  std::vector<float> params((*model)->num_params(), 0.0f);
  const int64_t member0_output_bias = 784 * 8 + 8 + 8 * 10;
  params[member0_output_bias + 3] = 5.0f;
  v1::CompleteTaskRequest done;
  ASSERT_TRUE(
      EvaluateEnsemble(spec, params.data(), threes, threes, 64, &done).ok());
  ASSERT_EQ(done.members_size(), 2);
  EXPECT_GT(done.members(0).weight(), 0.99);
  EXPECT_EQ(done.members(0).test_correct(), threes.count);
  EXPECT_EQ(done.test_correct(), threes.count);
  EXPECT_LT(done.test_loss_sum(), done.members(1).test_loss_sum());
}

}  // namespace
}  // namespace ps::worker
