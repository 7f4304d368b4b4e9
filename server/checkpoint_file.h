// The files of a job's checkpoint: one per replica group holding the
// group's snapshot (server/group_snapshot.h), written by the group's
// primary, and a manifest, written last by the coordinator, that names
// them with their sizes and checksums. A checkpoint whose manifest is
// missing is incomplete and must be ignored; a file that does not match
// its manifest entry is refused, never half-read.
//
// Functions without RPC or shared state: each is thread-safe, and calls on
// different paths may run concurrently. The manifest's functions touch no
// file (the caller reads and writes the manifest with the file functions).
// Nothing here logs: callers log where they handle an error.
#ifndef PS_SERVER_CHECKPOINT_FILE_H_
#define PS_SERVER_CHECKPOINT_FILE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::server {

// ------------------------------------------------------------------ files

// What a manifest records of a file.
struct FileDigest {
  uint64_t size = 0;
  uint32_t crc32 = 0;  // zlib's CRC-32 of the whole file
};

// The digest of `bytes` (any length).
FileDigest DigestOf(absl::string_view bytes);

// Replaces the file at `path` with `bytes`, so that after a crash the path
// holds either its old content or all of `bytes`, never a mix: writes to
// `path` + ".tmp-<random hex>" in the same directory (created 0644, never
// an existing file), fsyncs it, renames it over `path`, then fsyncs the
// directory so that the rename itself survives a crash. Returns the
// digest of `bytes`.
//
// Errors carry the code of the failing call's errno (absl::ErrnoToStatus:
// NOT_FOUND for a missing directory, PERMISSION_DENIED, RESOURCE_EXHAUSTED
// for a full disk, ...) and a message naming `path`, the temporary file
// where it matters, the system call and errno's text. Any error before
// the rename removes the temporary file; an error after it (the directory's
// fsync) leaves the new content at `path` with its durability unknown.
// Concurrent calls on one path each write their own temporary file; the
// last rename wins.
absl::StatusOr<FileDigest> WriteFileDurably(const std::string& path,
                                            absl::string_view bytes);

// The end of a file that is computed from the rest (a group snapshot's
// checksum trailer), and the CRC-32 of the whole file.
struct FileEnd {
  std::string bytes;
  uint32_t file_crc32 = 0;
};

// WriteFileDurably for a file made of `body` and then what `finish`
// returns: `body` is written, the kernel is asked to start writing it to
// the disk (sync_file_range), and only then is `finish` called, so that
// the disk works while it computes. `body` is not read after `finish` is
// called (it may append to the buffer `body` views). The digest is the
// whole file's size and finish()'s CRC-32.
absl::StatusOr<FileDigest> WriteFileDurably(
    const std::string& path, absl::string_view body,
    absl::FunctionRef<FileEnd()> finish);

// Makes *buffer `size` bytes long (zeros), its memory mapped now, in one
// madvise(MADV_POPULATE_WRITE) where the kernel has it, and where it allows
// backed by transparent huge pages. A first touch of a page is what copying
// a large snapshot mostly costs on some virtual machines.
void PrepareLargeBuffer(std::string* buffer, size_t size);

// Opens the file at `path`, which a manifest says is `size` bytes, checks
// that it is a regular file of that size (fstat on the opened file, before
// anything is read or allocated, so a wrong or hostile size costs nothing),
// and hands its descriptor to `read`, which reads it and checks its
// checksum (ReadGroupSnapshotFile, RepartitionReader::AddFile), returning
// what that returns. Errors before `read` runs: NOT_FOUND, no such file;
// DATA_LOSS, naming the file and both sizes, another size;
// FAILED_PRECONDITION, not a regular file; others as errno says
// (absl::ErrnoToStatus), naming the file and the system call.
absl::Status ReadFileWith(const std::string& path, uint64_t size,
                          absl::FunctionRef<absl::Status(int fd)> read);

// --------------------------------------------------------------- manifest

inline constexpr char kManifestFormat[] = "pscluster-checkpoint";
inline constexpr int kManifestVersion = 1;

// One group's file.
struct CheckpointFile {
  int32_t group = 0;  // index of the group in the manifest's partition map
  // Relative to the checkpoint's directory; see CheckFileName.
  std::string name;
  uint64_t size = 0;
  uint32_t crc32 = 0;  // zlib's CRC-32 of the file
};

// One rank of the job when the checkpoint was taken.
struct CheckpointRank {
  // The id the servers know the rank by (Job.push_worker_ids): the group
  // snapshots' clocks and de-duplication records carry it, so the resumed
  // job must create its groups with these ids (ReadGroupSnapshot refuses a
  // snapshot of other workers). Printable ASCII, 1 to 256 characters, each
  // rank's its own.
  std::string worker_id;
  int64_t step = 0;  // steps the rank finished: where it resumes; >= 0
};

