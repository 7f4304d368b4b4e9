// The new groups' snapshots, written from the old groups' parsed
// snapshots: dense ranges sliced and joined, sparse rows routed by their
// virtual partition, clocks from the resume steps, no de-duplication
// record, zero BSP sums.
#include "server/repartition_build.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "common/hash.h"
#include "common/partition.h"
#include "server/group_snapshot.h"
#include "server/snapshot_codec.h"

namespace ps::server::repartition {
namespace {

using snapshot::DenseImage;
using snapshot::Image;

// A row of an old snapshot: its key and its floats, in place.
struct RowRef {
  uint64_t key;
  const char* data;
};
// Per new group, the rows of one sparse table it gets, by key.
using RoutedRows = std::vector<std::vector<RowRef>>;

// The old dense pieces of each table, by begin (they cover the table once).
absl::flat_hash_map<std::string, std::vector<const DenseImage*>> DensePieces(
    const std::vector<Image>& images) {
  absl::flat_hash_map<std::string, std::vector<const DenseImage*>> pieces;
  for (const Image& image : images) {
    for (const DenseImage& d : image.dense) pieces[d.table].push_back(&d);
  }
  for (auto& [table, list] : pieces) {
    std::sort(list.begin(), list.end(),
              [](const DenseImage* a, const DenseImage* b) {
                return a->begin < b->begin;
              });
  }
  return pieces;
}

size_t RowBytes(const TableInfo& t) {
  return sizeof(float) * static_cast<size_t>(t.def->dim()) *
         static_cast<size_t>(1 + t.planes);
}

// The rows of sparse table number `index` (every snapshot holds the sparse
// tables in the same order) of every old group, routed to the new groups.
RoutedRows RouteRows(const std::vector<Image>& images, size_t index,
                     size_t row_bytes, const v1::PartitionMap& new_map) {
  RoutedRows routed(new_map.servers_size());
  const uint32_t partitions = new_map.sparse_partitions();
  for (const Image& image : images) {
    const snapshot::RowsImage& rows = image.sparse[index].rows;
    for (uint64_t i = 0; i < rows.rows; ++i) {
      uint64_t key;
      std::memcpy(&key, rows.keys + i * sizeof(key), sizeof(key));
      const int group =
          new_map.partition_servers(SparsePartition(key, partitions));
      routed[group].push_back({key, rows.data + i * row_bytes});
    }
  }
  for (std::vector<RowRef>& list : routed) {
    std::sort(list.begin(), list.end(),
              [](const RowRef& a, const RowRef& b) { return a.key < b.key; });
  }
  return routed;
}

// The new range [r.begin, r.end): its values, then each state plane, each
// gathered from the old pieces that overlap it.
void WriteDenseRange(const v1::DenseRange& r, const TableInfo& t,
                     const std::vector<const DenseImage*>& pieces,
                     SnapshotWriter& w) {
  w.String(r.table());
  w.I64(r.begin());
  w.I64(r.end());
  w.Raw(t.optimizer.data(), t.optimizer.size());
  w.U32(static_cast<uint32_t>(t.planes));
  for (int64_t plane = 0; plane <= t.planes; ++plane) {
    for (const DenseImage* d : pieces) {
      const int64_t lo = std::max(r.begin(), d->begin);
      const int64_t hi = std::min(r.end(), d->end);
      if (lo >= hi) continue;
      const int64_t first = plane * (d->end - d->begin) + (lo - d->begin);
      w.Raw(d->state + first * sizeof(float), (hi - lo) * sizeof(float));
    }
  }
}

void WriteSparseTable(const TableInfo& t, const std::vector<RowRef>& rows,
                      SnapshotWriter& w) {
  w.String(t.def->name());
  w.I32(t.def->dim());
  w.Raw(t.init.data(), t.init.size());
  w.Raw(t.optimizer.data(), t.optimizer.size());
  w.U32(static_cast<uint32_t>(t.planes));
  w.U64(rows.size());
  for (const RowRef& row : rows) w.U64(row.key);
  const size_t row_bytes = RowBytes(t);
  for (const RowRef& row : rows) w.Raw(row.data, row_bytes);
}

void WriteClock(const NewClock& clock, SnapshotWriter& w) {
  w.U32(snapshot::kDedupTag);
  w.U32(0);  // no de-duplication record: see repartition.h
  w.U32(snapshot::kClockTag);
  w.I32(clock.mode);
  w.I32(clock.staleness);
  w.I64(clock.state.published);
  w.U32(static_cast<uint32_t>(clock.state.workers.size()));
  for (const JobClock::WorkerState& s : clock.state.workers) {
    w.String(s.id);
    w.I32(s.rank);
    w.I64(s.finished);
    w.I32(s.received);
  }
}

// BSP sums, all zero: a clock boundary.
void WriteSums(const NewClock& clock, const std::vector<v1::DenseRange>& ranges,
               size_t sparse_tables, SnapshotWriter& w) {
  w.U32(snapshot::kSumsTag);
  w.U8(clock.dense_sums ? 1 : 0);
  if (clock.dense_sums) {
    for (const v1::DenseRange& r : ranges) {
      w.Extend((r.end() - r.begin()) * sizeof(float));  // zero-filled
    }
  }
  w.U8(clock.sparse_sums ? 1 : 0);
  if (clock.sparse_sums) {
    for (size_t i = 0; i < sparse_tables; ++i) w.U64(0);
  }
}

// The group's ranges in snapshot order, and roughly the bytes it takes.
std::vector<v1::DenseRange> SortedRanges(const v1::PartitionMap& map,
                                         int group) {
  std::vector<v1::DenseRange> ranges = RangesOf(map, group);
  std::sort(ranges.begin(), ranges.end(),
            [](const v1::DenseRange& a, const v1::DenseRange& b) {
              if (a.table() != b.table()) return a.table() < b.table();
              return a.begin() < b.begin();
            });
  return ranges;
}

size_t EstimateBytes(const OldGroups& old,
                     const std::vector<v1::DenseRange>& ranges,
                     const std::vector<const TableInfo*>& sparse,
                     const std::vector<RoutedRows>& routed, int group) {
  size_t bytes = 4096;
  for (const v1::DenseRange& r : ranges) {
    const TableInfo& t = old.tables.at(r.table());
    bytes += sizeof(float) * (2 + t.planes) * (r.end() - r.begin()) + 256;
  }
  for (size_t i = 0; i < sparse.size(); ++i) {
    bytes += routed[i][group].size() * (8 + RowBytes(*sparse[i])) + 256;
  }
  return bytes;
}

std::string BuildGroup(
    const OldGroups& old, const v1::PartitionMap& new_map, int group,
    const absl::flat_hash_map<std::string, std::vector<const DenseImage*>>&
        pieces,
    const std::vector<const TableInfo*>& sparse,
    const std::vector<RoutedRows>& routed, const NewClock& clock) {
  const std::vector<v1::DenseRange> ranges = SortedRanges(new_map, group);
  std::string out;
  out.reserve(EstimateBytes(old, ranges, sparse, routed, group));
  SnapshotWriter w(&out);
  w.Raw(snapshot::kMagic, snapshot::kMagicBytes);
  w.U32(kGroupSnapshotVersion);
  const size_t size_at = w.size();
  w.U64(0);
  w.U32(snapshot::kDenseTag);
  w.U32(static_cast<uint32_t>(ranges.size()));
  for (const v1::DenseRange& r : ranges) {
    WriteDenseRange(r, old.tables.at(r.table()), pieces.at(r.table()), w);
  }
  w.U32(snapshot::kSparseTag);
  w.U32(static_cast<uint32_t>(sparse.size()));
  for (size_t i = 0; i < sparse.size(); ++i) {
    WriteSparseTable(*sparse[i], routed[i][group], w);
  }
  WriteClock(clock, w);
  WriteSums(clock, ranges, sparse.size(), w);
  w.PatchU64(size_at, w.size() + snapshot::kTrailerBytes);
  w.U32(snapshot::Crc32(out));
  return out;
}

}  // namespace

std::vector<std::string> BuildGroups(const OldGroups& old,
                                     const v1::PartitionMap& new_map,
                                     const NewClock& clock, int only_group) {
  // Sparse tables in snapshot order (by name), as every old snapshot
  // holds them.
  std::vector<const TableInfo*> sparse;
  for (const snapshot::SparseImage& s : old.images.front().sparse) {
    sparse.push_back(&old.tables.at(s.table));
  }
  std::vector<RoutedRows> routed;
  for (size_t i = 0; i < sparse.size(); ++i) {
    routed.push_back(RouteRows(old.images, i, RowBytes(*sparse[i]), new_map));
  }
  const auto pieces = DensePieces(old.images);
  std::vector<std::string> out;
  for (int g = 0; g < new_map.servers_size(); ++g) {
    out.push_back(only_group < 0 || g == only_group
                      ? BuildGroup(old, new_map, g, pieces, sparse, routed,
                                   clock)
                      : std::string());
  }
  return out;
}

}  // namespace ps::server::repartition
