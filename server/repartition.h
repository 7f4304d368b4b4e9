// Re-partitioning a checkpoint: the snapshots (server/group_snapshot.h) of
// a job's replica groups taken under one partition map, rewritten as the
// snapshots of the groups of another map of the same tables, for a job
// resumed on a different number of servers. Each new snapshot is what
// ReadGroupSnapshot accepts for the group TableStore builds from the new
// map (the same tables, the group's ranges and partitions, the same
// consistency, staleness and workers by rank).
//
// What a new group gets:
//   - dense values and every optimizer state plane of its ranges, sliced
//     from and joined across the old ranges that held them;
//   - the sparse rows (values and state planes) whose key falls in one of
//     its virtual partitions (SparsePartition, common/hash.h, over the new
//     map's sparse_partitions); rows never changed from their initial
//     values stay left out, as in every snapshot;
//   - a clock of the same mode, staleness and workers (ids and ranks) as
//     the old groups', where each rank has finished exactly its resume
//     step and has sent nothing of the next clock; under BSP the published
//     clock is the smallest resume step (pulls at that clock do not wait),
//     otherwise 0 (only BSP uses it);
//   - an EMPTY de-duplication record: push sequence numbers are counted
//     per group (a push's number depends on the chunks of its group), so
//     the old groups' records mean nothing to the new groups. A push of a
//     rank's resume step is therefore applied even where an old group had
//     applied it already: take the checkpoint where every group has
//     finished each rank's resume step and nothing after it;
//   - no BSP sums: the checkpoint must be taken between two BSP clocks; an
//     old snapshot holding a partial clock (a non-zero sum, a sparse sum
//     row, a worker that has finished a clock not yet applied or sent part
//     of one) is refused.
//
// When both maps hold the same pieces in the same groups
// (SamePartitioning), the old snapshots are returned as they are instead,
// de-duplication records, clocks and BSP sums included: a resumed rank's
// repeated push is then answered as a duplicate where it was applied, and
// the resume steps are not written anywhere (only their count is checked).
//
// Pure functions: no RPC, no I/O, no shared state; thread-safe.
#ifndef PS_SERVER_REPARTITION_H_
#define PS_SERVER_REPARTITION_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::server {

// Whether `a` and `b` place the same pieces in the same groups: the same
// tables (equal TableDefs, in any order), as many groups, the same dense
// ranges (table, begin, end, group; in any order) and the same sparse
// partitions each in the same group. Epochs, endpoints and replicas are
// not compared: they say where the groups live, not what they hold.
bool SamePartitioning(const v1::PartitionMap& a, const v1::PartitionMap& b);

struct RepartitionedGroups {
  // By group of the new map; with `only_group`, the others are empty.
  std::vector<std::string> snapshots;
  // SamePartitioning: `snapshots` are the old ones, moved out unchanged.
  bool unchanged = false;
};

// The snapshots of the groups of `new_map`, from `old_snapshots` (by group
// of `old_map`, each that group's snapshot; taken by value so that the
// unchanged case moves rather than copies them: pass them with std::move)
// and `resume_steps` (by rank: the steps each rank finished, where it
// resumes).
//
// `only_group` >= 0 builds that group's snapshot alone (a server loading
// its group needs no other); the checks are the same.
//
// Memory: the old snapshots and the new ones at once (with `only_group`,
// that one), plus 16 bytes per sparse row; no other copy of values.
//
// Checked before anything is built, every error naming what is wrong:
// INVALID_ARGUMENT for either map's layout (ValidatePartitionLayout); a
// table invalid (ValidateTableDef, its optimizer) or not the same in both
// maps (kind, size, dim, shape, initializer, optimizer); a snapshot count
// other than old_map's group count; a snapshot that is not of its group of
// `old_map` (ranges, tables, dims, initializers, optimizers, state planes,
// or a sparse row of a partition of another group); snapshots whose
// clocks differ (mode, staleness, workers and ranks) or whose BSP sums
// are kept differently; ranks not numbered 0..n-1; resume_steps not one
// per rank, or negative; and, unless the maps are SamePartitioning, an old
// snapshot holding a partial BSP clock. An old snapshot that does not
// parse keeps ParseSnapshot's code (INVALID_ARGUMENT, or DATA_LOSS for a
// checksum that does not match), its message prefixed with the group.
absl::StatusOr<RepartitionedGroups> Repartition(
    const v1::PartitionMap& old_map, std::vector<std::string> old_snapshots,
    const v1::PartitionMap& new_map, absl::Span<const int64_t> resume_steps,
    int only_group = -1);

}  // namespace ps::server

#endif  // PS_SERVER_REPARTITION_H_
