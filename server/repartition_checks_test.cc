// What Repartition refuses, each error naming what is wrong: maps, tables,
// snapshots that do not belong to their groups, clocks, resume steps and
// open BSP clocks.
#include <string>
#include <utility>
#include <vector>

#include "common/partition.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/repartition.h"
#include "server/test_sharded_job.h"

namespace ps::server {
namespace {

using ::testing::HasSubstr;

constexpr uint64_t kNewEpoch = 9;

// Snapshots of the job on two servers after two steps under `mode`.
std::vector<std::string> TrainedSnapshots(v1::Consistency mode) {
  ShardedJob job(ShardedMap(2, 1), mode);
  EXPECT_TRUE(job.Start().ok());
  for (int64_t step = 0; step < 2; ++step) {
    for (int rank = 0; rank < 2; ++rank) {
      EXPECT_TRUE(job.PushStep(rank, step).ok());
    }
  }
  absl::StatusOr<std::vector<std::string>> snapshots = job.Snapshots();
  EXPECT_TRUE(snapshots.ok()) << snapshots.status();
  return *snapshots;
}

class RepartitionChecksTest : public ::testing::Test {
 protected:
  // Repartition of the trained snapshots (or `snapshots`) from `old_map`
  // onto `new_map`; expects INVALID_ARGUMENT containing `text`.
  void ExpectRefused(
      const v1::PartitionMap& old_map, std::vector<std::string> snapshots,
      const v1::PartitionMap& new_map, std::vector<int64_t> steps,
      absl::string_view text,
      absl::StatusCode code = absl::StatusCode::kInvalidArgument) {
    absl::StatusOr<RepartitionedGroups> out =
        Repartition(old_map, std::move(snapshots), new_map, steps);
    EXPECT_EQ(out.status().code(), code) << out.status();
    EXPECT_THAT(std::string(out.status().message()), HasSubstr(text));
  }
  void ExpectRefused(const v1::PartitionMap& new_map, absl::string_view text) {
    ExpectRefused(old_map_, snapshots_, new_map, {2, 2}, text);
  }

