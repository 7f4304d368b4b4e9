// libFuzzer target: ParseSnapshot (server/group_snapshot_format.h), the
// reader of checkpoint files' payload, and ReadGroupSnapshot behind it.
//
// Input: byte 0 chooses the framing, the rest is the snapshot. A snapshot
// ends with a CRC-32 of everything before it, which almost every mutation
// breaks; checked first, it would keep the fuzzer out of the sections. So
// unless byte 0 is a multiple of 8 (then the bytes go in as they are, to
// fuzz the frame checks too), the target first writes the snapshot's real
// size into the header's size field and its real CRC-32 into the trailer.
// The seeds (fuzz/corpus/group_snapshot/) follow this layout.
//
// What parses is restored with ReadGroupSnapshot into a fresh SnapshotGroup
// (fuzz/snapshot_group.h, the group the seeds were taken of) of the
// snapshot's mode. Every input is also loaded as a checkpoint's file (a
// memfd, the manifest's CRC-32 that of the bytes) with
// ReadGroupSnapshotFile into another fresh group. Besides what the
// sanitizers catch, it aborts when:
//   - a refusal is not INVALID_ARGUMENT or DATA_LOSS, or its message does
//     not start with "snapshot"; or DATA_LOSS comes for a fixed frame;
//   - ReadGroupSnapshot refuses and the group's state changed anyway;
//   - a restored group's snapshot does not restore into a fresh group, or
//     that group's snapshot differs (restoring must be a fixed point);
//   - the file's load and the in-memory restore disagree: one refuses and
//     the other does not, the file's group changed although refused, or
//     the two groups' snapshots differ.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "fuzz/snapshot_group.h"
#include "server/group_snapshot.h"
#include "server/group_snapshot_format.h"

namespace {

namespace snapshot = ::ps::server::snapshot;
using ::ps::fuzz::SnapshotGroup;

bool Expected(const absl::Status& s, bool fixed) {
  if (s.code() == absl::StatusCode::kDataLoss) {
    if (fixed) return false;
  } else if (s.code() != absl::StatusCode::kInvalidArgument) {
    return false;
  }
  return s.message().substr(0, 8) == "snapshot";
}

// ReadGroupSnapshotFile of `bytes` into a fresh group of `mode`: whether it
// loaded, and the group's snapshot then; aborts where a refusal is not
// INVALID_ARGUMENT or DATA_LOSS from the snapshot's checks or the group
// changed anyway.
bool LoadFile(const std::string& bytes, ps::v1::Consistency mode,
              std::string* loaded) {
  const int fd = memfd_create("group-0.snap", MFD_CLOEXEC);
  if (fd < 0 || write(fd, bytes.data(), bytes.size()) !=
                    static_cast<ssize_t>(bytes.size())) {
    abort();
  }
  SnapshotGroup group(mode);
  const std::string before = group.Snapshot();
  const absl::Status s = ps::server::ReadGroupSnapshotFile(
      fd, bytes.size(), snapshot::Crc32(bytes), "group-0.snap", group.parts());
  close(fd);
  *loaded = group.Snapshot();
  if (!s.ok() && (!Expected(s, /*fixed=*/false) || *loaded != before)) {
    abort();
  }
  return s.ok();
}

void Restore(const std::string& bytes, ps::v1::Consistency mode) {
  SnapshotGroup group(mode);
  const std::string before = group.Snapshot();
  const absl::Status s = ps::server::ReadGroupSnapshot(bytes, group.parts());
  std::string from_file;
  const bool file_loaded = LoadFile(bytes, mode, &from_file);
  if (file_loaded != s.ok()) abort();
  if (!s.ok()) {
    if (!Expected(s, /*fixed=*/true) || group.Snapshot() != before) abort();
    return;
  }
  const std::string restored = group.Snapshot();
  if (from_file != restored) abort();
  SnapshotGroup again(mode);
  if (!ps::server::ReadGroupSnapshot(restored, again.parts()).ok() ||
      again.Snapshot() != restored) {
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const bool fix = data[0] % 8 != 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (fix) ps::fuzz::FixSnapshotFrame(bytes);
  absl::StatusOr<snapshot::Image> image = snapshot::ParseSnapshot(bytes);
  if (!image.ok()) {
    if (!Expected(image.status(), fix)) abort();
    std::string from_file;
    if (LoadFile(bytes, ps::v1::ASP, &from_file)) abort();
    return 0;
  }
  Restore(bytes, image->mode == ps::v1::BSP   ? ps::v1::BSP
                 : image->mode == ps::v1::SSP ? ps::v1::SSP
                                              : ps::v1::ASP);
  return 0;
}
