#include "server/group_snapshot.h"
#include "server/group_snapshot_format.h"

#include <sys/mman.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/value_pieces.h"

namespace ps::server {
namespace {

using ::testing::HasSubstr;

// One table of a test group: dense with `ranges`, or sparse when dim > 0.
struct TableSpec {
  std::string name;
  v1::OptimizerType type = v1::SGD;
  std::vector<std::pair<int64_t, int64_t>> ranges;
  int dim = 0;
  float lr = 0.1f;
  int64_t warmup = 0;  // > 0 makes the rule keep step counts
  uint64_t seed = 7;   // initializer
};
struct GroupSpec {
  std::vector<TableSpec> tables;
  v1::Consistency mode = v1::ASP;
  int staleness = 0;
  std::vector<std::string> workers = {"w0", "w1"};
};

v1::TableDef Def(const TableSpec& t) {
  v1::TableDef def;
  def.set_name(t.name);
  def.set_kind(t.dim > 0 ? v1::SPARSE : v1::DENSE);
  def.set_dim(t.dim);
  int64_t size = 1000;
  for (auto [begin, end] : t.ranges) size = std::max(size, end);
  def.set_size(t.dim > 0 ? 0 : size);
  def.mutable_init()->set_kind(v1::Initializer::UNIFORM);
  def.mutable_init()->set_scale(0.5f);
  def.mutable_init()->set_seed(t.seed);
  def.mutable_optimizer()->set_type(t.type);
  def.mutable_optimizer()->set_learning_rate(t.lr);
  if (t.warmup > 0) {
    def.mutable_optimizer()->mutable_schedule()->set_warmup_steps(t.warmup);
  }
  return def;
}

std::unique_ptr<UpdateRule> Rule(const v1::TableDef& def) {
  auto rule = MakeUpdateRule(def.optimizer());
  EXPECT_TRUE(rule.ok()) << rule.status();
  return *std::move(rule);
}

// A replica group's parts, owned, built as TableStore builds a job's.
struct Group {
  explicit Group(const GroupSpec& spec) {
    for (const TableSpec& t : spec.tables) {
      const v1::TableDef def = Def(t);
      if (t.dim > 0) {
        sparse.push_back(std::make_unique<SparseShard>(def, t.dim, Rule(def)));
        parts.sparse.emplace_back(t.name, sparse.back().get());
      }
      for (auto [begin, end] : t.ranges) {
        dense.push_back(
            std::make_unique<DenseShard>(def, begin, end, Rule(def)));
        parts.dense.emplace_back(t.name, dense.back().get());
      }
    }
    clock = std::make_unique<JobClock>(spec.mode, spec.staleness, spec.workers);
    parts.dedup = &dedup;
    parts.clock = clock.get();
    if (spec.mode == v1::BSP) {
      std::vector<DenseShard*> d;
      for (auto& s : dense) d.push_back(s.get());
      bsp = std::make_unique<BspAccumulator>(d);
      parts.bsp = bsp.get();
      if (!sparse.empty()) {
        std::vector<SparseShard*> s;
        for (auto& shard : sparse) s.push_back(shard.get());
        sparse_bsp = std::make_unique<SparseBspAccumulator>(s);
        parts.sparse_bsp = sparse_bsp.get();
      }
    }
    workers = static_cast<int>(spec.workers.size());
  }

  std::string Snapshot() const {
    std::string out;
    WriteGroupSnapshot(parts, &out);
    return out;
  }

  // What pulls would see: every dense value, then rows of keys 0..19 of
  // each sparse table (creating them, as a pull does).
  std::vector<float> Values() {
    std::vector<float> out;
    for (auto& s : dense) {
      std::vector<float> v(s->end() - s->begin());
      s->Read(s->begin(), v.size(), v.data());
      out.insert(out.end(), v.begin(), v.end());
    }
    std::vector<uint64_t> keys;
    for (uint64_t k = 0; k < 20; ++k) keys.push_back(k);
    for (auto& s : sparse) {
      std::vector<float> v(keys.size() * s->dim());
      s->Read(keys, v.data());
      out.insert(out.end(), v.begin(), v.end());
    }
    return out;
  }

