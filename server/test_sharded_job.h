// A job of three tables spread over the replica groups of a partition map,
// every group's primary in one TableStore, for the tests of Repartition:
// pushes and pulls routed by the map as a client routes them, snapshots
// taken and installed as a copy of a group is.
//
// The job "job-ck", workers "w0" and "w1" (ranks 0 and 1):
//   "a"  DENSE, 2 * kMinSplitValues + 5 values (split over the servers),
//        UNIFORM init, ADAM (three state planes);
//   "b"  DENSE, 300 values (whole on one server), ZEROS, MOMENTUM;
//   "e"  SPARSE, rows of 3, UNIFORM init, ADAM.
#ifndef PS_SERVER_TEST_SHARDED_JOB_H_
#define PS_SERVER_TEST_SHARDED_JOB_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/table_store.h"

namespace ps::server {

inline constexpr char kShardedJob[] = "job-ck";
inline constexpr int kShardedDim = 3;
// Sparse keys the job's pushes touch lie in [0, kShardedKeys).
inline constexpr uint64_t kShardedKeys = 5000;

// The job's tables.
std::vector<v1::TableDef> ShardedTables();

// The job's map on `servers` servers at `epoch`, built as the coordinator
// builds it (PlaceJob): BuildPartitionMap, then PlaceReplicaGroups with
// two copies when there are two servers or more.
v1::PartitionMap ShardedMap(int servers, uint64_t epoch);

class ShardedJob {
 public:
  ShardedJob(v1::PartitionMap map, v1::Consistency mode);

  const v1::PartitionMap& map() const { return map_; }

  // The CreateTables request of group `g`, as the coordinator makes it
  // (GroupRequest), without backups.
  v1::CreateTablesRequest GroupRequest(int g, v1::ReplicaRole role) const;

  // Creates every group, empty, PRIMARY.
  absl::Status Start();
  // Creates every group JOINING, installs its snapshot, then makes it
  // PRIMARY at the next epoch, as a copy of a group is made.
  absl::Status Restore(const std::vector<std::string>& snapshots);
  // Every group's snapshot, by group.
  absl::StatusOr<std::vector<std::string>> Snapshots() const;

  // Rank `rank`'s gradient of step `step` (a pure function of both), one
  // push to every group: its ranges of "a" and "b", and the rows of its
  // partitions among the step's keys of "e".
  absl::Status PushStep(int rank, int64_t step);
  // All of a dense table, gathered from its ranges.
  absl::StatusOr<std::vector<float>> PullDense(const std::string& table) const;
  // The rows of "e" for `keys` (each key once), in that order.
  absl::StatusOr<std::vector<float>> PullRows(
      const std::vector<uint64_t>& keys) const;
  // A pull of "b" at `clock` that may not wait: OK if the clock gate is
  // open, DEADLINE_EXCEEDED if the pull would have to wait.
  absl::Status PullNowAt(int64_t clock) const;

 private:
  int GroupOfKey(uint64_t key) const;

  const v1::PartitionMap map_;
  const v1::Consistency mode_;
  uint64_t epoch_;
  TableStore store_;
};

}  // namespace ps::server

#endif  // PS_SERVER_TEST_SHARDED_JOB_H_
