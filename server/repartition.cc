#include "server/repartition.h"

#include <algorithm>
#include <cstring>
#include <memory>
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
#include "server/group_snapshot.h"
#include "server/repartition_build.h"
#include "server/snapshot_codec.h"
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

// ------------------------------------------------------ from the files

struct RepartitionReader::State {
  // The maps, by value: old.tables points into old_map.
  v1::PartitionMap old_map, new_map;
  int group = 0;
  OldGroups old;  // images by old group, as each file is added
  std::vector<bool> added;
  // The new group's ranges, by table: [begin, end) pairs.
  absl::flat_hash_map<std::string, std::vector<std::pair<int64_t, int64_t>>>
      ranges;
  // What the images point into: dense windows and sparse rows kept.
  std::vector<std::unique_ptr<char[]>> kept;
};

RepartitionReader::RepartitionReader(const v1::PartitionMap& old_map,
                                     const v1::PartitionMap& new_map, int group)
    : state_(std::make_unique<State>()) {
  state_->old_map = old_map;
  state_->new_map = new_map;
  state_->group = group;
}

RepartitionReader::~RepartitionReader() = default;

absl::StatusOr<std::unique_ptr<RepartitionReader>> RepartitionReader::Start(
    const v1::PartitionMap& old_map, const v1::PartitionMap& new_map,
    int group) {
  for (const auto& [map, which] :
       {std::pair(&old_map, "old "), std::pair(&new_map, "new ")}) {
    if (absl::Status s = ValidatePartitionLayout(*map); !s.ok()) {
      return Invalid(absl::StrCat(which, s.message()));
    }
  }
  if (group < 0 || group >= new_map.servers_size()) {
    return Invalid(absl::StrCat("group ", group,
                                "; the new map's groups are 0 to ",
                                new_map.servers_size() - 1));
  }
  if (SamePartitioning(old_map, new_map)) {
    return Invalid(
        "the maps place the same pieces in the same groups: each group loads "
        "its own file, not a re-partitioned one");
  }
  std::unique_ptr<RepartitionReader> reader(
      new RepartitionReader(old_map, new_map, group));
  State& st = *reader->state_;
  if (absl::Status s = CheckTables(st.old_map, st.new_map, &st.old.tables);
      !s.ok()) {
    return s;
  }
  st.old.images.resize(st.old_map.servers_size());
  st.added.assign(st.old_map.servers_size(), false);
  for (const v1::DenseRange& r : RangesOf(st.new_map, group)) {
    st.ranges[r.table()].emplace_back(r.begin(), r.end());
  }
  return reader;
}

std::pair<int64_t, int64_t> RepartitionReader::Window(const std::string& table,
                                                      int64_t begin,
                                                      int64_t end) const {
  int64_t lo = end, hi = begin;
  auto it = state_->ranges.find(table);
  if (it != state_->ranges.end()) {
    for (const auto& [b, e] : it->second) {
      if (std::max(b, begin) >= std::min(e, end)) continue;
      lo = std::min(lo, std::max(b, begin));
      hi = std::max(hi, std::min(e, end));
    }
  }
  if (lo >= hi) return {begin, begin};
  return {lo, hi};
}