  // One push, as TableStore::Push handles it: gradients from `seed` for
  // part of every dense range and for three keys of every sparse table.
  void Push(const std::string& worker, uint64_t seq, int64_t clock_at,
            uint64_t seed, int32_t pushes = 1) {
    if (dedup.Recorded(worker, seq)) return;
    ASSERT_TRUE(clock->CheckPush(worker, clock_at, pushes).ok());
    ASSERT_TRUE(dedup.FirstTime(worker, seq));
    auto grad = [&](size_t n) {
      std::vector<float> g(n);
      for (size_t i = 0; i < n; ++i) g[i] = float((seed * 31 + i * 7) % 13) - 6;
      return g;
    };
    for (auto& s : dense) {
      const int64_t offset = s->begin() + int64_t(seed % 3);
      const std::vector<float> g = grad(s->end() - offset);
      if (bsp) {
        bsp->Add(s.get(), offset, g.size(), g.data());
      } else {
        s->Apply(offset, g.size(), g.data());
      }
    }
    for (auto& s : sparse) {
      const std::vector<uint64_t> keys = {seed % 5, 5 + seed % 4, 100 + seed};
      const std::vector<float> g = grad(keys.size() * s->dim());
      if (sparse_bsp) {
        const std::string bytes(reinterpret_cast<const char*>(g.data()),
                                g.size() * sizeof(float));
        sparse_bsp->Add(s.get(), keys, ValuePieces({bytes}), 0);
      } else {
        s->Apply(keys, g.data());
      }
    }
    bool all_finished = false;
    ASSERT_TRUE(
        clock->RecordPush(worker, clock_at, pushes, &all_finished).ok());
    if (all_finished && bsp) {
      bsp->ApplyAndReset(1.0f / workers);
      if (sparse_bsp) sparse_bsp->ApplyAndReset(1.0f / workers);
      clock->Published(clock_at + 1);
    }
  }

  // Both workers push clocks [first, last), seqs from the clock.
  void Steps(int64_t first, int64_t last) {
    for (int64_t c = first; c < last; ++c) {
      Push("w0", 2 * c, c, 3 * c + 1);
      Push("w1", 2 * c + 1, c, 5 * c + 2);
    }
  }

