// ParseSnapshot: the checks a snapshot must pass on its own, before it is
// compared with the group it is restored into (group_snapshot.cc).
#include <algorithm>
#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"
#include "server/group_snapshot.h"
#include "server/group_snapshot_format.h"
#include "server/update_rule.h"

namespace ps::server::snapshot {
namespace {

uint64_t KeyAt(const char* keys, uint64_t i) {
  uint64_t key;
  std::memcpy(&key, keys + i * sizeof(key), sizeof(key));
  return key;
}

// `rows` keys, strictly ascending, then rows x row_bytes of data.
void ParseRows(SnapshotReader& r, absl::string_view what, size_t row_bytes,
               RowsImage* out) {
  if (!r.U64(absl::StrCat(what, " rows"), &out->rows)) return;
  out->keys = r.Span(absl::StrCat(what, " keys"), out->rows, sizeof(uint64_t));
  if (out->keys == nullptr) return;
  for (uint64_t i = 1; i < out->rows; ++i) {
    if (KeyAt(out->keys, i - 1) >= KeyAt(out->keys, i)) {
      r.Fail(absl::StrCat(what, ": key ", KeyAt(out->keys, i), " (row ", i,
                          ") is not above the previous key ",
                          KeyAt(out->keys, i - 1)));
      return;
    }
  }
  out->data = r.Span(absl::StrCat(what, " values"), out->rows, row_bytes);
}

void ParseDense(SnapshotReader& r, std::vector<DenseImage>* out) {
  uint32_t count = 0;
  if (!r.Expect("dense section tag", kDenseTag) ||
      !r.U32("dense range count", &count)) {
    return;
  }
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    DenseImage d;
    r.String("dense table name", &d.table);
    r.I64("dense begin", &d.begin);
    r.I64("dense end", &d.end);
    const char* opt = r.Span("dense optimizer", 1, kOptimizerBytes);
    r.U32("dense state planes", &d.planes);
    if (!r.ok()) return;
    d.optimizer = absl::string_view(opt, kOptimizerBytes);
    const std::string name = DenseRangeName(d.table, d.begin, d.end);
    if (std::string problem = DenseHeaderProblem(d); !problem.empty()) {
      return r.Fail(problem);
    }
    d.state = r.Span(absl::StrCat(name, " values"),
                     static_cast<uint64_t>(d.end - d.begin),
                     sizeof(float) * (1 + d.planes));
    out->push_back(std::move(d));
  }
}

void ParseSparse(SnapshotReader& r, std::vector<SparseImage>* out) {
  uint32_t count = 0;
  if (!r.Expect("sparse section tag", kSparseTag) ||
      !r.U32("sparse table count", &count)) {
    return;
  }
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    SparseImage s;
    r.String("sparse table name", &s.table);
    r.I32("sparse dim", &s.dim);
    const char* init = r.Span("sparse initializer", 1, kInitializerBytes);
    const char* opt = r.Span("sparse optimizer", 1, kOptimizerBytes);
    r.U32("sparse state planes", &s.planes);
    if (!r.ok()) return;
    s.init = absl::string_view(init, kInitializerBytes);
    s.optimizer = absl::string_view(opt, kOptimizerBytes);
    const std::string name = absl::StrCat("sparse table ", s.table);
    if (s.dim < 1) return r.Fail(absl::StrCat(name, ": dim ", s.dim));
    if (s.planes > kMaxStatePlanes) {
      return r.Fail(absl::StrCat(name, ": ", s.planes,
                                 " state planes; at most ", kMaxStatePlanes));
    }
    ParseRows(r, name, sizeof(float) * (1 + s.planes) * size_t(s.dim), &s.rows);
    out->push_back(std::move(s));
  }
}

