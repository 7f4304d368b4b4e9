// Repartition end to end: a job trained on one number of servers, its
// groups snapshotted, rewritten for another number and installed into
// fresh groups built from the new map, must hold every value, every row
// and every optimizer state bit for bit, and train on identically.
#include "server/repartition.h"

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/test_sharded_job.h"

namespace ps::server {
namespace {

constexpr int64_t kSteps = 3;
constexpr uint64_t kOldEpoch = 4;
constexpr uint64_t kNewEpoch = 9;

// Where two float vectors first differ bitwise; -1 when they are equal.
int64_t FirstDifference(const std::vector<float>& a,
                        const std::vector<float>& b) {
  if (a.size() != b.size()) return 0;
  for (size_t i = 0; i < a.size(); ++i) {
    if (std::memcmp(&a[i], &b[i], sizeof(float)) != 0) {
      return static_cast<int64_t>(i);
    }
  }
  return -1;
}

void ExpectSameModel(const ShardedJob& want, const ShardedJob& got,
                     absl::string_view when) {
  for (const char* table : {"a", "b"}) {
    absl::StatusOr<std::vector<float>> w = want.PullDense(table);
    absl::StatusOr<std::vector<float>> g = got.PullDense(table);
    ASSERT_TRUE(w.ok()) << w.status();
    ASSERT_TRUE(g.ok()) << g.status();
    EXPECT_EQ(FirstDifference(*w, *g), -1)
        << when << ": table " << table << " (" << w->size() << " and "
        << g->size() << " values)";
  }
  // Every key the pushes may touch, and some they never do.
  std::vector<uint64_t> keys;
  for (uint64_t k = 0; k < kShardedKeys + 100; ++k) keys.push_back(k);
  absl::StatusOr<std::vector<float>> w = want.PullRows(keys);
  absl::StatusOr<std::vector<float>> g = got.PullRows(keys);
  ASSERT_TRUE(w.ok()) << w.status();
  ASSERT_TRUE(g.ok()) << g.status();
  const int64_t at = FirstDifference(*w, *g);
  EXPECT_EQ(at, -1) << when << ": row of key " << at / kShardedDim;
}

void Train(ShardedJob& job, int64_t from, int64_t to) {
  for (int64_t step = from; step < to; ++step) {
    for (int rank = 0; rank < 2; ++rank) {
      ASSERT_TRUE(job.PushStep(rank, step).ok()) << step << " " << rank;
    }
  }
}

// Trains on `from` servers, re-partitions onto `to`, compares, trains one
// more step on both and compares again.
void ExpectExactResume(v1::Consistency mode, int from, int to) {
  ShardedJob old(ShardedMap(from, kOldEpoch), mode);
  ASSERT_TRUE(old.Start().ok());
  Train(old, 0, kSteps);
  absl::StatusOr<std::vector<std::string>> snapshots = old.Snapshots();
  ASSERT_TRUE(snapshots.ok()) << snapshots.status();

  const v1::PartitionMap new_map = ShardedMap(to, kNewEpoch);
  absl::StatusOr<RepartitionedGroups> moved =
      Repartition(old.map(), *std::move(snapshots), new_map, {kSteps, kSteps});
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_FALSE(moved->unchanged);
  ASSERT_EQ(moved->snapshots.size(), static_cast<size_t>(to));

  ShardedJob resumed(new_map, mode);
  absl::Status restored = resumed.Restore(moved->snapshots);
  ASSERT_TRUE(restored.ok()) << restored;
  // What the new groups hold is exactly what Repartition wrote.
  absl::StatusOr<std::vector<std::string>> again = resumed.Snapshots();
  ASSERT_TRUE(again.ok()) << again.status();
  EXPECT_TRUE(*again == moved->snapshots);

  ExpectSameModel(old, resumed, "after re-partitioning");
  // Each group built alone is the same snapshot; the others stay empty.
  for (int g = 0; g < to; ++g) {
    absl::StatusOr<std::vector<std::string>> again_old = old.Snapshots();
    ASSERT_TRUE(again_old.ok()) << again_old.status();
    absl::StatusOr<RepartitionedGroups> one = Repartition(
        old.map(), *std::move(again_old), new_map, {kSteps, kSteps}, g);
    ASSERT_TRUE(one.ok()) << one.status();
    ASSERT_EQ(one->snapshots.size(), static_cast<size_t>(to));
    for (int h = 0; h < to; ++h) {
      EXPECT_EQ(one->snapshots[h], h == g ? moved->snapshots[g] : "")
          << g << " " << h;
    }
  }
  if (mode != v1::ASP) {
    // The clock resumes at the resume step: a pull there does not wait,
    // one a clock later (past SSP's bound of 2) does.
    const int64_t waits = kSteps + 1 + (mode == v1::SSP ? 2 : 0);
    EXPECT_TRUE(resumed.PullNowAt(kSteps).ok());
    EXPECT_EQ(resumed.PullNowAt(waits).code(),
              absl::StatusCode::kDeadlineExceeded);
  }
  // Optimizer state (Adam's moments and step counts, momentum) came along:
  // the same push moves both jobs alike.
  Train(old, kSteps, kSteps + 1);
  Train(resumed, kSteps, kSteps + 1);
  ExpectSameModel(old, resumed, "after one more step");
}

TEST(RepartitionTest, TwoServersToThreeUnderSsp) {
  ExpectExactResume(v1::SSP, 2, 3);
}

TEST(RepartitionTest, TwoServersToOneUnderAsp) {
  ExpectExactResume(v1::ASP, 2, 1);
}

TEST(RepartitionTest, TwoServersToThreeUnderBsp) {
  ExpectExactResume(v1::BSP, 2, 3);
}

TEST(RepartitionTest, ThreeServersToTwoUnderBsp) {
  ExpectExactResume(v1::BSP, 3, 2);
}

TEST(RepartitionTest, SameMapElsewhereReturnsTheSnapshotsUnchanged) {
  ShardedJob old(ShardedMap(2, kOldEpoch), v1::ASP);
  ASSERT_TRUE(old.Start().ok());
  Train(old, 0, 2);
  absl::StatusOr<std::vector<std::string>> snapshots = old.Snapshots();
  ASSERT_TRUE(snapshots.ok()) << snapshots.status();
  const std::vector<std::string> kept = *snapshots;
  // Other servers and epoch, the same pieces in the same groups.
  const v1::PartitionMap new_map = ShardedMap(2, kNewEpoch);
  ASSERT_TRUE(SamePartitioning(old.map(), new_map));
  absl::StatusOr<RepartitionedGroups> moved =
      Repartition(old.map(), *std::move(snapshots), new_map, {2, 2});
  ASSERT_TRUE(moved.ok()) << moved.status();
  EXPECT_TRUE(moved->unchanged);
  EXPECT_TRUE(moved->snapshots == kept);

  // De-duplication records kept: a step sent again is answered as a
  // duplicate (which PushStep reports as INTERNAL).
  ShardedJob resumed(new_map, v1::ASP);
  ASSERT_TRUE(resumed.Restore(moved->snapshots).ok());
  ExpectSameModel(old, resumed, "unchanged");
  EXPECT_EQ(resumed.PushStep(0, 1).code(), absl::StatusCode::kInternal);
}

TEST(RepartitionTest, SamePartitioningComparesPiecesNotPlaces) {
  const v1::PartitionMap two = ShardedMap(2, 1);
  EXPECT_TRUE(SamePartitioning(two, ShardedMap(2, 5)));
  EXPECT_FALSE(SamePartitioning(two, ShardedMap(3, 1)));
  EXPECT_FALSE(SamePartitioning(two, ShardedMap(1, 1)));

  v1::PartitionMap reordered = two;
  reordered.mutable_ranges()->SwapElements(0, 2);
  reordered.mutable_tables()->SwapElements(0, 1);
  EXPECT_TRUE(SamePartitioning(two, reordered));

  v1::PartitionMap moved_range = two;
  moved_range.mutable_ranges(2)->set_server_index(1);
  EXPECT_FALSE(SamePartitioning(two, moved_range));

  v1::PartitionMap moved_partition = two;
  moved_partition.set_partition_servers(
      7, 1 - moved_partition.partition_servers(7));
  EXPECT_FALSE(SamePartitioning(two, moved_partition));

  v1::PartitionMap other_rate = two;
  other_rate.mutable_tables(0)->mutable_optimizer()->set_learning_rate(0.5f);
  EXPECT_FALSE(SamePartitioning(two, other_rate));
}

}  // namespace
}  // namespace ps::server