  std::vector<std::unique_ptr<DenseShard>> dense;
  std::vector<std::unique_ptr<SparseShard>> sparse;
  PushDedup dedup;
  std::unique_ptr<JobClock> clock;
  std::unique_ptr<BspAccumulator> bsp;
  std::unique_ptr<SparseBspAccumulator> sparse_bsp;
  GroupParts parts;
  int workers = 0;
};

GroupSpec Mixed(v1::Consistency mode = v1::SSP) {
  GroupSpec spec;
  spec.mode = mode;
  spec.staleness = mode == v1::SSP ? 2 : 0;
  spec.tables = {
      {"w", v1::SGD, {{0, 50}, {50, 120}}},
      {"warm", v1::SGD, {{0, 30}}, 0, 0.1f, /*warmup=*/10},
      {"m", v1::ADAM, {{10, 70}}},
      {"emb", v1::ADAGRAD, {}, /*dim=*/4},
      {"ftrl", v1::FTRL, {}, /*dim=*/3},
  };
  return spec;
}

TEST(GroupSnapshotTest, RestoredGroupMatchesAndStaysInStep) {
  Group a(Mixed());
  a.Steps(0, 6);
  a.Push("w0", 12, 6, 99);  // w0 one clock ahead
  const std::string bytes = a.Snapshot();

  Group b(Mixed());
  ASSERT_TRUE(ReadGroupSnapshot(bytes, b.parts).ok());
  EXPECT_EQ(b.Snapshot(), bytes);
  EXPECT_EQ(b.Values(), a.Values());
  // The dedup window and the clocks came along.
  EXPECT_TRUE(b.dedup.Recorded("w1", 3));
  EXPECT_FALSE(b.dedup.Recorded("w1", 13));
  EXPECT_FALSE(b.clock->CheckPush("w0", 6, 1).ok());
  EXPECT_TRUE(b.clock->CheckPush("w1", 6, 1).ok());

  for (Group* g : {&a, &b}) {
    g->Push("w1", 13, 6, 42);
    g->Steps(7, 10);
  }
  EXPECT_EQ(b.Snapshot(), a.Snapshot());
  EXPECT_EQ(b.Values(), a.Values());
}

TEST(GroupSnapshotTest, SameUpdatesGiveSameBytesAndOneMoreDiffers) {
  Group a(Mixed()), b(Mixed());
  // Rows a pull created but no push touched do not count: a primary that
  // answered pulls matches a backup that did not.
  b.Values();
  a.Steps(0, 4);
  b.Steps(0, 4);
  const std::string bytes = a.Snapshot();
  EXPECT_EQ(b.Snapshot(), bytes);
  // The order the parts are listed in does not matter.
  std::reverse(b.parts.dense.begin(), b.parts.dense.end());
  std::reverse(b.parts.sparse.begin(), b.parts.sparse.end());
  EXPECT_EQ(b.Snapshot(), bytes);

  a.Push("w0", 8, 4, 1);
  EXPECT_NE(a.Snapshot(), bytes);
}

TEST(GroupSnapshotTest, BspSnapshotMidClockKeepsThePartialSums) {
  GroupSpec spec = Mixed(v1::BSP);
  spec.workers = {"w0", "w1", "w2"};
  Group a(spec);
  for (const char* w : {"w0", "w1", "w2"}) a.Push(w, 0, 0, 11);
  a.Push("w0", 1, 1, 2, /*pushes=*/2);
  a.Push("w0", 2, 1, 3, /*pushes=*/2);  // w0 finished clock 1
  a.Push("w1", 1, 1, 4, /*pushes=*/2);  // w1 half way
  const std::string bytes = a.Snapshot();

  Group b(spec);
  ASSERT_TRUE(ReadGroupSnapshot(bytes, b.parts).ok());
  EXPECT_EQ(b.Snapshot(), bytes);
  auto past = absl::InfinitePast();
  EXPECT_TRUE(b.clock->AwaitPull(1, past).ok());
  EXPECT_FALSE(b.clock->AwaitPull(2, past).ok());

  for (Group* g : {&a, &b}) {
    g->Push("w1", 2, 1, 5, /*pushes=*/2);
    g->Push("w2", 1, 1, 6);
  }
  EXPECT_TRUE(b.clock->AwaitPull(2, past).ok());
  EXPECT_EQ(b.Snapshot(), a.Snapshot());
  EXPECT_EQ(b.Values(), a.Values());

  // Without the partial sums the clock would have applied less.
  Group c(spec);
  for (const char* w : {"w0", "w1", "w2"}) c.Push(w, 0, 0, 11);
  c.Push("w0", 1, 1, 2, 2);
  c.Push("w0", 2, 1, 3, 2);
  c.Push("w1", 1, 1, 9, 2);  // another gradient
  c.Push("w1", 2, 1, 5, 2);
  c.Push("w2", 1, 1, 6);
  EXPECT_NE(c.Values(), a.Values());
}

GroupSpec Small() {
  GroupSpec spec;
  spec.tables = {{"w", v1::MOMENTUM, {{0, 3}}}, {"e", v1::SGD, {}, 2}};
  return spec;
}

// Every prefix and every single-bit flip of a small snapshot is refused
// whole: the target keeps its own state.
TEST(GroupSnapshotTest, TruncatedOrFlippedSnapshotsChangeNothing) {
  Group source(Small());
  source.Steps(0, 2);
  const std::string bytes = source.Snapshot();
  Group target(Small());
  target.Push("w1", 77, 0, 3);
  const std::string before = target.Snapshot();
  ASSERT_NE(before, bytes);

  for (size_t n = 0; n < bytes.size(); ++n) {
    absl::Status s = ReadGroupSnapshot(bytes.substr(0, n), target.parts);
    ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << n << " " << s;
  }
  ASSERT_EQ(target.Snapshot(), before);
  for (size_t bit = 0; bit < bytes.size() * 8; ++bit) {
    std::string flipped = bytes;
    flipped[bit / 8] ^= char(1 << (bit % 8));
    ASSERT_FALSE(ReadGroupSnapshot(flipped, target.parts).ok()) << bit;
  }
  ASSERT_EQ(target.Snapshot(), before);
  EXPECT_FALSE(ReadGroupSnapshot("", target.parts).ok());
  EXPECT_FALSE(
      ReadGroupSnapshot(std::string(bytes.size(), 'x'), target.parts).ok());
  EXPECT_EQ(target.Snapshot(), before);
  // Intact, it restores.
  ASSERT_TRUE(ReadGroupSnapshot(bytes, target.parts).ok());
  EXPECT_EQ(target.Snapshot(), bytes);
}

TEST(GroupSnapshotTest, ChecksumMismatchIsDataLoss) {
  Group source(Small());
  std::string bytes = source.Snapshot();
  bytes[bytes.size() / 2] ^= 1;
  absl::Status s = ReadGroupSnapshot(bytes, Group(Small()).parts);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("checksum"));
}

// Flips behind a recomputed checksum reach the parser: each is refused
// whole, or (a flipped value) restored; never a crash.
TEST(GroupSnapshotTest, FlipsBehindAValidChecksumFailWholeOrRestore) {
  Group source(Small());
  source.Steps(0, 2);
  const std::string bytes = source.Snapshot();
  int refused = 0;
  for (size_t bit = 0; bit < (bytes.size() - 4) * 8; ++bit) {
    std::string flipped = bytes;
    flipped[bit / 8] ^= char(1 << (bit % 8));
    const uint32_t crc = static_cast<uint32_t>(
        crc32(0L, reinterpret_cast<const Bytef*>(flipped.data()),
              static_cast<uInt>(flipped.size() - 4)));
    std::memcpy(&flipped[flipped.size() - 4], &crc, 4);
    Group target(Small());
    target.Push("w0", 5, 0, 1);
    const std::string before = target.Snapshot();
    absl::Status s = ReadGroupSnapshot(flipped, target.parts);
    if (!s.ok()) {
      ++refused;
      ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bit << s;
      ASSERT_EQ(target.Snapshot(), before) << bit << s;
    }
  }
  EXPECT_GT(refused, 0);
}

TEST(GroupSnapshotTest, SnapshotOfAnotherGroupIsRefusedNamingTheDifference) {
  Group source(Mixed());
  source.Steps(0, 3);
  const std::string bytes = source.Snapshot();
  struct Case {
    std::function<void(GroupSpec&)> change;
    std::string message;
  };
  const std::vector<Case> cases = {
      {[](GroupSpec& g) { g.tables[0].ranges[1].second = 110; },
       "dense range w [50, 120) where here is dense range w [50, 110)"},
      {[](GroupSpec& g) { g.tables[0].ranges.pop_back(); },
       "4 dense ranges; here 3"},
      {[](GroupSpec& g) { g.tables[3].dim = 5; },
       "sparse table emb: dim 4; here 5"},
      {[](GroupSpec& g) { g.tables[2].type = v1::SGD; },
       "dense range m [10, 70): optimizer.type: snapshot ADAM, here SGD"},
      {[](GroupSpec& g) { g.tables[4].lr = 0.2f; },
       "sparse table ftrl: optimizer.learning_rate: snapshot 0.100000001, "
       "here 0.200000003"},
      {[](GroupSpec& g) { g.tables[1].warmup = 20; },
       "optimizer.schedule.warmup_steps: snapshot 10, here 20"},
      {[](GroupSpec& g) { g.tables[3].seed = 8; },
       "sparse table emb: initializer.seed: snapshot 7, here 8"},
      {[](GroupSpec& g) {
         g.workers = {"w0", "w2"};
       },
       "worker #1 (by id) is 'w1' (rank 1); here 'w2' (rank 1)"},
      {[](GroupSpec& g) { g.mode = v1::ASP; },
       "consistency SSP staleness 2; here ASP staleness 2"},
      {[](GroupSpec& g) { g.staleness = 3; },
       "consistency SSP staleness 2; here SSP staleness 3"},
  };
  for (const Case& c : cases) {
    GroupSpec spec = Mixed();
    c.change(spec);
    Group target(spec);
    target.Push("w0", 1, 0, 4);
    const std::string before = target.Snapshot();
    absl::Status s = ReadGroupSnapshot(bytes, target.parts);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(c.message));
    EXPECT_EQ(target.Snapshot(), before) << c.message;
  }
}

