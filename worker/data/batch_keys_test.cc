#include "worker/data/batch_keys.h"

#include <cstdint>
#include <random>
#include <unordered_map>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps::worker {
namespace {

using ::testing::ElementsAre;

TEST(BatchKeysTest, RepeatedKeysShareAnIndexInFirstSeenOrder) {
  BatchKeys keys(8);
  EXPECT_EQ(keys.Insert(42), 0);
  EXPECT_EQ(keys.Insert(7), 1);
  EXPECT_EQ(keys.Insert(42), 0);
  EXPECT_EQ(keys.Insert(0), 2);
  EXPECT_EQ(keys.Insert(7), 1);
  EXPECT_THAT(keys.keys(), ElementsAre(42, 7, 0));
  EXPECT_EQ(keys.size(), 3);
}

TEST(BatchKeysTest, ClearForgetsTheBatch) {
  BatchKeys keys(4);
  keys.Insert(1);
  keys.Insert(2);
  keys.Clear();
  EXPECT_EQ(keys.size(), 0);
  EXPECT_EQ(keys.Insert(2), 0);
  EXPECT_EQ(keys.Insert(1), 1);
  EXPECT_THAT(keys.keys(), ElementsAre(2, 1));
}

TEST(BatchKeysTest, FullTableHoldsMaxKeys) {
  BatchKeys keys(5);
  for (uint64_t k = 0; k < 5; ++k) EXPECT_EQ(keys.Insert(k << 40), k);
  for (uint64_t k = 0; k < 5; ++k) EXPECT_EQ(keys.Insert(k << 40), k);
}

TEST(BatchKeysTest, FullTableCrashesOnOneKeyTooMany) {
  BatchKeys keys(2);
  keys.Insert(1);
  keys.Insert(2);
  EXPECT_DEATH(keys.Insert(3), "more distinct keys");
}

// Many batches through one table, against a reference map: stale slots of
// earlier batches never leak into later ones.
TEST(BatchKeysTest, AgreesWithAMapOverManyBatches) {
  std::mt19937_64 rng(1);
  BatchKeys keys(600);
  for (int batch = 0; batch < 200; ++batch) {
    keys.Clear();
    std::unordered_map<uint64_t, int32_t> expected;
    std::uniform_int_distribution<uint64_t> key(0, batch % 2 ? 1000 : ~0ULL);
    for (int i = 0; i < 600; ++i) {
      const uint64_t k = key(rng);
      const int32_t want =
          expected.emplace(k, static_cast<int32_t>(expected.size()))
              .first->second;
      ASSERT_EQ(keys.Insert(k), want) << "batch " << batch << " key " << k;
    }
    ASSERT_EQ(keys.size(), static_cast<int64_t>(expected.size()));
  }
}

}  // namespace
}  // namespace ps::worker