void ParseDedup(SnapshotReader& r, std::vector<PushDedup::WorkerSeqs>* out) {
  uint32_t count = 0;
  if (!r.Expect("dedup section tag", kDedupTag) ||
      !r.U32("dedup worker count", &count)) {
    return;
  }
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    PushDedup::WorkerSeqs w;
    uint64_t seqs = 0;
    r.String("dedup worker", &w.worker);
    r.U64("dedup highest", &w.highest);
    r.U64("dedup sequence count", &seqs);
    const char* at = r.Span("dedup sequences", seqs, sizeof(uint64_t));
    if (at == nullptr) return;
    const std::string name = absl::StrCat("dedup worker '", w.worker, "'");
    if (!out->empty() && out->back().worker >= w.worker) {
      return r.Fail(
          absl::StrCat(name, " is not after '", out->back().worker, "'"));
    }
    w.recent.resize(seqs);
    if (seqs != 0) std::memcpy(w.recent.data(), at, seqs * sizeof(uint64_t));
    for (uint64_t k = 0; k < seqs; ++k) {
      if ((k > 0 && w.recent[k - 1] >= w.recent[k]) ||
          w.recent[k] > w.highest) {
        return r.Fail(absl::StrCat(name, ": sequence ", w.recent[k],
                                   " out of order or above highest ",
                                   w.highest));
      }
    }
    out->push_back(std::move(w));
  }
}

void ParseClock(SnapshotReader& r, Image* out) {
  uint32_t count = 0;
  if (!r.Expect("clock section tag", kClockTag) ||
      !r.I32("clock mode", &out->mode) ||
      !r.I32("clock staleness", &out->staleness) ||
      !r.I64("clock published", &out->clock.published) ||
      !r.U32("clock worker count", &count)) {
    return;
  }
  if (!v1::Consistency_IsValid(out->mode)) {
    return r.Fail(absl::StrCat("clock mode ", out->mode));
  }
  int64_t slowest = std::numeric_limits<int64_t>::max();
  std::vector<JobClock::WorkerState>& workers = out->clock.workers;
  for (uint32_t i = 0; i < count && r.ok(); ++i) {
    JobClock::WorkerState w;
    r.String("clock worker", &w.id);
    r.I32("clock rank", &w.rank);
    r.I64("clock finished", &w.finished);
    r.I32("clock received", &w.received);
    if (!r.ok()) return;
    if (!workers.empty() && workers.back().id >= w.id) {
      return r.Fail(absl::StrCat("clock worker '", w.id, "' is not after '",
                                 workers.back().id, "'"));
    }
    if (w.rank < 0 || w.finished < 0 || w.received < 0) {
      return r.Fail(absl::StrCat("clock worker '", w.id, "': rank ", w.rank,
                                 ", finished ", w.finished, ", received ",
                                 w.received, "; none may be negative"));
    }
    slowest = std::min(slowest, w.finished);
    workers.push_back(std::move(w));
  }
  if (!r.ok()) return;
  // BSP publishes clock c + 1 only once every worker finished c.
  if (out->clock.published < 0 ||
      (!workers.empty() && out->clock.published > slowest)) {
    r.Fail(absl::StrCat("clock published ", out->clock.published,
                        " is negative or past the slowest worker's ", slowest));
  }
}

bool ParseFlag(SnapshotReader& r, absl::string_view what, bool* flag) {
  uint8_t v = 0;
  if (!r.U8(what, &v)) return false;
  if (v > 1) {
    r.Fail(absl::StrCat(what, ": ", int{v}, "; expected 0 or 1"));
    return false;
  }
  *flag = v == 1;
  return true;
}

void ParseSums(SnapshotReader& r, Image* out) {
  if (!r.Expect("BSP section tag", kSumsTag) ||
      !ParseFlag(r, "dense sums flag", &out->dense_sums)) {
    return;
  }
  if (out->dense_sums) {
    for (const DenseImage& d : out->dense) {
      out->dense_sum.push_back(
          r.Span(absl::StrCat("BSP sums of dense range ", d.table, " [",
                              d.begin, ", ", d.end, ")"),
                 static_cast<uint64_t>(d.end - d.begin), sizeof(float)));
      if (!r.ok()) return;
    }
  }
  if (!ParseFlag(r, "sparse sums flag", &out->sparse_sums)) return;
  if (out->sparse_sums) {
    for (const SparseImage& s : out->sparse) {
      out->sparse_sum.emplace_back();
      ParseRows(r, absl::StrCat("BSP sums of sparse table ", s.table),
                sizeof(float) * size_t(s.dim), &out->sparse_sum.back());
      if (!r.ok()) return;
    }
  }
}