TEST(GroupSnapshotTest, BspSumsOnlyIntoABspGroup) {
  GroupSpec bsp = Small();
  bsp.mode = v1::BSP;
  Group source(bsp);
  const std::string bytes = source.Snapshot();
  Group target(Small());
  target.parts.clock = Group(bsp).clock.release();  // a BSP clock, no sums
  std::unique_ptr<JobClock> own(target.parts.clock);
  absl::Status s = ReadGroupSnapshot(bytes, target.parts);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("BSP sums: dense 1, sparse 1; here "
                        "dense 0, sparse 0"));
}

// ---------------------------------------------- ReadGroupSnapshotFile

// ReadGroupSnapshotFile of `bytes` as a checkpoint's file (in memory, a
// memfd) whose manifest gives `file_crc32` (by default the bytes' own),
// told the file holds `size` bytes (by default, as many as it does).
absl::Status LoadFile(absl::string_view bytes, const GroupParts& parts,
                      std::optional<uint32_t> file_crc32 = std::nullopt,
                      std::optional<uint64_t> size = std::nullopt) {
  const int fd = memfd_create("group-0.snap", MFD_CLOEXEC);
  EXPECT_GE(fd, 0);
  for (size_t at = 0; at < bytes.size();) {
    const ssize_t n = write(fd, bytes.data() + at, bytes.size() - at);
    EXPECT_GT(n, 0);
    if (n <= 0) break;
    at += size_t(n);
  }
  absl::Status s = ReadGroupSnapshotFile(
      fd, size.value_or(bytes.size()),
      file_crc32.value_or(snapshot::Crc32(bytes)), "ckpt/group-0.snap", parts);
  close(fd);
  return s;
}

