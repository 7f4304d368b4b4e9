#include "server/repartition.h"

#include <algorithm>
#include <cstring>
#include <tuple>
#include <utility>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "common/hash.h"
#include "common/optimizer_spec.h"
#include "common/partition.h"
#include "google/protobuf/util/message_differencer.h"
#include "server/repartition_build.h"
#include "server/table_defs.h"

namespace ps::server {
namespace {

using google::protobuf::util::MessageDifferencer;
using repartition::NewClock;
using repartition::OldGroups;
using repartition::TableInfo;
using snapshot::Image;

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(what);
}

// The maps' tables: each valid, and the same in both.
absl::Status CheckTables(const v1::PartitionMap& old_map,
                         const v1::PartitionMap& new_map,
                         absl::flat_hash_map<std::string, TableInfo>* out) {
  for (const v1::TableDef& t : old_map.tables()) {
    if (absl::Status s = ValidateTableDef(t); !s.ok()) {
      return Invalid(absl::StrCat("old partition map: ", s.message()));
    }
    if (absl::Status s = ValidateOptimizerSpec(t.optimizer()); !s.ok()) {
      return Invalid(absl::StrCat("old partition map: table ", t.name(), ": ",
                                  s.message()));
    }
    (*out)[t.name()] = {&t, snapshot::EncodeOptimizer(t.optimizer()),
                        snapshot::EncodeInitializer(t.init())};
  }
  if (new_map.tables_size() != old_map.tables_size()) {
    return Invalid(absl::StrCat("the new partition map has ",
                                new_map.tables_size(), " tables; the old one ",
                                old_map.tables_size()));
  }
  for (const v1::TableDef& t : new_map.tables()) {
    auto it = out->find(t.name());
    if (it == out->end()) {
      return Invalid(absl::StrCat("table ", t.name(),
                                  " of the new partition map is not in the "
                                  "old one"));
    }
    std::string difference;
    MessageDifferencer differencer;
    differencer.ReportDifferencesToString(&difference);
    if (!differencer.Compare(*it->second.def, t)) {
      return Invalid(absl::StrCat(
          "table ", t.name(), " differs between the old and the new map (",
          absl::StrReplaceAll(absl::StripTrailingAsciiWhitespace(difference),
                              {{"\n", "; "}}),
          ")"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckPlanes(TableInfo& t, uint32_t planes,
                         absl::string_view where) {
  if (t.planes < 0) t.planes = planes;
  if (t.planes == planes) return absl::OkStatus();
  return Invalid(absl::StrCat(
      where, ": ", planes, " state planes; other snapshots hold ", t.planes));
}

absl::Status CheckDense(const Image& image, const v1::PartitionMap& map, int g,
                        OldGroups& old) {
  std::vector<v1::DenseRange> want = RangesOf(map, g);
  std::sort(want.begin(), want.end(),
            [](const v1::DenseRange& a, const v1::DenseRange& b) {
              if (a.table() != b.table()) return a.table() < b.table();
              return a.begin() < b.begin();
            });
  const std::string group = absl::StrCat("old group ", g);
  if (image.dense.size() != want.size()) {
    return Invalid(absl::StrCat(group, ": its snapshot holds ",
                                image.dense.size(),
                                " dense ranges; the old "
                                "map gives the group ",
                                want.size()));
  }
  for (size_t i = 0; i < want.size(); ++i) {
    const snapshot::DenseImage& d = image.dense[i];
    const v1::DenseRange& r = want[i];
    const std::string name = snapshot::DenseRangeName(d.table, d.begin, d.end);
    if (d.table != r.table() || d.begin != r.begin() || d.end != r.end()) {
      return Invalid(absl::StrCat(
          group, ": its snapshot holds ", name, " where the old map has ",
          snapshot::DenseRangeName(r.table(), r.begin(), r.end())));
    }
    TableInfo& t = old.tables.at(d.table);
    if (d.optimizer != t.optimizer) {
      return Invalid(absl::StrCat(
          group, ": ", name, ": ",
          snapshot::OptimizerDifference(d.optimizer, t.optimizer)));
    }
    if (absl::Status s = CheckPlanes(t, d.planes, group + ": " + name);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// Every row of `s` has a key of a partition of group g.
absl::Status CheckOwner(const snapshot::SparseImage& s,
                        const v1::PartitionMap& map, int g) {
  for (uint64_t i = 0; i < s.rows.rows; ++i) {
    uint64_t key;
    std::memcpy(&key, s.rows.keys + i * sizeof(key), sizeof(key));
    const uint32_t p = SparsePartition(key, map.sparse_partitions());
    if (map.partition_servers(p) != g) {
      return Invalid(absl::StrCat("old group ", g, ": sparse table ", s.table,
                                  " holds key ", key, " of partition ", p,
                                  ", which the old map gives group ",
                                  map.partition_servers(p)));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSparse(const Image& image, const v1::PartitionMap& map, int g,
                         OldGroups& old) {
  std::vector<std::string> want;
  for (const v1::TableDef& t : map.tables()) {
    if (t.kind() == v1::SPARSE) want.push_back(t.name());
  }
  std::sort(want.begin(), want.end());
  const std::string group = absl::StrCat("old group ", g);
  for (size_t i = 0; i < std::max(want.size(), image.sparse.size()); ++i) {
    if (i >= want.size() || i >= image.sparse.size() ||
        image.sparse[i].table != want[i]) {
      return Invalid(absl::StrCat(
          group, ": its snapshot's sparse table #", i, " is ",
          i < image.sparse.size() ? image.sparse[i].table : "missing",
          "; the old map's is ", i < want.size() ? want[i] : "missing"));
    }
    const snapshot::SparseImage& s = image.sparse[i];
    TableInfo& t = old.tables.at(s.table);
    const std::string name = absl::StrCat(group, ": sparse table ", s.table);
    if (s.dim != t.def->dim()) {
      return Invalid(absl::StrCat(name, ": dim ", s.dim, "; the old map's ",
                                  t.def->dim()));
    }
    if (s.init != t.init) {
      return Invalid(absl::StrCat(
          name, ": ", snapshot::InitializerDifference(s.init, t.init)));
    }
    if (s.optimizer != t.optimizer) {
      return Invalid(absl::StrCat(
          name, ": ", snapshot::OptimizerDifference(s.optimizer, t.optimizer)));
    }
    if (absl::Status st = CheckPlanes(t, s.planes, name); !st.ok()) return st;
    if (absl::Status st = CheckOwner(s, map, g); !st.ok()) return st;
  }
  return absl::OkStatus();
}

absl::Status ParseOld(const v1::PartitionMap& map,
                      const std::vector<std::string>& snapshots,
                      OldGroups& old) {
  if (snapshots.size() != static_cast<size_t>(map.servers_size())) {
    return Invalid(absl::StrCat(snapshots.size(),
                                " old snapshots; the old "
                                "partition map has ",
                                map.servers_size(), " groups"));
  }
  for (int g = 0; g < map.servers_size(); ++g) {
    absl::StatusOr<Image> image = snapshot::ParseSnapshot(snapshots[g]);
    if (!image.ok()) {
      return absl::Status(
          image.status().code(),
          absl::StrCat("old group ", g, ": ", image.status().message()));
    }
    old.images.push_back(*std::move(image));
    if (absl::Status s = CheckDense(old.images.back(), map, g, old); !s.ok()) {
      return s;
    }
    if (absl::Status s = CheckSparse(old.images.back(), map, g, old); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// Mode, staleness, workers and ranks, and how BSP sums are kept.
std::string ClockShape(const Image& image) {
  std::string out = absl::StrCat(
      v1::Consistency_IsValid(image.mode)
          ? v1::Consistency_Name(static_cast<v1::Consistency>(image.mode))
          : absl::StrCat(image.mode),
      " staleness ", image.staleness, ", workers");
  for (const JobClock::WorkerState& w : image.clock.workers) {
    absl::StrAppend(&out, " '", w.id, "' (rank ", w.rank, ")");
  }
  absl::StrAppend(&out, ", BSP sums: dense ", image.dense_sums, " sparse ",
                  image.sparse_sums);
  return out;
}

absl::Status CheckClocks(const std::vector<Image>& images,
                         absl::Span<const int64_t> steps) {
  const std::string first = ClockShape(images[0]);
  for (size_t g = 1; g < images.size(); ++g) {
    if (std::string shape = ClockShape(images[g]); shape != first) {
      return Invalid(absl::StrCat("old group ", g, ": clock ", shape,
                                  "; group 0's: ", first));
    }
  }
  const std::vector<JobClock::WorkerState>& workers = images[0].clock.workers;
  std::vector<bool> seen(workers.size(), false);
  for (const JobClock::WorkerState& w : workers) {
    if (w.rank >= static_cast<int>(workers.size()) || seen[w.rank]) {
      return Invalid(absl::StrCat("old group 0: worker '", w.id, "' has rank ",
                                  w.rank, "; expected ranks 0 to ",
                                  workers.size() - 1, ", once each"));
    }
    seen[w.rank] = true;
  }
  if (steps.size() != workers.size()) {
    return Invalid(absl::StrCat(steps.size(), " resume steps for ",
                                workers.size(), " ranks"));
  }
  for (size_t r = 0; r < steps.size(); ++r) {
    if (steps[r] < 0) {
      return Invalid(absl::StrCat("resume step of rank ", r, ": ", steps[r],
                                  "; expected >= 0"));
    }
  }
  return absl::OkStatus();
}

bool AllZero(const char* p, size_t n) {
  return std::all_of(p, p + n, [](char c) { return c == 0; });
}

// Under BSP: nothing of an open clock (a checkpoint between clocks).
absl::Status CheckBetweenClocks(const Image& image, int g) {
  const std::string group = absl::StrCat("old group ", g, ": ");
  constexpr char kWhy[] =
      "; a BSP checkpoint to re-partition must be taken between clocks";
  for (const JobClock::WorkerState& w : image.clock.workers) {
    if (w.received > 0 || w.finished != image.clock.published) {
      return Invalid(absl::StrCat(group, "worker '", w.id, "' has finished ",
                                  w.finished, " clocks and sent ", w.received,
                                  " pushes of the next; the group "
                                  "has applied ",
                                  image.clock.published, " clocks", kWhy));
    }
  }
  for (size_t i = 0; image.dense_sums && i < image.dense.size(); ++i) {
    const snapshot::DenseImage& d = image.dense[i];
    if (!AllZero(image.dense_sum[i], (d.end - d.begin) * sizeof(float))) {
      return Invalid(
          absl::StrCat(group, "BSP sums of ",
                       snapshot::DenseRangeName(d.table, d.begin, d.end),
                       " are not zero", kWhy));
    }
  }
  for (size_t i = 0; image.sparse_sums && i < image.sparse.size(); ++i) {
    if (image.sparse_sum[i].rows != 0) {
      return Invalid(absl::StrCat(group, "BSP sums of sparse table ",
                                  image.sparse[i].table, " hold ",
                                  image.sparse_sum[i].rows, " rows", kWhy));
    }
  }
  return absl::OkStatus();
}

NewClock ClockFor(const Image& image, absl::Span<const int64_t> steps) {
  NewClock clock;
  clock.mode = image.mode;
  clock.staleness = image.staleness;
  clock.dense_sums = image.dense_sums;
  clock.sparse_sums = image.sparse_sums;
  for (const JobClock::WorkerState& w : image.clock.workers) {
    clock.state.workers.push_back({w.id, w.rank, steps[w.rank], 0});
  }
  if (image.mode == v1::BSP && !steps.empty()) {
    clock.state.published = *std::min_element(steps.begin(), steps.end());
  }
  return clock;
}

using RangeKey = std::tuple<std::string, int64_t, int64_t, int32_t>;

std::vector<RangeKey> RangeKeys(const v1::PartitionMap& map) {
  std::vector<RangeKey> keys;
  for (const v1::DenseRange& r : map.ranges()) {
    keys.emplace_back(r.table(), r.begin(), r.end(), r.server_index());
  }
  std::sort(keys.begin(), keys.end());
  return keys;
}

bool SameTables(const v1::PartitionMap& a, const v1::PartitionMap& b) {
  if (a.tables_size() != b.tables_size()) return false;
  absl::flat_hash_map<std::string, const v1::TableDef*> by_name;
  for (const v1::TableDef& t : b.tables()) by_name[t.name()] = &t;
  for (const v1::TableDef& t : a.tables()) {
    auto it = by_name.find(t.name());
    if (it == by_name.end() || !MessageDifferencer::Equals(t, *it->second)) {
      return false;
    }
  }
  return true;
}

}  // namespace

bool SamePartitioning(const v1::PartitionMap& a, const v1::PartitionMap& b) {
  return a.servers_size() == b.servers_size() &&
         a.sparse_partitions() == b.sparse_partitions() &&
         std::equal(a.partition_servers().begin(), a.partition_servers().end(),
                    b.partition_servers().begin(),
                    b.partition_servers().end()) &&
         SameTables(a, b) && RangeKeys(a) == RangeKeys(b);
}

absl::StatusOr<RepartitionedGroups> Repartition(
    const v1::PartitionMap& old_map, std::vector<std::string> old_snapshots,
    const v1::PartitionMap& new_map, absl::Span<const int64_t> resume_steps,
    int only_group) {
  for (const auto& [map, which] :
       {std::pair(&old_map, "old "), std::pair(&new_map, "new ")}) {
    if (absl::Status s = ValidatePartitionLayout(*map); !s.ok()) {
      return Invalid(absl::StrCat(which, s.message()));
    }
  }
  OldGroups old;
  if (absl::Status s = CheckTables(old_map, new_map, &old.tables); !s.ok()) {
    return s;
  }
  if (absl::Status s = ParseOld(old_map, old_snapshots, old); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckClocks(old.images, resume_steps); !s.ok()) {
    return s;
  }
  RepartitionedGroups out;
  if (SamePartitioning(old_map, new_map)) {
    out.snapshots = std::move(old_snapshots);
    out.unchanged = true;
    return out;
  }
  for (size_t g = 0; g < old.images.size(); ++g) {
    if (old.images[g].mode != v1::BSP) continue;
    if (absl::Status s = CheckBetweenClocks(old.images[g], static_cast<int>(g));
        !s.ok()) {
      return s;
    }
  }
  out.snapshots = repartition::BuildGroups(
      old, new_map, ClockFor(old.images[0], resume_steps), only_group);
  return out;
}

}  // namespace ps::server