absl::Status CheckFrame(absl::string_view bytes) {
  if (absl::Status s = CheckSnapshotLength(bytes.size()); !s.ok()) return s;
  if (std::string problem =
          HeaderProblem(bytes.substr(0, kHeaderBytes), bytes.size());
      !problem.empty()) {
    return absl::InvalidArgumentError(absl::StrCat("snapshot: ", problem));
  }
  SnapshotReader trailer(bytes.substr(bytes.size() - kTrailerBytes));
  uint32_t crc = 0;
  trailer.U32("checksum", &crc);
  const uint32_t computed =
      Crc32(bytes.substr(0, bytes.size() - kTrailerBytes));
  if (crc != computed) return TrailerMismatch(computed, crc, bytes.size());
  return absl::OkStatus();
}

void ParseAfterDense(SnapshotReader& r, Image* image) {
  ParseSparse(r, &image->sparse);
  ParseDedup(r, &image->dedup);
  ParseClock(r, image);
  ParseSums(r, image);
  if (r.ok() && r.left() != 0) {
    r.Fail(absl::StrCat(r.left(), " bytes left over after the last section"));
  }
}

}  // namespace

absl::Status CheckSnapshotLength(uint64_t size) {
  if (size >= kHeaderBytes + kTrailerBytes) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("snapshot: ", size, " bytes; a header and a trailer take ",
                   kHeaderBytes + kTrailerBytes));
}

std::string HeaderProblem(absl::string_view header, uint64_t size) {
  if (header.substr(0, kMagicBytes) !=
      absl::string_view(kMagic, kMagicBytes)) {
    return "does not start with \"PSGSNAP1\"; not a group snapshot";
  }
  SnapshotReader r(header.substr(kMagicBytes));
  uint32_t version = 0;
  uint64_t declared = 0;
  r.U32("version", &version);
  r.U64("size", &declared);
  if (version != kGroupSnapshotVersion) {
    return absl::StrCat("version ", version, "; this server reads ",
                        kGroupSnapshotVersion);
  }
  if (declared != size) {
    return absl::StrCat(size, " bytes; its header says ", declared,
                        " (truncated or padded)");
  }
  return "";
}

absl::Status TrailerMismatch(uint32_t computed, uint32_t declared,
                             uint64_t size) {
  return absl::DataLossError(absl::StrCat(
      "snapshot: checksum 0x", absl::Hex(computed), " of ", size,
      " bytes; its trailer says 0x", absl::Hex(declared)));
}

std::string DenseRangeName(absl::string_view table, int64_t begin,
                           int64_t end) {
  return absl::StrCat("dense range ", table, " [", begin, ", ", end, ")");
}

std::string DenseHeaderProblem(const DenseImage& d) {
  if (d.begin < 0 || d.end < d.begin) {
    return absl::StrCat(DenseRangeName(d.table, d.begin, d.end),
                        ": not a range");
  }
  if (d.planes > kMaxStatePlanes) {
    return absl::StrCat(DenseRangeName(d.table, d.begin, d.end), ": ", d.planes,
                        " state planes; at most ", kMaxStatePlanes);
  }
  return "";
}

absl::Status ParseAfterDense(absl::string_view rest, size_t at,
                             Image* image) {
  SnapshotReader r(rest, at);
  ParseAfterDense(r, image);
  return r.status();
}

absl::StatusOr<Image> ParseSnapshot(absl::string_view bytes) {
  if (absl::Status s = CheckFrame(bytes); !s.ok()) return s;
  // Positions in messages count from the snapshot's first byte.
  SnapshotReader r(bytes.substr(0, bytes.size() - kTrailerBytes));
  r.Span("header", 1, kHeaderBytes);
  Image image;
  ParseDense(r, &image.dense);
  ParseAfterDense(r, &image);
  if (!r.ok()) return r.status();
  return image;
}

}  // namespace ps::server::snapshot
