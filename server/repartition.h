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
// Repartition and SamePartitioning are pure functions: no RPC, no I/O, no
// shared state; thread-safe. RepartitionReader reads files.
#ifndef PS_SERVER_REPARTITION_H_
#define PS_SERVER_REPARTITION_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
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
// resumes). The form in memory of what RepartitionReader (below) builds
// from the files, which is what a server runs; tests and the
// repartition_reader fuzz target hold the reader to it.
//
// `only_group` >= 0 builds that group's snapshot alone; the checks are the
// same.
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

// Repartition for one new group, from the old groups' checkpoint files
// rather than their snapshots in memory: how a server loads its group of a
// job resumed on another number of servers. Each old file is read once
// through SnapshotFileReader's 4 MiB buffer and checksummed there. Of its
// dense ranges only the part that overlaps the new group's ranges of the
// same table is kept (values and every state plane; the hull, where the
// group has several ranges of a table), and of its sparse rows only those
// of the new group's virtual partitions. Memory: what is kept (about the
// new group's share of the model) and the snapshot Finish builds from it,
// plus, while a file is read, its sections after the dense one (sparse rows
// and BSP sums); Repartition holds every old snapshot at once.
//
// Start, then AddFile once for each old group, in any order, then Finish;
// the result is what Repartition(..., group) builds from the same files'
// bytes. The checks are Repartition's, run as the files come in (the maps
// and tables in Start; each file's own when it is read; the clocks across
// groups in Finish), so where several things are wrong the first reported
// may be another than Repartition's. Not thread-safe.
class RepartitionReader {
 public:
  // INVALID_ARGUMENT as Repartition for either map and their tables; for
  // `group` not a group of `new_map`; and for maps that are
  // SamePartitioning (each group then loads its own file whole, with its
  // de-duplication record and clocks: ReadGroupSnapshotFile).
  static absl::StatusOr<std::unique_ptr<RepartitionReader>> Start(
      const v1::PartitionMap& old_map, const v1::PartitionMap& new_map,
      int group);
  ~RepartitionReader();

  // Reads old group `old_group`'s file: `fd`, open for reading, a regular
  // file of `size` bytes (the caller checked) whose CRC-32 should be
  // `file_crc32` (the manifest's); `path` names it in errors. Errors, in
  // ReadGroupSnapshotFile's order: an I/O error or a file that ended early;
  // DATA_LOSS for a checksum that does not match, whatever else is wrong;
  // then INVALID_ARGUMENT as Repartition's for the snapshot, for an old
  // group out of range, or one whose file was added already. Errors of the
  // file's frame, checksums and sections are prefixed with the old group
  // and the file. After an error the reader must not be used further.
  absl::Status AddFile(int old_group, int fd, uint64_t size,
                       uint32_t file_crc32, const std::string& path);

  // The new group's snapshot, once every old group's file was added:
  // INVALID_ARGUMENT naming an old group without one, or as Repartition for
  // the clocks across groups and `resume_steps`.
  absl::StatusOr<std::string> Finish(absl::Span<const int64_t> resume_steps);

  // Bytes kept from the files added so far (dense parts and sparse rows).
  uint64_t kept_bytes() const { return kept_bytes_; }

 private:
  struct State;
  RepartitionReader(const v1::PartitionMap& old_map,
                    const v1::PartitionMap& new_map, int group);

  // What of old range [begin, end) of `table` the new group needs:
  // [lo, hi), empty (lo == hi) where nothing.
  std::pair<int64_t, int64_t> Window(const std::string& table, int64_t begin,
                                     int64_t end) const;

  std::unique_ptr<State> state_;
  uint64_t kept_bytes_ = 0;
};

}  // namespace ps::server

#endif  // PS_SERVER_REPARTITION_H_