// Ranges of several stripes and Adam's two planes: the floats come in
// pieces of a MiB, cut at stripes and planes.
GroupSpec Large() {
  GroupSpec spec;
  spec.tables = {
      {"big", v1::ADAM, {{0, 700000}, {700000, 700010}}},
      {"emb", v1::ADAGRAD, {}, /*dim=*/4},
  };
  return spec;
}

TEST(GroupSnapshotFileTest, LoadsAsTheSnapshotInMemoryDoes) {
  for (const GroupSpec& spec :
       {Small(), Mixed(), Mixed(v1::BSP), Mixed(v1::ASP), Large()}) {
    Group source(spec);
    source.Steps(0, 3);
    source.Push("w0", 100, 3, 9);  // under BSP: sums of an open clock
    const std::string bytes = source.Snapshot();
    Group target(spec);
    ASSERT_TRUE(LoadFile(bytes, target.parts).ok());
    EXPECT_EQ(target.Snapshot(), bytes);
    EXPECT_EQ(target.Values(), source.Values());
    // And they go on in step.
    for (Group* g : {&source, &target}) {
      g->Push("w1", 101, 3, 11);
      g->Steps(4, 6);
    }
    EXPECT_EQ(target.Snapshot(), source.Snapshot());
  }
}

TEST(GroupSnapshotFileTest, DamagedFileIsDataLossAndLeavesTheGroupAsBuilt) {
  for (const GroupSpec& spec : {Small(), Large()}) {
    Group source(spec);
    source.Steps(0, 2);
    const std::string bytes = source.Snapshot();
    const uint32_t manifest_crc = snapshot::Crc32(bytes);
    Group target(spec);
    const std::string built = target.Snapshot();
    // Every byte of a small snapshot; a large one's header, the first
    // range's floats (values, then planes), the second range and the tail.
    std::vector<size_t> at;
    if (bytes.size() < 10000) {
      for (size_t i = 0; i < bytes.size(); ++i) at.push_back(i);
    } else {
      at = {0,   9,    17,   30,  60,   100,  1 << 20, bytes.size() / 3,
            bytes.size() / 2,   bytes.size() - 300,     bytes.size() - 100,
            bytes.size() - 30,  bytes.size() - 1};
    }
    for (size_t i : at) {
      std::string flipped = bytes;
      flipped[i] ^= 0x10;
      absl::Status s = LoadFile(flipped, target.parts, manifest_crc);
      ASSERT_EQ(s.code(), absl::StatusCode::kDataLoss) << i << " " << s;
      ASSERT_THAT(std::string(s.message()),
                  HasSubstr(absl::StrFormat(
                      "read ckpt/group-0.snap: expected CRC-32 0x%08x",
                      manifest_crc)));
      ASSERT_EQ(target.Snapshot(), built) << i;
    }
    // The trailer alone wrong, the manifest's CRC taken from the file.
    std::string bad_trailer = bytes;
    bad_trailer.back() ^= 1;
    absl::Status s = LoadFile(bad_trailer, target.parts);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr("its trailer says"));
    EXPECT_EQ(target.Snapshot(), built);
    // Short or long.
    for (size_t n : {size_t{0}, size_t{10}, size_t{30}, bytes.size() / 2,
                     bytes.size() - 1}) {
      s = LoadFile(bytes.substr(0, n), target.parts, manifest_crc);
      EXPECT_FALSE(s.ok()) << n;
      EXPECT_EQ(target.Snapshot(), built) << n;
    }
    s = LoadFile(bytes + "x", target.parts, manifest_crc);
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
    EXPECT_EQ(target.Snapshot(), built);
    ASSERT_TRUE(LoadFile(bytes, target.parts, manifest_crc).ok());
    EXPECT_EQ(target.Snapshot(), bytes);
  }
}

