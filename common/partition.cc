#include "common/partition.h"

#include <algorithm>
#include <utility>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"

namespace ps {
namespace {

absl::Status LayoutError(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("partition map: ", what));
}

// Tables by name, each valid on its own.
absl::Status CheckTables(
    const v1::PartitionMap& map,
    absl::flat_hash_map<std::string, const v1::TableDef*>* by_name) {
  for (int i = 0; i < map.tables_size(); ++i) {
    const v1::TableDef& t = map.tables(i);
    if (t.name().empty()) {
      return LayoutError(absl::StrCat("tables[", i, "] has no name"));
    }
    if (!by_name->emplace(t.name(), &t).second) {
      return LayoutError(absl::StrCat("table ", t.name(), " appears twice"));
    }
    if (t.kind() == v1::DENSE && t.size() <= 0) {
      return LayoutError(absl::StrCat("DENSE table ", t.name(), ": size ",
                                      t.size(), "; expected > 0"));
    }
    if (t.kind() == v1::SPARSE && t.dim() < 1) {
      return LayoutError(absl::StrCat("SPARSE table ", t.name(), ": dim ",
                                      t.dim(), "; expected > 0"));
    }
    if (t.kind() != v1::DENSE && t.kind() != v1::SPARSE) {
      return LayoutError(absl::StrCat("table ", t.name(), ": kind ", t.kind(),
                                      "; expected DENSE or SPARSE"));
    }
  }
  return absl::OkStatus();
}

// [begin, end) pieces of one table, sorted: they must cover [0, size) once.
absl::Status CheckCover(const std::string& table, int64_t size,
                        std::vector<std::pair<int64_t, int64_t>>& pieces) {
  std::sort(pieces.begin(), pieces.end());
  int64_t next = 0;
  for (const auto& [begin, end] : pieces) {
    if (begin > next) {
      return LayoutError(absl::StrCat("table ", table, ": no range holds [",
                                      next, ", ", begin, ")"));
    }
    if (begin < next) {
      return LayoutError(absl::StrCat("table ", table, ": ranges overlap in [",
                                      begin, ", ", std::min(next, end), ")"));
    }
    next = end;
  }
  if (next != size) {
    return LayoutError(absl::StrCat("table ", table, ": no range holds [", next,
                                    ", ", size, ")"));
  }
  return absl::OkStatus();
}

absl::Status CheckRanges(
    const v1::PartitionMap& map,
    const absl::flat_hash_map<std::string, const v1::TableDef*>& tables) {
  absl::flat_hash_map<std::string, std::vector<std::pair<int64_t, int64_t>>>
      pieces;
  for (const v1::DenseRange& r : map.ranges()) {
    const std::string name =
        absl::StrCat("range ", r.table(), " [", r.begin(), ", ", r.end(), ")");
    auto it = tables.find(r.table());
    if (it == tables.end() || it->second->kind() != v1::DENSE) {
      return LayoutError(absl::StrCat(name, ": no DENSE table of that name"));
    }
    if (r.begin() < 0 || r.end() <= r.begin() || r.end() > it->second->size()) {
      return LayoutError(absl::StrCat(name,
                                      ": not a non-empty range within [0, ",
                                      it->second->size(), ")"));
    }
    if (r.server_index() < 0 || r.server_index() >= map.servers_size()) {
      return LayoutError(absl::StrCat(name, ": group ", r.server_index(),
                                      "; the map has ", map.servers_size()));
    }
    pieces[r.table()].emplace_back(r.begin(), r.end());
  }
  for (const v1::TableDef& t : map.tables()) {
    if (t.kind() != v1::DENSE) continue;
    if (absl::Status s = CheckCover(t.name(), t.size(), pieces[t.name()]);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSparsePartitions(const v1::PartitionMap& map) {
  const bool any_sparse =
      std::any_of(map.tables().begin(), map.tables().end(),
                  [](const v1::TableDef& t) { return t.kind() == v1::SPARSE; });
  if (any_sparse && map.sparse_partitions() == 0) {
    return LayoutError("sparse tables but no sparse_partitions");
  }
  if (map.partition_servers_size() !=
      static_cast<int64_t>(map.sparse_partitions())) {
    return LayoutError(absl::StrCat(
        map.partition_servers_size(), " partition_servers for ",
        map.sparse_partitions(), " sparse_partitions; expected one each"));
  }
  for (int p = 0; p < map.partition_servers_size(); ++p) {
    if (map.partition_servers(p) < 0 ||
        map.partition_servers(p) >= map.servers_size()) {
      return LayoutError(absl::StrCat("partition ", p, ": group ",
                                      map.partition_servers(p),
                                      "; the map has ", map.servers_size()));
    }
  }
  return absl::OkStatus();
}

}  // namespace

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

absl::Status ValidatePartitionLayout(const v1::PartitionMap& map) {
  if (map.servers_size() == 0) return LayoutError("no servers");
  if (map.groups_size() != 0 && map.groups_size() != map.servers_size()) {
    return LayoutError(absl::StrCat(map.groups_size(), " replica groups for ",
                                    map.servers_size(),
                                    " servers; expected none or one each"));
  }
  absl::flat_hash_map<std::string, const v1::TableDef*> tables;
  if (absl::Status s = CheckTables(map, &tables); !s.ok()) return s;
  if (absl::Status s = CheckRanges(map, tables); !s.ok()) return s;
  return CheckSparsePartitions(map);
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
