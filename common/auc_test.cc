#include "common/auc.h"

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <random>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace ps {
namespace {

// The exact AUC by sorting: the Mann-Whitney statistic with equal scores
// counted as ties.
double ExactAuc(std::vector<std::pair<double, bool>> examples) {
  std::sort(examples.begin(), examples.end());
  double wins = 0, positives = 0, negatives = 0;
  for (size_t i = 0; i < examples.size();) {
    size_t j = i;
    double pos = 0, neg = 0;
    for (; j < examples.size() && examples[j].first == examples[i].first; ++j) {
      (examples[j].second ? pos : neg) += 1;
    }
    wins += pos * (negatives + 0.5 * neg);
    positives += pos;
    negatives += neg;
    i = j;
  }
  return wins / (positives * negatives);
}

TEST(AucTest, BinsSplitTheUnitIntervalEvenly) {
  EXPECT_EQ(AucBin(0.0), 0);
  EXPECT_EQ(AucBin(0.99 / kAucBins), 0);
  EXPECT_EQ(AucBin(1.0 / kAucBins), 1);
  EXPECT_EQ(AucBin(0.5), kAucBins / 2);
  EXPECT_EQ(AucBin(std::nextafter(1.0, 0.0)), kAucBins - 1);
  EXPECT_EQ(AucBin(1.0), kAucBins - 1);
}

TEST(AucTest, OutOfRangeAndNanScoresAreClamped) {
  EXPECT_EQ(AucBin(-0.5), 0);
  EXPECT_EQ(AucBin(std::nan("")), 0);
  EXPECT_EQ(AucBin(7.0), kAucBins - 1);
  EXPECT_EQ(AucBin(INFINITY), kAucBins - 1);
}

TEST(AucTest, PerfectRankingIsOneAndReversedIsZero) {
  ScoreHistogram h;
  h.Add(0.9, true);
  h.Add(0.8, true);
  h.Add(0.1, false);
  EXPECT_DOUBLE_EQ(Auc(h), 1.0);
  ScoreHistogram reversed;
  reversed.Add(0.1, true);
  reversed.Add(0.9, false);
  reversed.Add(0.8, false);
  EXPECT_DOUBLE_EQ(Auc(reversed), 0.0);
}

TEST(AucTest, SameBinCountsAsHalf) {
  ScoreHistogram h;
  h.Add(0.5, true);
  h.Add(0.5, false);
  EXPECT_DOUBLE_EQ(Auc(h), 0.5);
  // 2 positives above 1 negative, 1 positive tied with it: (2 + 0.5) / 3.
  ScoreHistogram mixed;
  mixed.Add(0.9, true);
  mixed.Add(0.7, true);
  mixed.Add(0.3, true);
  mixed.Add(0.3, false);
  EXPECT_DOUBLE_EQ(Auc(mixed), 2.5 / 3);
}

TEST(AucTest, HandCountedBins) {
  // Bins 0..2: positives {1, 0, 2}, negatives {2, 1, 1}.
  // Pairs won: bin 0: 1 * (0 + 2/2) = 1; bin 2: 2 * (3 + 1/2) = 7.
  const std::vector<int64_t> pos = {1, 0, 2}, neg = {2, 1, 1};
  EXPECT_DOUBLE_EQ(Auc(pos, neg), 8.0 / (3 * 4));
}

TEST(AucTest, UndefinedOrMalformedIsNan) {
  ScoreHistogram only_positives;
  only_positives.Add(0.3, true);
  EXPECT_TRUE(std::isnan(Auc(only_positives)));
  ScoreHistogram only_negatives;
  only_negatives.Add(0.3, false);
  EXPECT_TRUE(std::isnan(Auc(only_negatives)));
  EXPECT_TRUE(std::isnan(Auc(ScoreHistogram())));
  const std::vector<int64_t> two = {1, 1}, three = {1, 1, 1};
  EXPECT_TRUE(std::isnan(Auc(two, three)));
  const std::vector<int64_t> negative = {-1, 2};
  EXPECT_TRUE(std::isnan(Auc(negative, two)));
}

TEST(AucTest, MergeAddsCounts) {
  ScoreHistogram a, b, both;
  std::mt19937 rng(3);
  std::uniform_real_distribution<double> score(0, 1);
  for (int i = 0; i < 1000; ++i) {
    const double p = score(rng);
    const bool positive = score(rng) < p;
    (i % 3 == 0 ? a : b).Add(p, positive);
    both.Add(p, positive);
  }
  a.Merge(b);
  EXPECT_EQ(a.pos, both.pos);
  EXPECT_EQ(a.neg, both.neg);
  EXPECT_EQ(Auc(a), Auc(both));
}

// Scores from a logistic model over well-spread logits, and a second set
// squeezed into a narrow range as a weak model's are: both within 1e-3 of
// the exact AUC.
TEST(AucTest, AgreesWithExactSortedAucOnRandomData) {
  std::mt19937 rng(7);
  std::normal_distribution<double> noise(0, 1);
  std::uniform_real_distribution<double> uniform(0, 1);
  for (double spread : {3.0, 0.3}) {
    std::vector<std::pair<double, bool>> examples;
    ScoreHistogram h;
    for (int i = 0; i < 200000; ++i) {
      const double logit = spread * noise(rng) - 1.4;
      const double p = 1 / (1 + std::exp(-logit));
      const bool positive = uniform(rng) < p;
      examples.emplace_back(p, positive);
      h.Add(p, positive);
    }
    const double exact = ExactAuc(examples);
    EXPECT_GT(exact, 0.55) << "spread " << spread;
    EXPECT_NEAR(Auc(h), exact, 1e-3) << "spread " << spread;
  }
}

}  // namespace
}  // namespace ps
