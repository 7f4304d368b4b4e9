// libFuzzer target: RepartitionReader (server/repartition.h), the reader of
// a checkpoint's files when a job resumes on another number of servers,
// against Repartition, which builds the same snapshot from the files'
// bytes in memory.
//
// Input: as fuzz/group_snapshot_fuzzer.cc's (byte 0 chooses whether the
// frame is fixed, the rest is a snapshot of fuzz/snapshot_group.h's group,
// and its seeds are the same). The snapshot is old group 0's file of a
// three-group map of that group's tables: group 0 holds "w" [2, 10) and
// every sparse partition, groups 1 and 2 "w" [0, 2) and [10, 16) (their
// files are fresh groups of the input's mode). Each group of a two-group
// map ("w" halved, partitions alternating) is built from the three files,
// both ways. Besides what the sanitizers catch, it aborts when:
//   - one way refuses and the other does not, or both build and the
//     snapshots differ;
//   - a refusal is not INVALID_ARGUMENT or DATA_LOSS.
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <vector>

#include "fuzz/snapshot_group.h"
#include "server/group_snapshot_format.h"
#include "server/repartition.h"

namespace {

namespace snapshot = ::ps::server::snapshot;
using ::ps::fuzz::SnapshotGroup;
using ::ps::server::RepartitionReader;
namespace v1 = ::ps::v1;

constexpr uint32_t kPartitions = 8;
constexpr int64_t kSteps[] = {1, 1};  // by rank

v1::DenseRange Range(int64_t begin, int64_t end, int group) {
  v1::DenseRange r;
  r.set_table("w");
  r.set_begin(begin);
  r.set_end(end);
  r.set_server_index(group);
  return r;
}

// A map of SnapshotGroup's tables over `ranges.size()` groups: group g
// holds ranges[g] of "w", and partition p goes to partitions(p).
v1::PartitionMap Map(const std::vector<std::pair<int64_t, int64_t>>& ranges,
                     int (*partitions)(uint32_t)) {
  v1::PartitionMap map;
  map.set_epoch(1);
  for (const v1::TableDef& t : SnapshotGroup::Tables()) *map.add_tables() = t;
  for (size_t g = 0; g < ranges.size(); ++g) {
    map.add_servers()->set_address("127.0.0.1:" + std::to_string(7000 + g));
    *map.add_ranges() =
        Range(ranges[g].first, ranges[g].second, static_cast<int>(g));
  }
  map.set_sparse_partitions(kPartitions);
  for (uint32_t p = 0; p < kPartitions; ++p) {
    map.add_partition_servers(partitions(p));
  }
  return map;
}

const v1::PartitionMap& OldMap() {
  static const v1::PartitionMap* map = new v1::PartitionMap(
      Map({{2, 10}, {0, 2}, {10, 16}}, [](uint32_t) { return 0; }));
  return *map;
}

const v1::PartitionMap& NewMap() {
  static const v1::PartitionMap* map = new v1::PartitionMap(Map(
      {{0, 8}, {8, 16}}, [](uint32_t p) { return static_cast<int>(p % 2); }));
  return *map;
}

bool Expected(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument ||
         s.code() == absl::StatusCode::kDataLoss;
}

// The new group's snapshot read from `files` (by old group) as a
// checkpoint's files whose manifest gives each file's own CRC-32.
absl::StatusOr<std::string> FromFiles(const std::vector<std::string>& files,
                                      int group) {
  absl::StatusOr<std::unique_ptr<RepartitionReader>> reader =
      RepartitionReader::Start(OldMap(), NewMap(), group);
  if (!reader.ok()) abort();  // the maps are valid
  for (size_t g = 0; g < files.size(); ++g) {
    const int fd = memfd_create("group.snap", MFD_CLOEXEC);
    if (fd < 0 || write(fd, files[g].data(), files[g].size()) !=
                      static_cast<ssize_t>(files[g].size())) {
      abort();
    }
    const absl::Status s =
        (*reader)->AddFile(static_cast<int>(g), fd, files[g].size(),
                           snapshot::Crc32(files[g]), "group.snap");
    close(fd);
    if (!s.ok()) return s;
  }
  return (*reader)->Finish(kSteps);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string bytes(reinterpret_cast<const char*>(data) + 1, size - 1);
  if (data[0] % 8 != 0) ps::fuzz::FixSnapshotFrame(bytes);
  // The other groups' files in the input's mode, so that its clock can
  // match theirs.
  absl::StatusOr<snapshot::Image> image = snapshot::ParseSnapshot(bytes);
  const v1::Consistency mode = !image.ok()              ? v1::ASP
                               : image->mode == v1::BSP ? v1::BSP
                               : image->mode == v1::SSP ? v1::SSP
                                                        : v1::ASP;
  const std::vector<std::string> files = {
      bytes, SnapshotGroup(mode, 0, 2).Snapshot(),
      SnapshotGroup(mode, 10, 16).Snapshot()};
  for (int group = 0; group < NewMap().servers_size(); ++group) {
    absl::StatusOr<ps::server::RepartitionedGroups> in_memory =
        ps::server::Repartition(OldMap(), files, NewMap(), kSteps, group);
    absl::StatusOr<std::string> from_files = FromFiles(files, group);
    if (in_memory.ok() != from_files.ok()) abort();
    if (!from_files.ok()) {
      if (!Expected(from_files.status()) || !Expected(in_memory.status())) {
        abort();
      }
      continue;
    }
    if (*from_files != in_memory->snapshots[group]) abort();
  }
  return 0;
}
