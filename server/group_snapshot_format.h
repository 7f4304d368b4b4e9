// Internal to server/ (//server:group_snapshot, and //server:repartition,
// which rewrites snapshots): the snapshot's framing and the
// encodings shared by writing and reading (the format is documented in
// server/group_snapshot.h), and the parsed form of a snapshot, which points
// into its bytes.
#ifndef PS_SERVER_GROUP_SNAPSHOT_FORMAT_H_
#define PS_SERVER_GROUP_SNAPSHOT_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/optimizer_spec.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/job_clock.h"
#include "server/push_dedup.h"
#include "server/snapshot_codec.h"

namespace ps::server::snapshot {

inline constexpr char kMagic[] = "PSGSNAP1";  // 8 bytes, no terminator
inline constexpr size_t kMagicBytes = 8;
inline constexpr size_t kHeaderBytes = kMagicBytes + 4 + 8;
inline constexpr size_t kTrailerBytes = 4;

constexpr uint32_t Tag(const char (&s)[5]) {
  return uint32_t{uint8_t(s[0])} | uint32_t{uint8_t(s[1])} << 8 |
         uint32_t{uint8_t(s[2])} << 16 | uint32_t{uint8_t(s[3])} << 24;
}
inline constexpr uint32_t kDenseTag = Tag("DENS");
inline constexpr uint32_t kSparseTag = Tag("SPRS");
inline constexpr uint32_t kDedupTag = Tag("DDUP");
inline constexpr uint32_t kClockTag = Tag("CLCK");
inline constexpr uint32_t kSumsTag = Tag("BSPS");

// zlib's CRC-32 of `bytes`.
uint32_t Crc32(absl::string_view bytes);
// zlib's CRC-32 of the bytes whose CRC-32 is `crc_so_far`, then `bytes`.
uint32_t ContinueCrc32(uint32_t crc_so_far, absl::string_view bytes);
// The CRC-32 of a whole snapshot as written by WriteGroupSnapshot (trailer
// included), from its trailer alone: zlib's CRC continued over the four
// trailer bytes. Equal to Crc32(snapshot) when the trailer is right; at least
// kHeaderBytes + kTrailerBytes long.
uint32_t SnapshotFileCrc32(absl::string_view snapshot);

// Bytes of an encoded optimizer and initializer.
inline constexpr size_t kOptimizerBytes = 4 * 11 + 1 + 4 + 8 * 3 + 4 * 2;
inline constexpr size_t kInitializerBytes = 4 + 4 + 8;

// `spec` resolved (it was validated when the shard's rule was built) and
// encoded: kOptimizerBytes bytes.
std::string EncodeOptimizer(const v1::OptimizerSpec& spec);
std::string EncodeInitializer(const v1::Initializer& init);
// For a mismatch: "optimizer.<field>: snapshot <value>, here <value>" for
// the first field that differs between two encodings; the same for
// initializers ("initializer.<field>").
std::string OptimizerDifference(absl::string_view snapshot,
                                absl::string_view here);
std::string InitializerDifference(absl::string_view snapshot,
                                  absl::string_view here);

// A parsed snapshot: every pointer points into the snapshot's bytes
// (unaligned), which must outlive it.
struct DenseImage {
  std::string table;
  int64_t begin = 0, end = 0;
  absl::string_view optimizer;  // kOptimizerBytes
  uint32_t planes = 0;
  // (1 + planes) * (end - begin) floats; nullptr where they were read
  // straight into the shard (ReadGroupSnapshotFile).
  const char* state = nullptr;
};
struct RowsImage {
  uint64_t rows = 0;
  const char* keys = nullptr;  // rows u64, ascending
  const char* data = nullptr;  // rows x (floats per row)
};
struct SparseImage {
  std::string table;
  int32_t dim = 0;
  absl::string_view init;       // kInitializerBytes
  absl::string_view optimizer;  // kOptimizerBytes
  uint32_t planes = 0;
  RowsImage rows;  // (1 + planes) * dim floats per row
};
struct Image {
  std::vector<DenseImage> dense;
  std::vector<SparseImage> sparse;
  std::vector<PushDedup::WorkerSeqs> dedup;
  int32_t mode = 0;
  int32_t staleness = 0;
  JobClock::State clock;
  bool dense_sums = false;
  std::vector<const char*> dense_sum;  // per dense: end - begin floats
  bool sparse_sums = false;
  std::vector<RowsImage> sparse_sum;  // per sparse: dim floats per row
};

// The frame's checks, shared by ParseSnapshot and the file loader
// (ReadGroupSnapshotFile): INVALID_ARGUMENT for a snapshot of `size` bytes
// too short for a header and a trailer; what is wrong with `header` (its
// first kHeaderBytes: the magic, the version, or a declared size other
// than `size`), or ""; DATA_LOSS for a trailer that says `declared` where
// the bytes before it have CRC-32 `computed`.
absl::Status CheckSnapshotLength(uint64_t size);
std::string HeaderProblem(absl::string_view header, uint64_t size);
absl::Status TrailerMismatch(uint32_t computed, uint32_t declared,
                             uint64_t size);

// "dense range <table> [<begin>, <end>)", as errors name a range.
std::string DenseRangeName(absl::string_view table, int64_t begin,
                           int64_t end);
// What is wrong with a dense range's header on its own (not a range, too
// many state planes), or "".
std::string DenseHeaderProblem(const DenseImage& d);

// The sections after the dense one (sparse, dedup, clock, BSP sums) from
// `rest`, the snapshot's bytes from the "SPRS" tag up to its trailer, which
// start at byte `at` of the snapshot (positions in errors count from the
// snapshot's first byte). image->dense must hold the dense ranges already
// (the BSP sums' sizes come from them); the rest of *image is filled in.
// INVALID_ARGUMENT as ParseSnapshot.
absl::Status ParseAfterDense(absl::string_view rest, size_t at, Image* image);

// Checks the header, the size and the checksum of a whole snapshot, then
// parses its sections, checking each on its own (not against any group):
// INVALID_ARGUMENT or DATA_LOSS as ReadGroupSnapshot says.
absl::StatusOr<Image> ParseSnapshot(absl::string_view bytes);

}  // namespace ps::server::snapshot

#endif  // PS_SERVER_GROUP_SNAPSHOT_FORMAT_H_
