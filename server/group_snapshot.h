// A replica group's whole state as one deterministic, validated byte string:
// to copy a group to a new backup server while training goes on, and to
// compare replicas in tests. Two groups whose state is the same get the same
// bytes, always; a group restored from a snapshot then behaves, update for
// update and pull for pull, bit for bit as the group it was taken from.
//
// What is kept:
//   - each dense shard: its range, optimizer, values and every state plane;
//   - each sparse shard: its dim, initializer, optimizer, and every row
//     (key, values, state planes) in ascending key order, except rows still
//     exactly as created (initial values, zero state): a pull creates those,
//     so a primary that answered pulls holds rows its backups lack; leaving
//     them out makes such replicas' snapshots equal, and a restored shard
//     creates the same row again when a key is first touched;
//   - PushDedup: per worker the highest sequence and the window set;
//   - JobClock: its mode and staleness (checked, not restored), each
//     worker's rank (checked), finished clocks and pushes received for the
//     open clock, and the published (applied) clock under BSP;
//   - under BSP, the open clock's sums: BspAccumulator's per dense shard,
//     SparseBspAccumulator's per sparse shard (rows in key order).
// Left out: PullStats and TableStore's push counters (statistics, not
// state), whether the clock was closed, and rows as above.
//
// Format, all integers and floats little-endian, fixed width:
//   header   "PSGSNAP1" (8 bytes), version u32 (kGroupSnapshotVersion),
//            total size u64 (header and trailer included)
//   "DENS"   u32 count; per shard in (table, begin) order: table (u32
//            length + bytes), begin i64, end i64, optimizer, planes u32,
//            then (1 + planes) * (end - begin) floats: the values, then
//            each plane in turn
//   "SPRS"   u32 count; per shard in table order: table, dim i32,
//            initializer (kind i32, scale f32, seed u64), optimizer,
//            planes u32, rows u64, then rows keys (u64, ascending), then
//            rows x (1 + planes) * dim floats: per row its values, then
//            each plane's dim floats
//   "DDUP"   u32 workers; per worker in id order: id, highest u64, count
//            u64, count sequences u64 (ascending, each <= highest)
//   "CLCK"   mode i32, staleness i32, published i64, u32 workers; per
//            worker in id order: id, rank i32, finished i64, received i32
//   "BSPS"   u8 dense sums present; if 1, per dense shard in the order
//            above, end - begin floats. u8 sparse sums present; if 1, per
//            sparse shard: rows u64, keys u64 ascending, rows x dim floats
//   trailer  zlib's CRC-32 (u32) of every byte before it
// where optimizer is the spec resolved with its defaults
// (ps::ResolveOptimizerSpec): type i32, learning_rate f32, momentum f32,
// nesterov u8, beta1, beta2, epsilon, weight_decay, initial_accumulator,
// l1, l2, beta (f32 each), schedule kind i32, warmup_steps i64, step_size
// i64, gamma f32, decay_steps i64, min_factor f32. Specs that resolve alike
// write alike.
#ifndef PS_SERVER_GROUP_SNAPSHOT_H_
#define PS_SERVER_GROUP_SNAPSHOT_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "server/bsp_accumulator.h"
#include "server/dense_shard.h"
#include "server/group_snapshot_format.h"
#include "server/job_clock.h"
#include "server/push_dedup.h"
#include "server/snapshot_codec.h"
#include "server/sparse_bsp.h"
#include "server/sparse_shard.h"

