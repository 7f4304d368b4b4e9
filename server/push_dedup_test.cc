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

}  // namespace
}  // namespace ps::server
