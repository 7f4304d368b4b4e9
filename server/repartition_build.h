// Internal to //server:repartition: what Repartition has checked of the
// old groups, and the writing of the new groups' snapshots from it
// (repartition_build.cc), in the format of server/group_snapshot.h.
#ifndef PS_SERVER_REPARTITION_BUILD_H_
#define PS_SERVER_REPARTITION_BUILD_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/group_snapshot_format.h"
#include "server/job_clock.h"

namespace ps::server::repartition {

// A table of both maps, and what every snapshot holding it must carry.
struct TableInfo {
  const v1::TableDef* def = nullptr;  // the old map's
  std::string optimizer;              // snapshot::EncodeOptimizer
  std::string init;                   // snapshot::EncodeInitializer
  int64_t planes = -1;  // state planes; -1 until a snapshot holds the table
};

// The old groups' snapshots, parsed and checked against the old map.
struct OldGroups {
  // By old group; they point into the old snapshots, which must outlive
  // them.
  std::vector<snapshot::Image> images;
  absl::flat_hash_map<std::string, TableInfo> tables;  // by name
};

// What every new group's clock and BSP sums start from.
struct NewClock {
  int32_t mode = 0;
  int32_t staleness = 0;
  JobClock::State state;  // workers by id, none with pushes received
  bool dense_sums = false;
  bool sparse_sums = false;
};

// The snapshot of each group of `new_map` (by group), whose tables are
// `old.tables`: every check has passed, so nothing can fail. With
// `only_group` >= 0, that group's alone; the others are left empty.
std::vector<std::string> BuildGroups(const OldGroups& old,
                                     const v1::PartitionMap& new_map,
                                     const NewClock& clock, int only_group);

}  // namespace ps::server::repartition

#endif  // PS_SERVER_REPARTITION_BUILD_H_
