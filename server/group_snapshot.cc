#include "server/group_snapshot.h"

#include <algorithm>
#include <cstring>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "server/group_snapshot_format.h"
#include "server/initializer.h"

namespace ps::server {
namespace {

using snapshot::DenseImage;
using snapshot::Image;
using snapshot::RowsImage;
using snapshot::SparseImage;

using Dense = std::pair<std::string, DenseShard*>;
using Sparse = std::pair<std::string, SparseShard*>;

// The parts with their shards in snapshot order.
GroupParts Sorted(const GroupParts& parts) {
  ABSL_RAW_CHECK(parts.dedup != nullptr && parts.clock != nullptr,
                 "GroupParts needs its dedup and its clock");
  GroupParts sorted = parts;
  std::sort(sorted.dense.begin(), sorted.dense.end(),
            [](const Dense& a, const Dense& b) {
              if (a.first != b.first) return a.first < b.first;
              return a.second->begin() < b.second->begin();
            });
  std::sort(sorted.sparse.begin(), sorted.sparse.end(),
            [](const Sparse& a, const Sparse& b) { return a.first < b.first; });
  return sorted;
}

// ---------------------------------------------------------------- writing

void WriteDense(const std::vector<Dense>& dense, SnapshotWriter& w) {
  w.U32(snapshot::kDenseTag);
  w.U32(static_cast<uint32_t>(dense.size()));
  for (const auto& [table, shard] : dense) {
    w.String(table);
    w.I64(shard->begin());
    w.I64(shard->end());
    w.Raw(snapshot::EncodeOptimizer(shard->optimizer()).data(),
          snapshot::kOptimizerBytes);
    w.U32(static_cast<uint32_t>(shard->state_planes()));
    shard->ExportState(w.Extend(shard->state_floats() * sizeof(float)));
  }
}

// Whether a row is as FillInitialRow and zeroed planes make it.
bool Pristine(const SparseShard& shard, uint64_t key, const float* row,
              std::vector<float>& scratch) {
  const int dim = shard.dim();
  scratch.assign(shard.row_floats(), 0.0f);
  FillInitialRow(shard.init(), key, dim, scratch.data());
  return std::memcmp(row, scratch.data(), scratch.size() * sizeof(float)) == 0;
}

// Rows in ascending key order: the keys, then their floats.
void WriteRows(const std::vector<uint64_t>& keys,
               const std::vector<float>& rows, SnapshotWriter& w) {
  w.U64(keys.size());
  w.Raw(keys.data(), keys.size() * sizeof(uint64_t));
  w.Raw(rows.data(), rows.size() * sizeof(float));
}

void WriteSparse(const std::vector<Sparse>& sparse, SnapshotWriter& w) {
  w.U32(snapshot::kSparseTag);
  w.U32(static_cast<uint32_t>(sparse.size()));
  std::vector<uint64_t> keys;
  std::vector<float> rows, scratch;
  for (const auto& [table, shard] : sparse) {
    w.String(table);
    w.I32(shard->dim());
    w.Raw(snapshot::EncodeInitializer(shard->init()).data(),
          snapshot::kInitializerBytes);
    w.Raw(snapshot::EncodeOptimizer(shard->optimizer()).data(),
          snapshot::kOptimizerBytes);
    w.U32(static_cast<uint32_t>(shard->state_planes()));
    shard->ExportRows(&keys, &rows);
    // Drops pristine rows in place, keeping the order.
    const int64_t n = shard->row_floats();
    size_t kept = 0;
    for (size_t i = 0; i < keys.size(); ++i) {
      const float* row = rows.data() + i * n;
      if (Pristine(*shard, keys[i], row, scratch)) continue;
      keys[kept] = keys[i];
      std::memmove(rows.data() + kept * n, row, n * sizeof(float));
      ++kept;
    }
    keys.resize(kept);
    rows.resize(kept * n);
    WriteRows(keys, rows, w);
  }
}

void WriteDedup(const PushDedup& dedup, SnapshotWriter& w) {
  const std::vector<PushDedup::WorkerSeqs> workers = dedup.Export();
  w.U32(snapshot::kDedupTag);
  w.U32(static_cast<uint32_t>(workers.size()));
  for (const PushDedup::WorkerSeqs& s : workers) {
    w.String(s.worker);
    w.U64(s.highest);
    w.U64(s.recent.size());
    w.Raw(s.recent.data(), s.recent.size() * sizeof(uint64_t));
  }
}

void WriteClock(const JobClock& clock, SnapshotWriter& w) {
  const JobClock::State state = clock.Export();
  w.U32(snapshot::kClockTag);
  w.I32(clock.mode());
  w.I32(clock.staleness());
  w.I64(state.published);
  w.U32(static_cast<uint32_t>(state.workers.size()));
  for (const JobClock::WorkerState& s : state.workers) {
    w.String(s.id);
    w.I32(s.rank);
    w.I64(s.finished);
    w.I32(s.received);
  }
}

void WriteSums(const GroupParts& parts, SnapshotWriter& w) {
  w.U32(snapshot::kSumsTag);
  w.U8(parts.bsp != nullptr ? 1 : 0);
  if (parts.bsp != nullptr) {
    for (const auto& [table, shard] : parts.dense) {
      parts.bsp->ExportSums(
          shard, w.Extend((shard->end() - shard->begin()) * sizeof(float)));
    }
  }
  w.U8(parts.sparse_bsp != nullptr ? 1 : 0);
  if (parts.sparse_bsp != nullptr) {
    std::vector<uint64_t> keys;
    std::vector<float> sums;
    for (const auto& [table, shard] : parts.sparse) {
      parts.sparse_bsp->ExportSums(shard, &keys, &sums);
      WriteRows(keys, sums, w);
    }
  }
}

// ---------------------------------------------------------------- reading

absl::Status Mismatch(absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("snapshot of another group: ", what));
}

absl::Status CheckDenseCount(size_t count, const GroupParts& parts) {
  if (count == parts.dense.size()) return absl::OkStatus();
  return Mismatch(
      absl::StrCat(count, " dense ranges; here ", parts.dense.size()));
}

// The snapshot's range `d` against the group's range `here` in its place.
absl::Status CheckDenseRange(const DenseImage& d, const Dense& here) {
  const auto& [table, shard] = here;
  const std::string name = snapshot::DenseRangeName(d.table, d.begin, d.end);
  if (d.table != table || d.begin != shard->begin() || d.end != shard->end()) {
    return Mismatch(absl::StrCat(
        name, " where here is ",
        snapshot::DenseRangeName(table, shard->begin(), shard->end())));
  }
  const std::string opt = snapshot::EncodeOptimizer(shard->optimizer());
  if (d.optimizer != opt) {
    return Mismatch(absl::StrCat(
        name, ": ", snapshot::OptimizerDifference(d.optimizer, opt)));
  }
  if (d.planes != static_cast<uint32_t>(shard->state_planes())) {
    return Mismatch(absl::StrCat(name, ": ", d.planes, " state planes; here ",
                                 shard->state_planes()));
  }
  return absl::OkStatus();
}

absl::Status CheckDense(const Image& image, const GroupParts& parts) {
  if (absl::Status s = CheckDenseCount(image.dense.size(), parts); !s.ok()) {
    return s;
  }
  for (size_t i = 0; i < image.dense.size(); ++i) {
    if (absl::Status s = CheckDenseRange(image.dense[i], parts.dense[i]);
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSparse(const Image& image, const GroupParts& parts) {
  if (image.sparse.size() != parts.sparse.size()) {
    return Mismatch(absl::StrCat(image.sparse.size(), " sparse tables; here ",
                                 parts.sparse.size()));
  }
  for (size_t i = 0; i < image.sparse.size(); ++i) {
    const SparseImage& s = image.sparse[i];
    const auto& [table, shard] = parts.sparse[i];
    const std::string name = absl::StrCat("sparse table ", s.table);
    if (s.table != table) {
      return Mismatch(
          absl::StrCat(name, " where here is sparse table ", table));
    }
    if (s.dim != shard->dim()) {
      return Mismatch(
          absl::StrCat(name, ": dim ", s.dim, "; here ", shard->dim()));
    }
    const std::string init = snapshot::EncodeInitializer(shard->init());
    if (s.init != init) {
      return Mismatch(absl::StrCat(
          name, ": ", snapshot::InitializerDifference(s.init, init)));
    }
    const std::string opt = snapshot::EncodeOptimizer(shard->optimizer());
    if (s.optimizer != opt) {
      return Mismatch(absl::StrCat(
          name, ": ", snapshot::OptimizerDifference(s.optimizer, opt)));
    }
    if (s.planes != static_cast<uint32_t>(shard->state_planes())) {
      return Mismatch(absl::StrCat(name, ": ", s.planes, " state planes; here ",
                                   shard->state_planes()));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckClock(const Image& image, const JobClock& clock) {
  if (image.mode != clock.mode() || image.staleness != clock.staleness()) {
    return Mismatch(absl::StrCat(
        "consistency ", v1::Consistency_Name(image.mode), " staleness ",
        image.staleness, "; here ", v1::Consistency_Name(clock.mode()),
        " staleness ", clock.staleness()));
  }
  const std::vector<JobClock::WorkerState> here = clock.Export().workers;
  for (size_t i = 0; i < std::max(here.size(), image.clock.workers.size());
       ++i) {
    if (i >= here.size() || i >= image.clock.workers.size() ||
        here[i].id != image.clock.workers[i].id ||
        here[i].rank != image.clock.workers[i].rank) {
      auto show = [&](const std::vector<JobClock::WorkerState>& v) {
        return i < v.size()
                   ? absl::StrCat("'", v[i].id, "' (rank ", v[i].rank, ")")
                   : std::string("none");
      };
      return Mismatch(absl::StrCat("worker #", i, " (by id) is ",
                                   show(image.clock.workers), "; here ",
                                   show(here)));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckSums(const Image& image, const GroupParts& parts) {
  if (image.dense_sums != (parts.bsp != nullptr) ||
      image.sparse_sums != (parts.sparse_bsp != nullptr)) {
    return Mismatch(absl::StrCat("BSP sums: dense ", image.dense_sums,
                                 ", sparse ", image.sparse_sums,
                                 "; here dense ", parts.bsp != nullptr,
                                 ", sparse ", parts.sparse_bsp != nullptr));
  }
  for (const auto& [table, shard] : parts.dense) {
    if (parts.bsp != nullptr && !parts.bsp->Holds(shard)) {
      return Mismatch(absl::StrCat(
          "the BSP accumulator here lacks ",
          snapshot::DenseRangeName(table, shard->begin(), shard->end())));
    }
  }
  for (const auto& [table, shard] : parts.sparse) {
    if (parts.sparse_bsp != nullptr && !parts.sparse_bsp->Holds(shard)) {
      return Mismatch(absl::StrCat(
          "the sparse BSP accumulator here lacks sparse table ", table));
    }
  }
  return absl::OkStatus();
}

std::vector<uint64_t> Keys(const RowsImage& rows) {
  std::vector<uint64_t> keys(rows.rows);
  if (!keys.empty()) {
    std::memcpy(keys.data(), rows.keys, keys.size() * sizeof(uint64_t));
  }
  return keys;
}

// Cannot fail: every check passed.
void Apply(const Image& image, const GroupParts& parts) {
  for (size_t i = 0; i < image.dense.size(); ++i) {
    if (image.dense[i].state != nullptr) {
      parts.dense[i].second->RestoreState(image.dense[i].state);
    }
    if (parts.bsp != nullptr) {
      parts.bsp->RestoreSums(parts.dense[i].second, image.dense_sum[i]);
    }
  }
  for (size_t i = 0; i < image.sparse.size(); ++i) {
    SparseShard* shard = parts.sparse[i].second;
    shard->RestoreRows(Keys(image.sparse[i].rows), image.sparse[i].rows.data);
    if (parts.sparse_bsp != nullptr) {
      const RowsImage& sums = image.sparse_sum[i];
      parts.sparse_bsp->RestoreSums(shard, Keys(sums), sums.data);
    }
  }
  parts.dedup->Restore(image.dedup);
  // Last: a pull waiting for a clock reads only once the values are in.
  parts.clock->Restore(image.clock);
}

// ------------------------------------------------------ reading a file

absl::Status CheckGroup(const Image& image, const GroupParts& parts) {
  for (absl::Status s :
       {CheckSparse(image, parts), CheckClock(image, *parts.clock),
        CheckSums(image, parts)}) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// The dense section, each range's floats read straight into its shard once
// its header matched the group's range (*touched then).
void ReadDense(SnapshotFileReader& r, const GroupParts& parts, Image* image,
               bool* touched, absl::Status* mismatch) {
  uint32_t count = 0;
  if (!ReadDenseSectionCount(r, &count)) return;
  if (*mismatch = CheckDenseCount(count, parts); !mismatch->ok()) return;
  for (uint32_t i = 0; i < count; ++i) {
    DenseImage d;
    std::string opt;
    if (!ReadDenseHeader(r, &d, &opt)) return;
    if (*mismatch = CheckDenseRange(d, parts.dense[i]); !mismatch->ok()) {
      return;
    }
    d.optimizer = {};  // opt goes out of scope
    DenseShard* shard = parts.dense[i].second;
    const std::string what = absl::StrCat(
        snapshot::DenseRangeName(d.table, d.begin, d.end), " values");
    const uint64_t bytes = uint64_t(shard->state_floats()) * sizeof(float);
    if (bytes > r.left()) {
      return r.Fail(absl::StrCat("truncated: ", what, " needs ", bytes,
                                 " bytes; ", r.left(), " left"));
    }
    *touched = true;
    if (!shard->ReadState(
            [&](void* to, size_t n) { return r.Read(what, to, n); })) {
      return;
    }
    image->dense.push_back(std::move(d));
  }
}

}  // namespace

void ReadSnapshotHeader(SnapshotFileReader& r, uint64_t size) {
  char header[snapshot::kHeaderBytes];
  if (!r.Read("header", header, sizeof(header))) return;
  if (std::string problem = snapshot::HeaderProblem(
          absl::string_view(header, sizeof(header)), size);
      !problem.empty()) {
    r.Fail(problem);
  }
}

bool ReadDenseSectionCount(SnapshotFileReader& r, uint32_t* count) {
  return r.Expect("dense section tag", snapshot::kDenseTag) &&
         r.U32("dense range count", count);
}

bool ReadDenseHeader(SnapshotFileReader& r, snapshot::DenseImage* d,
                     std::string* optimizer) {
  optimizer->assign(snapshot::kOptimizerBytes, '\0');
  r.String("dense table name", &d->table);
  r.I64("dense begin", &d->begin);
  r.I64("dense end", &d->end);
  r.Read("dense optimizer", optimizer->data(), optimizer->size());
  r.U32("dense state planes", &d->planes);
  if (!r.ok()) return false;
  d->optimizer = *optimizer;
  if (std::string problem = snapshot::DenseHeaderProblem(*d);
      !problem.empty()) {
    r.Fail(problem);
    return false;
  }
  return true;
}

absl::Status CheckSnapshotFileChecksums(SnapshotFileReader& r, uint64_t size,
                                        uint32_t file_crc32,
                                        const std::string& path) {
  // An I/O error, or a file that changed while it was read.
  if (!r.ok() && !absl::IsInvalidArgument(r.status())) return r.status();
  // The checksums before anything else: a damaged file is DATA_LOSS
  // whatever it parses as.
  char trailer[snapshot::kTrailerBytes];
  if (!r.ChecksumRest() || !r.ReadAfterLimit(trailer, sizeof(trailer))) {
    return r.status();
  }
  const uint32_t crc = r.crc32();
  const uint32_t file_crc = snapshot::ContinueCrc32(
      crc, absl::string_view(trailer, sizeof(trailer)));
  if (file_crc != file_crc32) {
    return absl::DataLossError(
        absl::StrFormat("read %s: expected CRC-32 0x%08x, found 0x%08x (%d "
                        "bytes)",
                        path, file_crc32, file_crc, size));
  }
  uint32_t declared = 0;
  std::memcpy(&declared, trailer, sizeof(declared));
  if (declared != crc) return snapshot::TrailerMismatch(crc, declared, size);
  return absl::OkStatus();
}

void WriteGroupSnapshot(const GroupParts& parts, std::string* out) {
  SealGroupSnapshot(WriteGroupSnapshotState(parts, out), out);
}

size_t WriteGroupSnapshotState(const GroupParts& unsorted, std::string* out) {
  const GroupParts parts = Sorted(unsorted);
  const size_t start = out->size();
  SnapshotWriter w(out);
  w.Raw(snapshot::kMagic, snapshot::kMagicBytes);
  w.U32(kGroupSnapshotVersion);
  const size_t size_at = w.size();
  w.U64(0);
  WriteDense(parts.dense, w);
  WriteSparse(parts.sparse, w);
  WriteDedup(*parts.dedup, w);
  WriteClock(*parts.clock, w);
  WriteSums(parts, w);
  w.PatchU64(size_at, w.size() - start + snapshot::kTrailerBytes);
  return start;
}

void SealGroupSnapshot(size_t start, std::string* out) {
  SnapshotWriter(out).U32(
      snapshot::Crc32(absl::string_view(*out).substr(start)));
}

absl::Status ReadGroupSnapshot(absl::string_view bytes,
                               const GroupParts& unsorted) {
  const GroupParts parts = Sorted(unsorted);
  absl::StatusOr<Image> image = snapshot::ParseSnapshot(bytes);
  if (!image.ok()) return image.status();
  for (absl::Status s :
       {CheckDense(*image, parts), CheckGroup(*image, parts)}) {
    if (!s.ok()) return s;
  }
  Apply(*image, parts);
  return absl::OkStatus();
}

absl::Status ReadGroupSnapshotFile(int fd, uint64_t size, uint32_t file_crc32,
                                   const std::string& path,
                                   const GroupParts& unsorted) {
  const GroupParts parts = Sorted(unsorted);
  if (absl::Status s = snapshot::CheckSnapshotLength(size); !s.ok()) return s;
  const uint64_t body = size - snapshot::kTrailerBytes;
  SnapshotFileReader r(fd, body, path);
  Image image;
  bool touched = false;
  absl::Status mismatch;
  std::string rest;
  uint64_t rest_at = 0;
  ReadSnapshotHeader(r, size);
  if (r.ok()) ReadDense(r, parts, &image, &touched, &mismatch);
  if (r.ok() && mismatch.ok()) {
    rest_at = r.position();
    rest.resize(r.left());
    r.Read("the sections after the dense one", rest.data(), rest.size());
  }
  auto failed = [&](absl::Status s) {
    if (touched) {
      for (const auto& [table, shard] : parts.dense) shard->ResetState();
    }
    return s;
  };
  if (absl::Status s = CheckSnapshotFileChecksums(r, size, file_crc32, path);
      !s.ok()) {
    return failed(s);
  }
  if (!r.ok()) return failed(r.status());
  if (!mismatch.ok()) return failed(mismatch);
  if (absl::Status s = snapshot::ParseAfterDense(rest, rest_at, &image);
      !s.ok()) {
    return failed(s);
  }
  if (absl::Status s = CheckGroup(image, parts); !s.ok()) return failed(s);
  Apply(image, parts);
  return absl::OkStatus();
}

}  // namespace ps::server
