#include "server/push_dedup.h"

#include "gtest/gtest.h"

namespace ps::server {
namespace {

TEST(PushDedupTest, RepeatIsDuplicatePerWorker) {
  PushDedup d;
  EXPECT_TRUE(d.FirstTime("w1", 1));
  EXPECT_FALSE(d.FirstTime("w1", 1));
  EXPECT_TRUE(d.FirstTime("w2", 1));
  EXPECT_TRUE(d.FirstTime("w1", 3));
  EXPECT_TRUE(d.FirstTime("w1", 2));  // reordered, within the window
  EXPECT_FALSE(d.FirstTime("w1", 2));
}

TEST(PushDedupTest, SequencesOlderThanWindowAreDuplicates) {
  PushDedup d;
  for (uint64_t s = 1; s <= 3 * PushDedup::kWindow; ++s) {
    ASSERT_TRUE(d.FirstTime("w", s));
  }
  EXPECT_FALSE(d.FirstTime("w", 5));
  EXPECT_FALSE(d.FirstTime("w", 3 * PushDedup::kWindow - 1));
  EXPECT_TRUE(d.FirstTime("w", 3 * PushDedup::kWindow + 1));
}

TEST(PushDedupTest, RecordedAsksWithoutRecording) {
  PushDedup d;
  EXPECT_FALSE(d.Recorded("w", 1));
  EXPECT_FALSE(d.Recorded("w", 1));
  EXPECT_TRUE(d.FirstTime("w", 1));
  EXPECT_TRUE(d.Recorded("w", 1));
  EXPECT_FALSE(d.Recorded("other", 1));
  for (uint64_t s = 2; s <= 2 * PushDedup::kWindow; ++s) d.FirstTime("w", s);
  EXPECT_TRUE(d.Recorded("w", 3));  // older than the window
}

TEST(PushDedupTest, ExportIsOrderedAndRestoreReplacesEverything) {
  PushDedup d;
  d.FirstTime("w2", 5);
  d.FirstTime("w1", 9);
  d.FirstTime("w1", 4);
  const std::vector<PushDedup::WorkerSeqs> seen = d.Export();
  ASSERT_EQ(seen.size(), 2u);
  EXPECT_EQ(seen[0].worker, "w1");
  EXPECT_EQ(seen[0].highest, 9u);
  EXPECT_EQ(seen[0].recent, std::vector<uint64_t>({4, 9}));

  PushDedup e;
  e.FirstTime("w3", 1);
  e.Restore(seen);
  EXPECT_FALSE(e.Recorded("w3", 1));
  EXPECT_TRUE(e.Recorded("w1", 4));
  EXPECT_FALSE(e.FirstTime("w2", 5));
  EXPECT_TRUE(e.FirstTime("w1", 8));
}

}  // namespace
}  // namespace ps::server
