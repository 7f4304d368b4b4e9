// A small replica group for the group_snapshot fuzz target and its seeds
// (write_seeds.cc): the seeds are snapshots of this group, so the target can
// restore what it parses into a group built the same way and get past
// ReadGroupSnapshot's "snapshot of another group" checks.
//
// Tables: dense "w" (ADAM, range [2, 10) of 16 values) and sparse "emb"
// (ADAGRAD, dim 2); workers "w0" and "w1". Built as TableStore builds a
// job's group (see server/group_snapshot_test.cc), BSP accumulators
// included under BSP. Not thread-safe.
#ifndef PS_FUZZ_SNAPSHOT_GROUP_H_
#define PS_FUZZ_SNAPSHOT_GROUP_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "proto/ps/v1/ps.pb.h"
#include "server/bsp_accumulator.h"
#include "server/dense_shard.h"
#include "server/group_snapshot.h"
#include "server/job_clock.h"
#include "server/push_dedup.h"
#include "server/sparse_bsp.h"
#include "server/sparse_shard.h"

namespace ps::fuzz {

class SnapshotGroup {
 public:
  // The tables: "w" (dense, 16 values) and "emb" (sparse).
  static std::vector<v1::TableDef> Tables();

  // `mode`: ASP, SSP (staleness 1) or BSP. The group holds "w"'s range
  // [begin, end) (the seeds' group: [2, 10)).
  explicit SnapshotGroup(v1::Consistency mode, int64_t begin = 2,
                         int64_t end = 10);

  // Both workers push clocks [0, clocks); then, when `half_clock`, "w0"
  // pushes clock `clocks` once of two announced pushes, so a BSP group
  // holds open sums and "w0" is ahead.
  void Train(int clocks, bool half_clock);

  // WriteGroupSnapshot of the group.
  std::string Snapshot() const;
  const server::GroupParts& parts() const { return parts_; }

 private:
  void Push(const std::string& worker, uint64_t seq, int64_t clock,
            int32_t pushes);

  std::unique_ptr<server::DenseShard> dense_;
  std::unique_ptr<server::SparseShard> sparse_;
  server::PushDedup dedup_;
  std::unique_ptr<server::JobClock> clock_;
  std::unique_ptr<server::BspAccumulator> bsp_;
  std::unique_ptr<server::SparseBspAccumulator> sparse_bsp_;
  server::GroupParts parts_;
  uint64_t next_seq_ = 0;
};

// Writes the header's size and the trailer's checksum for `bytes`, as the
// fuzz targets do before parsing a mutated snapshot (a snapshot too short
// for a header and a trailer is left as it is).
void FixSnapshotFrame(std::string& bytes);

}  // namespace ps::fuzz

#endif  // PS_FUZZ_SNAPSHOT_GROUP_H_