// What a checkpoint holds. Every field is checked by ValidateManifest.
struct CheckpointManifest {
  std::string job_id;  // printable ASCII, 1 to 256 characters
  // Numbers the job's checkpoints in the order they were taken; >= 0.
  int64_t checkpoint_id = 0;
  int64_t created_unix_ms = 0;  // >= 0
  // The job's spec, valid as ValidateJobSpec (common/job_spec.h) says.
  v1::JobSpec job_spec;
  // The map the groups' snapshots were taken under: its layout valid as
  // ValidatePartitionLayout (common/partition.h) says, each table as
  // ValidateTableDef (server/table_defs.h) and its optimizer as
  // ValidateOptimizerSpec (common/optimizer_spec.h).
  v1::PartitionMap partition_map;
  uint64_t epoch = 0;  // the map's epoch: must equal partition_map.epoch()
  // ASP, BSP or SSP: the spec's (training.consistency, unset meaning ASP).
  v1::Consistency consistency = v1::ASP;
  // By rank: exactly job_spec.cluster.num_workers of them.
  std::vector<CheckpointRank> ranks;
  // By group: one for each group of partition_map (its servers), in group
  // order, names distinct.
  std::vector<CheckpointFile> files;
};

// OK when `name` may name a checkpoint file: 1 to 255 characters of
// [A-Za-z0-9._-], not "." or "..", so it stays inside the checkpoint's
// directory whatever the manifest says. INVALID_ARGUMENT otherwise, naming
// the name.
absl::Status CheckFileName(absl::string_view name);

// Every check a manifest must pass (see the fields above).
// INVALID_ARGUMENT "<where>: <field>: <what is wrong>".
absl::Status ValidateManifest(const CheckpointManifest& manifest,
                              absl::string_view where);

// The manifest as JSON (UTF-8, indented, keys in a fixed order):
//
//   {"format": "pscluster-checkpoint", "version": 1, "job_id": "job-3",
//    "checkpoint_id": 7, "created_unix_ms": 1700000000000, "epoch": 12,
//    "consistency": "BSP",
//    "ranks": [{"worker_id": "worker-1", "step": 400}, ...],
//    "files": [{"group": 0, "name": "group-0.snap", "size": 4096,
//               "crc32": 305419896}, ...],
//    "job_spec": {...}, "partition_map": {...}}
//
// job_spec and partition_map are embedded as JSON objects in protobuf's
// JSON mapping (google::protobuf::util::MessageToJsonString: lowerCamelCase
// names, 64-bit integers as strings, optional fields kept when set), so a
// person can read them and they parse back to equal messages; ranks are in
// rank order and files in the order given. Deterministic: equal manifests
// encode to equal bytes. For any manifest ValidateManifest accepts,
// ParseManifest(EncodeManifest(m)) returns m; one it refuses may encode to
// JSON that ParseManifest refuses.
std::string EncodeManifest(const CheckpointManifest& manifest);

// Parses and validates a manifest read from `where` (its path, for
// messages). Never throws and never crashes, whatever the bytes: made to be
// fuzzed on arbitrary input (a libFuzzer target needs only this call, and
// may check that what it accepts re-encodes to a manifest it accepts
// again). Files come back sorted by group.
//
// INVALID_ARGUMENT "<where>: <field>: <what is wrong>": not JSON, or
// nested deeper than 64 levels; another format, or a version other than
// kManifestVersion; a field missing, of another JSON type, out of range
// (integers beyond their C++ type, negative where they may not be, floats
// where integers belong), or unknown; job_spec or partition_map not
// parsing as their messages (unknown proto fields included); then every
// check of ValidateManifest, with groups missing or repeated among the
// files.
absl::StatusOr<CheckpointManifest> ParseManifest(absl::string_view json,
                                                 absl::string_view where);

// ----------------------------------------------------- manifest files

// A manifest file longer than this is refused before it is read.
inline constexpr uint64_t kMaxManifestBytes = uint64_t{64} << 20;

// ValidateManifest (INVALID_ARGUMENT, nothing written), then EncodeManifest
// written with WriteFileDurably (its errors). Write it last, once every
// group's file is durable: its presence marks the checkpoint complete.
absl::Status WriteManifestFile(const std::string& path,
                               const CheckpointManifest& manifest);

// The manifest at `path`, read whole and parsed (ParseManifest, naming
// `path`). NOT_FOUND: no manifest (no checkpoint there, or an incomplete
// one). INVALID_ARGUMENT: longer than kMaxManifestBytes, or as
// ParseManifest says. FAILED_PRECONDITION: not a regular file. DATA_LOSS:
// it changed size while it was read. Other errors as errno says.
absl::StatusOr<CheckpointManifest> ReadManifestFile(const std::string& path);

}  // namespace ps::server

#endif  // PS_SERVER_CHECKPOINT_FILE_H_
