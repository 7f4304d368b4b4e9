#include "worker/model/ensemble_mix.h"

#include <cmath>
#include <random>
#include <vector>

#include "gtest/gtest.h"

namespace ps::worker {
namespace {

// Member log-probabilities of the label: `good` gives it 0.8 on most
// examples, `bad` 0.3 on all.
std::vector<std::vector<double>> GoodAndBad(int examples) {
  std::mt19937 rng(3);
  std::vector<double> good, bad;
  for (int k = 0; k < examples; ++k) {
    good.push_back(std::log(rng() % 10 == 0 ? 0.2 : 0.8));
    bad.push_back(std::log(0.3));
  }
  return {bad, good};
}

TEST(EnsembleMixTest, ClearlyBetterMemberTakesTheWeight) {
  const std::vector<double> w = FitMixtureWeights(GoodAndBad(500));
  ASSERT_EQ(w.size(), 2u);
  EXPECT_GT(w[1], 0.99);
  EXPECT_NEAR(w[0] + w[1], 1.0, 1e-12);
}

// Two members each right on its own half of the examples share the weight.
TEST(EnsembleMixTest, ComplementaryMembersShareTheWeight) {
  std::vector<std::vector<double>> lp(2);
  for (int k = 0; k < 400; ++k) {
    lp[0].push_back(std::log(k % 2 == 0 ? 0.9 : 0.05));
    lp[1].push_back(std::log(k % 2 == 0 ? 0.05 : 0.9));
  }
  const std::vector<double> w = FitMixtureWeights(lp);
  EXPECT_NEAR(w[0], 0.5, 1e-6);
  EXPECT_NEAR(w[1], 0.5, 1e-6);
}

TEST(EnsembleMixTest, FittingIsDeterministicAndNoWorseThanUniform) {
  const auto lp = GoodAndBad(300);
  auto log_loss = [&](const std::vector<double>& w) {
    double loss = 0;
    for (size_t k = 0; k < lp[0].size(); ++k) {
      loss -= std::log(w[0] * std::exp(lp[0][k]) + w[1] * std::exp(lp[1][k]));
    }
    return loss;
  };
  const std::vector<double> w = FitMixtureWeights(lp);
  EXPECT_EQ(w, FitMixtureWeights(lp));
  EXPECT_LE(log_loss(w), log_loss({0.5, 0.5}));
  EXPECT_LE(log_loss(w), log_loss({0.0, 1.0}) + 1e-9);
}

TEST(EnsembleMixTest, NoExamplesGiveUniformWeights) {
  EXPECT_EQ(FitMixtureWeights({{}, {}, {}, {}}),
            (std::vector<double>{0.25, 0.25, 0.25, 0.25}));
}

TEST(EnsembleMixTest, ScorerScoresMembersAndMixture) {
  // Two classes, two rows with label 0. Member 0 is sure and right on row 0
  // and wrong on row 1; member 1 is unsure and wrong on row 0, and surer
  // than member 0 and right on row 1: the mixture is right on both.
  const float logits0[] = {3, -3, -3, 3};
  const float logits1[] = {-1, 1, 4, -4};
  std::vector<std::vector<double>> lp(2, std::vector<double>(4));
  LogSoftmax(logits0, 2, 2, lp[0].data());
  LogSoftmax(logits1, 2, 2, lp[1].data());
  EXPECT_NEAR(std::exp(lp[0][0]) + std::exp(lp[0][1]), 1.0, 1e-12);
  const int32_t labels[] = {0, 0};
  EnsembleScorer scorer({0.5, 0.5}, 2);
  scorer.Add(lp, labels, 2);
  EXPECT_EQ(scorer.members()[0].correct, 1);
  EXPECT_EQ(scorer.members()[1].correct, 1);
  EXPECT_EQ(scorer.ensemble().correct, 2);
  EXPECT_EQ(scorer.ensemble().count, 2);
  double mix_loss = 0;
  for (int r = 0; r < 2; ++r) {
    mix_loss -=
        std::log(0.5 * std::exp(lp[0][r * 2]) + 0.5 * std::exp(lp[1][r * 2]));
  }
  EXPECT_NEAR(scorer.ensemble().loss_sum, mix_loss, 1e-12);
  EXPECT_NEAR(scorer.members()[0].loss_sum, -lp[0][0] - lp[0][2], 1e-12);
}

}  // namespace
}  // namespace ps::worker