  const v1::PartitionMap old_map_ = ShardedMap(2, 1);
  const v1::PartitionMap new_map_ = ShardedMap(3, kNewEpoch);
  const std::vector<std::string> snapshots_ = TrainedSnapshots(v1::ASP);
};

TEST_F(RepartitionChecksTest, TheGoodCaseWorks) {
  EXPECT_TRUE(Repartition(old_map_, snapshots_, new_map_, {2, 2}).ok());
}

TEST_F(RepartitionChecksTest, RefusesABrokenMap) {
  v1::PartitionMap gapped = new_map_;
  gapped.mutable_ranges(0)->set_end(gapped.ranges(0).end() - 1);
  ExpectRefused(gapped, "new partition map: table a: no range holds");
  v1::PartitionMap overlapping = old_map_;
  overlapping.mutable_ranges(1)->set_begin(overlapping.ranges(1).begin() - 1);
  ExpectRefused(overlapping, snapshots_, new_map_, {2, 2},
                "old partition map: table a: ranges overlap");
  v1::PartitionMap no_groups = new_map_;
  no_groups.clear_servers();
  ExpectRefused(no_groups, "new partition map: no servers");
}

TEST_F(RepartitionChecksTest, RefusesTablesThatDiffer) {
  std::vector<v1::TableDef> tables = ShardedTables();
  tables[0].set_size(tables[0].size() + 1);
  tables[0].set_shape(0, tables[0].size());
  auto other = BuildPartitionMap(
      kNewEpoch, {new_map_.servers().begin(), new_map_.servers().end()},
      tables);
  ASSERT_TRUE(other.ok());
  ExpectRefused(*other,
                "table a differs between the old and the new map (modified: "
                "shape[0]: 32773 -> 32774; modified: size: 32773 -> 32774)");

  v1::PartitionMap rate = new_map_;
  rate.mutable_tables(2)->mutable_optimizer()->set_learning_rate(0.5f);
  ExpectRefused(rate,
                "table e differs between the old and the new map "
                "(modified: optimizer.learning_rate");
  v1::PartitionMap dim = new_map_;
  dim.mutable_tables(2)->set_dim(4);
  ExpectRefused(dim, "(modified: dim: 3 -> 4)");
  v1::PartitionMap renamed = new_map_;
  renamed.mutable_tables(2)->set_name("e2");
  ExpectRefused(renamed, "table e2 of the new partition map is not in the old");
  v1::PartitionMap extra = new_map_;
  *extra.add_tables() = extra.tables(2);
  extra.mutable_tables(3)->set_name("e2");
  ExpectRefused(extra, "the new partition map has 4 tables; the old one 3");
  v1::PartitionMap bad_optimizer = old_map_;
  bad_optimizer.mutable_tables(1)->mutable_optimizer()->set_beta1(0.9f);
  ExpectRefused(bad_optimizer, snapshots_, new_map_, {2, 2},
                "old partition map: table b: optimizer.beta1");
}

TEST_F(RepartitionChecksTest, RefusesMissingOrMisplacedSnapshots) {
  ExpectRefused(old_map_, {snapshots_[0]}, new_map_, {2, 2},
                "1 old snapshots; the old partition map has 2 groups");
  ExpectRefused(old_map_, {snapshots_[1], snapshots_[0]}, new_map_, {2, 2},
                "old group 0: its snapshot holds 1 dense ranges; the old "
                "map gives the group 2");
  // Rows in a group the map does not give their partition.
  v1::PartitionMap swapped = old_map_;
  for (int p = 0; p < swapped.partition_servers_size(); ++p) {
    swapped.set_partition_servers(p, 1 - swapped.partition_servers(p));
  }
  ExpectRefused(swapped, snapshots_, new_map_, {2, 2},
                ", which the old map gives group 1");
  // Another split of "a" than the snapshots'.
  v1::PartitionMap moved = old_map_;
  moved.mutable_ranges(0)->set_end(moved.ranges(0).end() + 1);
  moved.mutable_ranges(1)->set_begin(moved.ranges(1).begin() + 1);
  ExpectRefused(moved, snapshots_, new_map_, {2, 2},
                "old group 0: its snapshot holds dense range a [0, 16386) "
                "where the old map has dense range a [0, 16387)");
}

TEST_F(RepartitionChecksTest, RefusesDamagedSnapshotsNamingTheGroup) {
  std::vector<std::string> damaged = snapshots_;
  damaged[1][damaged[1].size() / 2] ^= 1;
  ExpectRefused(old_map_, damaged, new_map_, {2, 2},
                "old group 1: snapshot: checksum", absl::StatusCode::kDataLoss);
  damaged = snapshots_;
  damaged[0].resize(damaged[0].size() - 1);
  ExpectRefused(old_map_, damaged, new_map_, {2, 2}, "old group 0: snapshot:");
  ExpectRefused(old_map_, {"", snapshots_[1]}, new_map_, {2, 2},
                "old group 0: snapshot: 0 bytes");
}

TEST_F(RepartitionChecksTest, RefusesGroupsOfDifferentClocks) {
  const std::vector<std::string> ssp = TrainedSnapshots(v1::SSP);
  ExpectRefused(old_map_, {snapshots_[0], ssp[1]}, new_map_, {2, 2},
                "old group 1: clock SSP staleness 2, workers 'w0' (rank 0) "
                "'w1' (rank 1), BSP sums: dense 0 sparse 0; group 0's: ASP");
}

TEST_F(RepartitionChecksTest, RefusesResumeStepsThatAreNotOnePerRank) {
  ExpectRefused(old_map_, snapshots_, new_map_, {2},
                "1 resume steps for 2 ranks");
  ExpectRefused(old_map_, snapshots_, new_map_, {2, -1},
                "resume step of rank 1: -1; expected >= 0");
}

// Rank 0 pushed step 2, rank 1 did not: BSP's clock 2 is open.
TEST_F(RepartitionChecksTest, RefusesAnOpenBspClockUnlessUnchanged) {
  ShardedJob job(ShardedMap(2, 1), v1::BSP);
  ASSERT_TRUE(job.Start().ok());
  for (int64_t step = 0; step < 2; ++step) {
    for (int rank = 0; rank < 2; ++rank) {
      ASSERT_TRUE(job.PushStep(rank, step).ok());
    }
  }
  ASSERT_TRUE(job.PushStep(0, 2).ok());
  absl::StatusOr<std::vector<std::string>> open = job.Snapshots();
  ASSERT_TRUE(open.ok());
  ExpectRefused(old_map_, *open, new_map_, {2, 2},
                "old group 0: worker 'w0' has finished 3 clocks and sent 0 "
                "pushes of the next; the group has applied 2 clocks; a BSP "
                "checkpoint to re-partition must be taken between clocks");
  // Kept as they are, the snapshots keep their open clock, sums included.
  absl::StatusOr<RepartitionedGroups> kept =
      Repartition(old_map_, *open, ShardedMap(2, kNewEpoch), {2, 2});
  ASSERT_TRUE(kept.ok()) << kept.status();
  EXPECT_TRUE(kept->unchanged);
}

}  // namespace
}  // namespace ps::server
