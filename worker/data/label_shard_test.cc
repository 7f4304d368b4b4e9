#include "worker/data/label_shard.h"

#include "gtest/gtest.h"

namespace ps::worker {
namespace {

// 20 rows of one feature (its row number), labels cycling 0..4.
Examples Cycling() {
  Examples e;
  e.count = 20;
  e.split_count = 20;
  e.dim = 1;
  for (int i = 0; i < 20; ++i) {
    e.x.push_back(i);
    e.y.push_back(i % 5);
  }
  return e;
}

TEST(LabelShardTest, RanksGetContiguousLabelRanges) {
  absl::StatusOr<Examples> r0 = ShardByLabel(Cycling(), 0, 2);
  absl::StatusOr<Examples> r1 = ShardByLabel(Cycling(), 1, 2);
  ASSERT_TRUE(r0.ok() && r1.ok());
  EXPECT_EQ(r0->count, 10);
  EXPECT_EQ(r0->split_count, 20);
  EXPECT_EQ(r0->y, (std::vector<int32_t>{0, 0, 0, 0, 1, 1, 1, 1, 2, 2}));
  EXPECT_EQ(r1->y, (std::vector<int32_t>{2, 2, 3, 3, 3, 3, 4, 4, 4, 4}));
  // Stable: within a label, file order; features travel with their labels.
  EXPECT_EQ(r0->x, (std::vector<float>{0, 5, 10, 15, 1, 6, 11, 16, 2, 7}));
}

TEST(LabelShardTest, FiveRanksOfTenBalancedClassesGetTwoLabelsEach) {
  Examples e;
  e.count = 100;
  e.dim = 1;
  for (int i = 0; i < 100; ++i) {
    e.x.push_back(i);
    e.y.push_back(i % 10);
  }
  for (int r = 0; r < 5; ++r) {
    absl::StatusOr<Examples> s = ShardByLabel(e, r, 5);
    ASSERT_TRUE(s.ok());
    for (int32_t y : s->y) EXPECT_TRUE(y == 2 * r || y == 2 * r + 1) << y;
  }
}

TEST(LabelShardTest, BadRankIsInvalidArgument) {
  EXPECT_EQ(ShardByLabel(Cycling(), 2, 2).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps::worker
