#include "common/partition.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ps {

absl::StatusOr<v1::PartitionMap> BuildPartitionMap(
    uint64_t epoch, const std::vector<v1::ServerEndpoint>& servers,
    const std::vector<v1::TableDef>& tables) {
  if (servers.empty()) {
    return absl::FailedPreconditionError("no servers to partition tables over");
  }
  v1::PartitionMap map;
  map.set_epoch(epoch);
  for (const v1::ServerEndpoint& s : servers) *map.add_servers() = s;
  std::vector<int64_t> load(servers.size(), 0);
  const int64_t n = static_cast<int64_t>(servers.size());
  bool any_sparse = false;
  for (const v1::TableDef& t : tables) {
    if (t.kind() == v1::SPARSE) {
      if (t.dim() < 1) {
        return absl::InvalidArgumentError(absl::StrCat(
            "table ", t.name(), ": sparse row width ", t.dim(), " must be > 0"));
      }
      *map.add_tables() = t;
      any_sparse = true;
      continue;
    }
    if (t.size() <= 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", t.name(), ": size ", t.size(), " must be > 0"));
    }
    *map.add_tables() = t;
    if (t.size() >= kMinSplitValues && n > 1) {
      for (int64_t i = 0; i < n; ++i) {
        v1::DenseRange* r = map.add_ranges();
        r->set_table(t.name());
        r->set_begin(t.size() * i / n);
        r->set_end(t.size() * (i + 1) / n);
        r->set_server_index(static_cast<int32_t>(i));
        load[i] += r->end() - r->begin();
      }
    } else {
      int target = static_cast<int>(
          std::min_element(load.begin(), load.end()) - load.begin());
      v1::DenseRange* r = map.add_ranges();
      r->set_table(t.name());
      r->set_begin(0);
      r->set_end(t.size());
      r->set_server_index(target);
      load[target] += t.size();
    }
  }
  if (any_sparse) {
    map.set_sparse_partitions(kSparsePartitions);
    for (uint32_t p = 0; p < kSparsePartitions; ++p) {
      map.add_partition_servers(static_cast<int32_t>(p % n));
    }
  }
  return map;
}

std::vector<uint32_t> PartitionsOf(const v1::PartitionMap& map,
                                   int server_index) {
  std::vector<uint32_t> out;
  for (int p = 0; p < map.partition_servers_size(); ++p) {
    if (map.partition_servers(p) == server_index) out.push_back(p);
  }
  return out;
}

std::vector<v1::DenseRange> RangesOf(const v1::PartitionMap& map,
                                     int server_index) {
  std::vector<v1::DenseRange> out;
  for (const v1::DenseRange& r : map.ranges()) {
    if (r.server_index() == server_index) out.push_back(r);
  }
  return out;
}

absl::StatusOr<std::vector<RoutedSlice>> Route(const v1::PartitionMap& map,
                                               const std::string& table,
                                               int64_t offset, int64_t count,
                                               int64_t buffer_offset) {
  std::vector<RoutedSlice> out;
  int64_t covered = 0;
  for (const v1::DenseRange& r : map.ranges()) {
    if (r.table() != table) continue;
    const int64_t lo = std::max(offset, r.begin());
    const int64_t hi = std::min(offset + count, r.end());
    if (lo >= hi) continue;
    out.push_back({r.server_index(), table, lo, hi - lo,
                   buffer_offset + (lo - offset)});
    covered += hi - lo;
  }
  if (covered != count) {
    return absl::OutOfRangeError(absl::StrCat(
        "table ", table, ": range [", offset, ", ", offset + count,
        ") is not covered by partition map epoch ", map.epoch()));
  }
  return out;
}

void PlaceReplicaGroups(int replicas, v1::PartitionMap* map) {
  const int n = map->servers_size();
  map->set_replicas(replicas);
  map->clear_groups();
  for (int g = 0; g < n; ++g) {
    v1::ReplicaGroup* group = map->add_groups();
    for (int k = 0; k < replicas && k < n; ++k) {
      *group->add_replicas() = map->servers((g + k) % n);
    }
  }
}

bool HoldsAGroup(const v1::PartitionMap& map, const std::string& member_id) {
  for (const v1::ReplicaGroup& g : map.groups()) {
    for (const v1::ServerEndpoint& e : g.replicas()) {
      if (e.member_id() == member_id) return true;
    }
  }
  return false;
}

}  // namespace ps