namespace ps::server {

inline constexpr uint32_t kGroupSnapshotVersion = 1;

// The parts of one replica group, borrowed: none is owned, and all must
// outlive the call they are passed to. The lists may come in any order
// (both calls sort a copy); a (table, begin) pair or a sparse table may
// appear once.
struct GroupParts {
  // Dense shards with their table's name.
  std::vector<std::pair<std::string, DenseShard*>> dense;
  // Sparse shards with their table's name.
  std::vector<std::pair<std::string, SparseShard*>> sparse;
  PushDedup* dedup = nullptr;  // required
  JobClock* clock = nullptr;   // required
  // BSP only: the accumulators built over these shards (sparse_bsp only
  // when there are sparse shards).
  BspAccumulator* bsp = nullptr;
  SparseBspAccumulator* sparse_bsp = nullptr;
};

// Appends the parts' state to *out (see the format above).
//
// Consistency: each part is copied at one instant of its own, so the
// caller must keep every update (push, BSP apply) away from the group for
// the whole call; pulls may run. Memory: besides *out, about one sparse
// shard's rows (the largest) at a time.
void WriteGroupSnapshot(const GroupParts& parts, std::string* out);

// WriteGroupSnapshot in its two parts: the state, which needs the group held
// still (the same consistency rule), appended to *out from offset `start`
// = out->size() on entry (returned); then the checksum trailer, which
// needs only those bytes, so that the group may move on while it is
// computed (about 0.1 s per 536 MB).
size_t WriteGroupSnapshotState(const GroupParts& parts, std::string* out);
void SealGroupSnapshot(size_t start, std::string* out);

// Replaces the state of `parts` with the snapshot's. `parts` must have been
// built like the snapshot's group: the same tables, ranges, dims,
// initializers, optimizers, consistency mode, staleness and workers
// (ranks), and BSP accumulators exactly when the snapshot has sums.
//
// The whole snapshot is checked before anything changes; on any error
// nothing changes. DATA_LOSS: the checksum does not match. INVALID_ARGUMENT,
// naming what was wrong and where: a bad header or version, a size that
// differs from the header's, a truncated or malformed record (keys or
// sequences out of order, counts beyond the bytes left, bytes left over),
// or a snapshot of another group (a table, range, dim, initializer,
// optimizer, state plane count, mode, staleness, worker or rank that
// differs from `parts`). Never crashes on bad bytes.
//
// Consistency: as for WriteGroupSnapshot, no update may run meanwhile. The
// clock is restored last, so a pull that was waiting for a clock may
// proceed only once the values it reads are in place. Memory: besides
// `bytes`, one sparse shard's keys at a time.
absl::Status ReadGroupSnapshot(absl::string_view bytes,
                               const GroupParts& parts);

// ReadGroupSnapshot from a checkpoint's file, `fd`, open for reading, a
// regular file of `size` bytes (the caller checked) whose CRC-32 should be
// `file_crc32` (the manifest's); `path` names it in errors. Each dense
// range's floats go into its shard through the reader's 4 MiB buffer
// (SnapshotFileReader), checksummed there: no buffer holds the dense state
// twice, and the memory a restore needs is the group's own plus the sparse
// and bookkeeping sections.
//
// Errors as ReadGroupSnapshot's, and in this order: an I/O error or a file
// that ends early (it changed while it was read); DATA_LOSS where the
// file's CRC-32 is not `file_crc32` (the message names the file and both
// values) or the trailer's is not that of the bytes
// before it, whatever else is wrong (a damaged file is reported as one);
// then INVALID_ARGUMENT for a malformed snapshot or one of another group.
// On any error the group is as it was, provided it was as built: dense
// ranges read into are reset to their initializer's values and zero state
// (TableStore::LoadGroup loads only into a group that has applied
// nothing); nothing else is changed before every check has passed.
absl::Status ReadGroupSnapshotFile(int fd, uint64_t size, uint32_t file_crc32,
                                   const std::string& path,
                                   const GroupParts& parts);

// The steps of ReadGroupSnapshotFile that other readers of snapshot files
// share (RepartitionReader, server/repartition.h), on a reader over the
// file's bytes before its trailer:
//   ReadSnapshotHeader: the header, checked against the file's `size` (the
//     reader fails where it is wrong);
//   ReadDenseSectionCount: the dense section's tag and range count;
//   ReadDenseHeader: a dense range's header, its optimizer bytes kept in
//     *optimizer (which d->optimizer views), checked on its own
//     (DenseHeaderProblem); the range's floats are next;
//   CheckSnapshotFileChecksums: once the parse has read what it wanted (or
//     failed), checksums the rest and reads the trailer. An I/O error or
//     early end as the reader reports it; then DATA_LOSS where the file's
//     CRC-32 is not `file_crc32` (naming `path`, both values and `size`) or
//     the trailer's is not that of the bytes before it; else OK, whatever
//     parse failure the reader holds.
void ReadSnapshotHeader(SnapshotFileReader& r, uint64_t size);
bool ReadDenseSectionCount(SnapshotFileReader& r, uint32_t* count);
bool ReadDenseHeader(SnapshotFileReader& r, snapshot::DenseImage* d,
                     std::string* optimizer);
absl::Status CheckSnapshotFileChecksums(SnapshotFileReader& r, uint64_t size,
                                        uint32_t file_crc32,
                                        const std::string& path);

}  // namespace ps::server

#endif  // PS_SERVER_GROUP_SNAPSHOT_H_