// The file is shorter than its size said when it was opened (cut while it
// was read): DATA_LOSS naming the file, wherever the cut falls.
TEST(GroupSnapshotFileTest, AFileCutWhileReadIsDataLoss) {
  Group source(Large());
  source.Steps(0, 2);
  const std::string bytes = source.Snapshot();
  Group target(Large());
  const std::string built = target.Snapshot();
  for (size_t cut : {size_t{12}, size_t{1} << 20, bytes.size() / 2,
                     bytes.size() - 2}) {
    absl::Status s = LoadFile(bytes.substr(0, cut), target.parts,
                              snapshot::Crc32(bytes), bytes.size());
    EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << cut << " " << s;
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("read ckpt/group-0.snap: ended at byte"));
    EXPECT_THAT(std::string(s.message()),
                HasSubstr("the file changed while it was read"));
    EXPECT_EQ(target.Snapshot(), built) << cut;
  }
}

// Both checksums made right for the flipped bytes: the parser sees them.
TEST(GroupSnapshotFileTest, FlipsBehindValidChecksumsFailWholeOrLoad) {
  Group source(Mixed());
  source.Steps(0, 2);
  const std::string bytes = source.Snapshot();
  int refused = 0;
  for (size_t bit = 0; bit < (bytes.size() - 4) * 8; bit += 3) {
    std::string flipped = bytes;
    flipped[bit / 8] ^= char(1 << (bit % 8));
    const uint32_t crc = snapshot::Crc32(
        absl::string_view(flipped).substr(0, flipped.size() - 4));
    std::memcpy(&flipped[flipped.size() - 4], &crc, 4);
    Group target(Mixed());
    const std::string built = target.Snapshot();
    absl::Status s = LoadFile(flipped, target.parts);
    if (!s.ok()) {
      ++refused;
      ASSERT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << bit << s;
      ASSERT_EQ(target.Snapshot(), built) << bit << s;
    } else {
      ASSERT_EQ(target.Snapshot(), flipped) << bit;
    }
  }
  EXPECT_GT(refused, 0);
}

TEST(GroupSnapshotFileTest, AnotherGroupIsRefusedAfterItsRangesWereRead) {
  Group source(Mixed());
  source.Steps(0, 3);
  const std::string bytes = source.Snapshot();
  const std::vector<std::pair<std::function<void(GroupSpec&)>, std::string>>
      cases = {
          // The third range differs: two were read into the shards first.
          {[](GroupSpec& g) { g.tables[2].type = v1::SGD; },
           "dense range m [10, 70): optimizer.type: snapshot ADAM, here SGD"},
          {[](GroupSpec& g) { g.tables[0].ranges.pop_back(); },
           "4 dense ranges; here 3"},
          {[](GroupSpec& g) { g.tables[3].dim = 5; },
           "sparse table emb: dim 4; here 5"},
          {[](GroupSpec& g) { g.staleness = 3; },
           "consistency SSP staleness 2; here SSP staleness 3"},
      };
  for (const auto& [change, message] : cases) {
    GroupSpec spec = Mixed();
    change(spec);
    Group target(spec);
    const std::string built = target.Snapshot();
    absl::Status s = LoadFile(bytes, target.parts);
    EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
    EXPECT_THAT(std::string(s.message()), HasSubstr(message));
    EXPECT_EQ(target.Snapshot(), built) << message;
  }
}

TEST(SnapshotFileCrc32Test, EqualsTheCrcOfTheWholeSnapshot) {
  for (const std::string& bytes :
       {std::string(20, 'x') + "abcd", std::string(1000, '\7') + "wxyz"}) {
    std::string file = bytes.substr(0, bytes.size() - 4);
    const uint32_t body = snapshot::Crc32(file);
    for (int i = 0; i < 4; ++i) file.push_back(char(body >> (8 * i)));
    EXPECT_EQ(snapshot::SnapshotFileCrc32(file), snapshot::Crc32(file));
  }
}

}  // namespace
}  // namespace ps::server