absl::Status RepartitionReader::AddFile(int old_group, int fd, uint64_t size,
                                        uint32_t file_crc32,
                                        const std::string& path) {
  State& st = *state_;
  const std::string group = absl::StrCat("old group ", old_group);
  if (old_group < 0 || old_group >= st.old_map.servers_size()) {
    return Invalid(absl::StrCat(group, " (", path,
                                "): the checkpoint's map has groups 0 to ",
                                st.old_map.servers_size() - 1));
  }
  if (st.added[old_group]) {
    return Invalid(
        absl::StrCat(group, " (", path, "): its file was read already"));
  }
  // An error of this file's, naming it (the code kept).
  auto named = [&](const absl::Status& s) {
    return absl::Status(s.code(),
                        absl::StrCat(group, " (", path, "): ", s.message()));
  };
  if (absl::Status s = snapshot::CheckSnapshotLength(size); !s.ok()) {
    return named(s);
  }
  SnapshotFileReader r(fd, size - snapshot::kTrailerBytes, path);
  Image image;
  std::vector<std::unique_ptr<char[]>> kept;
  std::vector<std::unique_ptr<std::string>> optimizers;  // the images' views
  std::vector<std::pair<int64_t, int64_t>> windows;      // by dense range
  uint64_t kept_bytes = 0;
  ReadSnapshotHeader(r, size);
  uint32_t count = 0;
  if (r.ok()) ReadDenseSectionCount(r, &count);
  for (uint32_t i = 0; r.ok() && i < count; ++i) {
    snapshot::DenseImage d;
    optimizers.push_back(std::make_unique<std::string>());
    if (!ReadDenseHeader(r, &d, optimizers.back().get())) break;
    const uint64_t planes = 1 + uint64_t{d.planes};
    const uint64_t width = static_cast<uint64_t>(d.end - d.begin);
    const std::string what = absl::StrCat(
        snapshot::DenseRangeName(d.table, d.begin, d.end), " values");
    if (width > r.left() / (sizeof(float) * planes)) {
      r.Fail(absl::StrCat("truncated: ", what, " needs ", planes, " x ", width,
                          " floats; ", r.left(), " bytes left"));
      break;
    }
    const auto [lo, hi] = Window(d.table, d.begin, d.end);
    const uint64_t kept_floats = static_cast<uint64_t>(hi - lo);
    std::unique_ptr<char[]> window;
    if (kept_floats > 0) {
      window.reset(new char[planes * kept_floats * sizeof(float)]);
    }
    for (uint64_t p = 0; p < planes && r.ok(); ++p) {
      r.Skip(what, (lo - d.begin) * sizeof(float));
      r.Read(what, window.get() + p * kept_floats * sizeof(float),
             kept_floats * sizeof(float));
      r.Skip(what, (d.end - hi) * sizeof(float));
    }
    d.state = window.get();
    kept_bytes += planes * kept_floats * sizeof(float);
    if (window != nullptr) kept.push_back(std::move(window));
    windows.emplace_back(lo, hi);
    image.dense.push_back(std::move(d));
  }
  std::string rest;
  uint64_t rest_at = 0;
  if (r.ok()) {
    rest_at = r.position();
    rest.resize(r.left());
    r.Read("the sections after the dense one", rest.data(), rest.size());
  }
  if (absl::Status s = CheckSnapshotFileChecksums(r, size, file_crc32, path);
      !s.ok()) {
    return named(s);
  }
  if (!r.ok()) return named(r.status());
  if (absl::Status s = snapshot::ParseAfterDense(rest, rest_at, &image);
      !s.ok()) {
    return named(s);
  }
  for (absl::Status s : {CheckDense(image, st.old_map, old_group, st.old),
                         CheckSparse(image, st.old_map, old_group, st.old)}) {
    if (!s.ok()) return s;
  }
  if (image.mode == v1::BSP) {
    if (absl::Status s = CheckBetweenClocks(image, old_group); !s.ok()) {
      return s;
    }
  }
  // Checked: keep what the new group needs, and nothing that points into
  // `rest` or `optimizers`.
  for (size_t i = 0; i < image.dense.size(); ++i) {
    snapshot::DenseImage& d = image.dense[i];
    std::tie(d.begin, d.end) = windows[i];
    d.optimizer = {};
  }
  const uint32_t partitions = st.new_map.sparse_partitions();
  for (snapshot::SparseImage& s : image.sparse) {
    const TableInfo& t = st.old.tables.at(s.table);
    const size_t row_bytes = sizeof(float) * static_cast<size_t>(t.def->dim()) *
                             static_cast<size_t>(1 + t.planes);
    std::vector<uint64_t> rows;  // indices of the rows kept
    for (uint64_t i = 0; i < s.rows.rows; ++i) {
      uint64_t key;
      std::memcpy(&key, s.rows.keys + i * sizeof(key), sizeof(key));
      if (st.new_map.partition_servers(SparsePartition(key, partitions)) ==
          st.group) {
        rows.push_back(i);
      }
    }
    const size_t bytes = rows.size() * (sizeof(uint64_t) + row_bytes);
    std::unique_ptr<char[]> buffer(bytes > 0 ? new char[bytes] : nullptr);
    char* keys = buffer.get();
    char* data = keys + rows.size() * sizeof(uint64_t);
    for (size_t k = 0; k < rows.size(); ++k) {
      std::memcpy(keys + k * sizeof(uint64_t),
                  s.rows.keys + rows[k] * sizeof(uint64_t), sizeof(uint64_t));
      std::memcpy(data + k * row_bytes, s.rows.data + rows[k] * row_bytes,
                  row_bytes);
    }
    s.rows = {rows.size(), keys, data};
    s.init = {};
    s.optimizer = {};
    kept_bytes += bytes;
    if (buffer != nullptr) kept.push_back(std::move(buffer));
  }
  image.dedup.clear();
  image.dense_sum.clear();
  image.sparse_sum.clear();
  st.old.images[old_group] = std::move(image);
  for (auto& k : kept) st.kept.push_back(std::move(k));
  st.added[old_group] = true;
  kept_bytes_ += kept_bytes;
  return absl::OkStatus();
}

absl::StatusOr<std::string> RepartitionReader::Finish(
    absl::Span<const int64_t> resume_steps) {
  State& st = *state_;
  for (size_t g = 0; g < st.added.size(); ++g) {
    if (!st.added[g]) {
      return Invalid(absl::StrCat("old group ", g, ": no file read for it"));
    }
  }
  if (absl::Status s = CheckClocks(st.old.images, resume_steps); !s.ok()) {
    return s;
  }
  std::vector<std::string> built = repartition::BuildGroups(
      st.old, st.new_map, ClockFor(st.old.images[0], resume_steps), st.group);
  return std::move(built[st.group]);
}

}  // namespace ps::server
