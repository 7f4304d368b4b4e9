// Partitioning: which server holds which range of each dense table, and
// which virtual partitions of the sparse keys.
//
// A table at least kMinSplitValues long is cut into one contiguous range per
// server (sizes differ by at most one value), so a large pull or push fans out
// to every server. A smaller table lives whole on the least-loaded server, so a
// step does not pay one tiny RPC per server per small tensor.
#ifndef PS_COMMON_PARTITION_H_
#define PS_COMMON_PARTITION_H_

#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps {

inline constexpr int64_t kMinSplitValues = 16 * 1024;

// Virtual partitions of sparse keys (PartitionMap.sparse_partitions), dealt
// to the servers round-robin: many more than servers, so that each server
// holds nearly the same share of keys and a future rebalance moves small
// pieces.
inline constexpr uint32_t kSparsePartitions = 4096;

absl::StatusOr<v1::PartitionMap> BuildPartitionMap(
    uint64_t epoch, const std::vector<v1::ServerEndpoint>& servers,
    const std::vector<v1::TableDef>& tables);

// Replica group g of a map placed on n servers, R copies: servers g, g+1,
// ..., g+R-1 (mod n), the first the primary (a ring, as in the OSDI'14
// parameter server), so each server leads one group and backs up R-1.
void PlaceReplicaGroups(int replicas, v1::PartitionMap* map);

// Whether server `member_id` is a replica of any group of `map`.
bool HoldsAGroup(const v1::PartitionMap& map, const std::string& member_id);

// INVALID_ARGUMENT naming the first flaw in what `map` lays out, for a map
// read from outside (a checkpoint): no servers; `groups` neither empty nor
// one per server; a table with no name or a name used twice, a DENSE table
// of size <= 0 or a SPARSE one of dim < 1; a range of no DENSE table of the
// map, of a group outside [0, servers), or empty; a DENSE table whose
// ranges do not cover [0, size) exactly once (naming the gap or overlap);
// sparse tables without sparse partitions, or partition_servers not one
// group in [0, servers) per partition. Table contents (initializers,
// optimizers) and endpoints are not checked.
absl::Status ValidatePartitionLayout(const v1::PartitionMap& map);

// The ranges of `map` owned by servers[server_index].
std::vector<v1::DenseRange> RangesOf(const v1::PartitionMap& map,
                                     int server_index);

// The virtual partitions of `map` owned by servers[server_index].
std::vector<uint32_t> PartitionsOf(const v1::PartitionMap& map,
                                   int server_index);

// A piece of a request routed to one server: values [offset, offset+count)
// of `table`, which sit at `buffer_offset` in the caller's flat buffer.
struct RoutedSlice {
  int server_index = 0;
  std::string table;
  int64_t offset = 0;
  int64_t count = 0;
  int64_t buffer_offset = 0;
};

// Splits [offset, offset+count) of `table` into per-server pieces.
absl::StatusOr<std::vector<RoutedSlice>> Route(const v1::PartitionMap& map,
                                               const std::string& table,
                                               int64_t offset, int64_t count,
                                               int64_t buffer_offset);

}  // namespace ps

#endif  // PS_COMMON_PARTITION_H_
