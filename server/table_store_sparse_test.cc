// TableStore with SPARSE tables: rows created on first touch, per-row
// updates, the checks that reject a request before it touches a row, BSP
// sums by key, memory bounds and status.
#include <cstring>
#include <limits>
#include <string>
#include <thread>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hash.h"
#include "gtest/gtest.h"
#include "server/initializer.h"
#include "server/table_store.h"

namespace ps::server {
namespace {

constexpr char kJob[] = "job-s";
constexpr uint64_t kEpoch = 3;
constexpr int kDim = 4;
constexpr uint32_t kPartitions = 8;

// Dense "w" (8 values, zeros, all here) and sparse "emb" (dim 4, UNIFORM
// seed 7), both SGD lr 1; this server owns partitions [0, owned) of 8.
v1::CreateTablesRequest Create(uint32_t owned = kPartitions / 2) {
  v1::CreateTablesRequest r;
  r.set_job_id(kJob);
  r.set_epoch(kEpoch);
  v1::TableDef* w = r.add_tables();
  w->set_name("w");
  w->set_size(8);
  w->mutable_init()->set_kind(v1::Initializer::ZEROS);
  w->mutable_optimizer()->set_type(v1::SGD);
  w->mutable_optimizer()->set_learning_rate(1.0f);
  v1::TableDef* emb = r.add_tables();
  emb->set_name("emb");
  emb->set_kind(v1::SPARSE);
  emb->set_dim(kDim);
  emb->mutable_init()->set_kind(v1::Initializer::UNIFORM);
  emb->mutable_init()->set_scale(0.5f);
  emb->mutable_init()->set_seed(7);
  emb->mutable_optimizer()->set_type(v1::SGD);
  emb->mutable_optimizer()->set_learning_rate(1.0f);
  v1::DenseRange* range = r.add_ranges();
  range->set_table("w");
  range->set_end(8);
  r.set_sparse_partitions(kPartitions);
  for (uint32_t p = 0; p < owned; ++p) r.add_owned_partitions(p);
  return r;
}

// The first `n` keys from `from` whose partition is owned (or not).
std::vector<uint64_t> KeysOf(int n, bool owned, uint64_t from = 1) {
  std::vector<uint64_t> out;
  for (uint64_t k = from; static_cast<int>(out.size()) < n; ++k) {
    if ((SparsePartition(k, kPartitions) < kPartitions / 2) == owned) {
      out.push_back(k);
    }
  }
  return out;
}

std::vector<float> InitialRow(uint64_t key) {
  std::vector<float> row(kDim);
  FillInitialRow(Create().tables(1).init(), key, kDim, row.data());
  return row;
}

std::string Bytes(const void* data, size_t n) {
  return std::string(static_cast<const char*>(data), n);
}
std::string KeyBytes(const std::vector<uint64_t>& keys) {
  return Bytes(keys.data(), keys.size() * 8);
}
std::string FloatBytes(const std::vector<float>& v) {
  return Bytes(v.data(), v.size() * 4);
}
std::vector<float> Floats(const std::string& bytes) {
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), out.size() * 4);
  return out;
}

v1::PullRequest PullOf(const std::string& table,
                       const std::vector<uint64_t>& keys) {
  v1::PullRequest p;
  p.set_job_id(kJob);
  p.set_epoch(kEpoch);
  v1::SparseSlice* s = p.add_sparse();
  s->set_table(table);
  s->set_keys(static_cast<int64_t>(keys.size()));
  p.set_keys(KeyBytes(keys));
  return p;
}

v1::PushRequest PushOf(const std::string& table,
                       const std::vector<uint64_t>& keys,
                       const std::vector<float>& grads) {
  v1::PushRequest p;
  p.set_job_id(kJob);
  p.set_epoch(kEpoch);
  v1::SparseSlice* s = p.add_sparse();
  s->set_table(table);
  s->set_keys(static_cast<int64_t>(keys.size()));
  p.set_keys(KeyBytes(keys));
  p.set_values(FloatBytes(grads));
  return p;
}

absl::StatusOr<std::vector<float>> Pull(const TableStore& store,
                                        const v1::PullRequest& request) {
  v1::PullResponse response;
  absl::Status s =
      store.Pull(request, absl::Now() + absl::Seconds(5), &response);
  if (!s.ok()) return s;
  return Floats(response.values());
}

std::vector<float> PullRows(const TableStore& store,
                            const std::vector<uint64_t>& keys) {
  absl::StatusOr<std::vector<float>> rows = Pull(store, PullOf("emb", keys));
  EXPECT_TRUE(rows.ok()) << rows.status();
  return rows.ok() ? *rows : std::vector<float>();
}

v1::TableStatus StatusOf(const TableStore& store, const std::string& table) {
  for (const v1::TableStatus& t : store.Status()) {
    if (t.table() == table) return t;
  }
  ADD_FAILURE() << "no status for table " << table;
  return {};
}

class TableStoreSparseTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.CreateTables(Create()).ok()); }

  // Expects `push` to fail with `code` and a message holding `text`, with
  // no row changed or created.
  void ExpectPushRejected(const v1::PushRequest& push, absl::StatusCode code,
                          absl::string_view text) {
    const std::vector<float> before = PullRows(store_, probe_);
    const int64_t rows = StatusOf(store_, "emb").rows();
    bool dup = false;
    absl::Status s = store_.Push(push, &dup);
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_NE(s.message().find(text), std::string::npos) << s;
    EXPECT_EQ(StatusOf(store_, "emb").rows(), rows) << "a row was created";
    EXPECT_EQ(PullRows(store_, probe_), before) << "a row changed";
  }
  void ExpectPullRejected(const v1::PullRequest& pull, absl::StatusCode code,
                          absl::string_view text) {
    const int64_t rows = StatusOf(store_, "emb").rows();
    absl::StatusOr<std::vector<float>> got = Pull(store_, pull);
    EXPECT_EQ(got.status().code(), code) << got.status();
    EXPECT_NE(got.status().message().find(text), std::string::npos)
        << got.status();
    EXPECT_EQ(StatusOf(store_, "emb").rows(), rows) << "a row was created";
  }

  TableStore store_;
  // Rows read before and after each rejected request; the requests name
  // keys of their own besides, which must not be created.
  const std::vector<uint64_t> probe_ = KeysOf(3, /*owned=*/true);
  const std::vector<uint64_t> fresh_ = KeysOf(2, /*owned=*/true, 1000);
};

TEST_F(TableStoreSparseTest, SameKeyGetsTheSameInitialRowOnEveryServer) {
  // Another server owning every partition, touching other keys first.
  TableStore other;
  ASSERT_TRUE(other.CreateTables(Create(kPartitions)).ok());
  PullRows(other, KeysOf(5, /*owned=*/false));
  const std::vector<float> here = PullRows(store_, probe_);
  EXPECT_EQ(PullRows(other, probe_), here);
  for (size_t i = 0; i < probe_.size(); ++i) {
    EXPECT_EQ(std::vector<float>(here.begin() + i * kDim,
                                 here.begin() + (i + 1) * kDim),
              InitialRow(probe_[i]));
  }
}

TEST_F(TableStoreSparseTest, PullCreatesRowsAndPushAppliesSgdPerRow) {
  EXPECT_EQ(StatusOf(store_, "emb").rows(), 0);
  const uint64_t a = probe_[0], b = probe_[1], c = probe_[2];
  PullRows(store_, {a, b});
  EXPECT_EQ(StatusOf(store_, "emb").rows(), 2);
  const std::vector<float> g = {1, 2, 3, 4, -1, -2, -3, -4};
  bool dup = true;
  ASSERT_TRUE(store_.Push(PushOf("emb", {b, c}, g), &dup).ok());  // c is new
  EXPECT_FALSE(dup);
  EXPECT_EQ(StatusOf(store_, "emb").rows(), 3);
  // Pull keys may repeat: b twice.
  const std::vector<float> rows = PullRows(store_, {a, b, c, b});
  ASSERT_EQ(rows.size(), 4u * kDim);
  for (int j = 0; j < kDim; ++j) {
    EXPECT_EQ(rows[j], InitialRow(a)[j]);
    EXPECT_EQ(rows[kDim + j], InitialRow(b)[j] - g[j]);
    EXPECT_EQ(rows[2 * kDim + j], InitialRow(c)[j] - g[kDim + j]);
    EXPECT_EQ(rows[3 * kDim + j], rows[kDim + j]);
  }
}

TEST_F(TableStoreSparseTest, DenseAndSparseSlicesShareOneRequest) {
  const uint64_t k = probe_[0];
  v1::PushRequest push = PushOf("emb", {k}, {1, 1, 1, 1});
  v1::DenseSlice* d = push.add_slices();
  d->set_table("w");
  d->set_offset(2);
  d->set_count(2);
  // Dense values first, then the sparse rows.
  push.set_values(FloatBytes({5, 6}) + push.values());
  bool dup;
  ASSERT_TRUE(store_.Push(push, &dup).ok());
  v1::PullRequest pull = PullOf("emb", {k});
  *pull.add_slices() = *d;
  absl::StatusOr<std::vector<float>> got = Pull(store_, pull);
  ASSERT_TRUE(got.ok()) << got.status();
  ASSERT_EQ(got->size(), 2u + kDim);
  EXPECT_EQ((*got)[0], -5);
  EXPECT_EQ((*got)[1], -6);
  for (int j = 0; j < kDim; ++j) EXPECT_EQ((*got)[2 + j], InitialRow(k)[j] - 1);
}

TEST_F(TableStoreSparseTest, SlicesOfTheWrongKindAreRejected) {
  ExpectPushRejected(PushOf("w", fresh_, std::vector<float>(8, 1.0f)),
                     absl::StatusCode::kInvalidArgument,
                     "table w is DENSE; sparse keys need a SPARSE table");
  v1::PushRequest dense_on_sparse;
  dense_on_sparse.set_job_id(kJob);
  dense_on_sparse.set_epoch(kEpoch);
  v1::DenseSlice* d = dense_on_sparse.add_slices();
  d->set_table("emb");
  d->set_count(4);
  dense_on_sparse.set_values(FloatBytes({1, 1, 1, 1}));
  ExpectPushRejected(dense_on_sparse, absl::StatusCode::kInvalidArgument,
                     "table emb is SPARSE");
  ExpectPushRejected(PushOf("nope", fresh_, std::vector<float>(8, 1.0f)),
                     absl::StatusCode::kNotFound, "unknown table nope");
  ExpectPullRejected(PullOf("w", fresh_), absl::StatusCode::kInvalidArgument,
                     "table w is DENSE");
}

TEST_F(TableStoreSparseTest, KeyCountsThatDoNotMatchAreRejected) {
  v1::PushRequest p = PushOf("emb", fresh_, std::vector<float>(8, 1.0f));
  p.mutable_sparse(0)->set_keys(0);
  ExpectPushRejected(p, absl::StatusCode::kInvalidArgument, "keys 0");
  p = PushOf("emb", fresh_, std::vector<float>(8, 1.0f));
  p.mutable_sparse(0)->set_keys(3);  // but 2 keys' bytes
  ExpectPushRejected(p, absl::StatusCode::kInvalidArgument,
                     "keys: 16 bytes, but the sparse slices count 3 keys");
  p.mutable_sparse(0)->set_keys(std::numeric_limits<int64_t>::max());
  ExpectPushRejected(p, absl::StatusCode::kInvalidArgument, "16 bytes");
  v1::PullRequest pull = PullOf("emb", fresh_);
  pull.mutable_keys()->pop_back();
  ExpectPullRejected(pull, absl::StatusCode::kInvalidArgument, "15 bytes");
}

TEST_F(TableStoreSparseTest, ValueBytesThatDoNotMatchTheRowsAreRejected) {
  // Rows of dimension 3 for a dim-4 table.
  ExpectPushRejected(PushOf("emb", fresh_, std::vector<float>(6, 1.0f)),
                     absl::StatusCode::kInvalidArgument,
                     "values: 24 bytes, but the slices hold 0 dense values + "
                     "8 sparse row values");
  // One key more than the values cover.
  ExpectPushRejected(
      PushOf("emb", KeysOf(3, true, 1000), std::vector<float>(8, 1.0f)),
      absl::StatusCode::kInvalidArgument, "expected 48 bytes");
}

TEST_F(TableStoreSparseTest, KeyOfAnotherServersPartitionIsFailedPrecondition) {
  std::vector<uint64_t> keys = fresh_;
  const uint64_t foreign = KeysOf(1, /*owned=*/false)[0];
  keys.push_back(foreign);
  const std::string text =
      absl::StrCat("key ", foreign, " is in sparse partition ",
                   SparsePartition(foreign, kPartitions));
  ExpectPushRejected(PushOf("emb", keys, std::vector<float>(12, 1.0f)),
                     absl::StatusCode::kFailedPrecondition, text);
  ExpectPullRejected(PullOf("emb", keys), absl::StatusCode::kFailedPrecondition,
                     text);
}

TEST_F(TableStoreSparseTest, KeyRepeatedInAPushIsRejected) {
  const std::vector<uint64_t> keys = {fresh_[0], fresh_[1], fresh_[0]};
  ExpectPushRejected(PushOf("emb", keys, std::vector<float>(12, 1.0f)),
                     absl::StatusCode::kInvalidArgument,
                     "sum the gradients of repeated keys");
}

TEST_F(TableStoreSparseTest, NonFiniteRowIsRejectedAndCounted) {
  std::vector<float> g(8, 1.0f);
  g[6] = std::numeric_limits<float>::infinity();
  ExpectPushRejected(PushOf("emb", fresh_, g),
                     absl::StatusCode::kInvalidArgument,
                     "value 6 of the push is inf");
  EXPECT_EQ(store_.JobStats()[0].pushes_rejected_nonfinite(), 1);
  EXPECT_EQ(store_.JobStats()[0].pushes_applied(), 0);
}

TEST_F(TableStoreSparseTest, FullServerRefusesRequestsThatMayCreateRows) {
  // Dense "w" takes 32 bytes; the first rows take a block of 4 KiB.
  TableStore small({.max_bytes = 1000});
  ASSERT_TRUE(small.CreateTables(Create()).ok());
  PullRows(small, probe_);  // allowed: the server held 32 bytes
  const int64_t rows = StatusOf(small, "emb").rows();
  absl::StatusOr<std::vector<float>> refused =
      Pull(small, PullOf("emb", fresh_));
  EXPECT_EQ(refused.status().code(), absl::StatusCode::kResourceExhausted);
  EXPECT_NE(refused.status().message().find("job job-s: this server holds"),
            std::string::npos)
      << refused.status();
  bool dup;
  EXPECT_EQ(
      small.Push(PushOf("emb", fresh_, std::vector<float>(8, 1)), &dup).code(),
      absl::StatusCode::kResourceExhausted);
  EXPECT_EQ(StatusOf(small, "emb").rows(), rows);
  // Dense slices create nothing and still work.
  v1::PullRequest dense;
  dense.set_job_id(kJob);
  dense.set_epoch(kEpoch);
  dense.add_slices()->set_table("w");
  dense.mutable_slices(0)->set_count(8);
  EXPECT_TRUE(Pull(small, dense).ok());
  // And so does a new job's creation fail while the server is full.
  v1::CreateTablesRequest second = Create();
  second.set_job_id("job-t");
  EXPECT_EQ(small.CreateTables(second).code(),
            absl::StatusCode::kResourceExhausted);
}

TEST_F(TableStoreSparseTest, PullLargerThanTheResponseLimitIsRejected) {
  TableStore store({.max_pull_bytes = 4 * kDim * 2});
  ASSERT_TRUE(store.CreateTables(Create()).ok());
  EXPECT_TRUE(Pull(store, PullOf("emb", fresh_)).ok());
  absl::StatusOr<std::vector<float>> big =
      Pull(store, PullOf("emb", KeysOf(3, true, 5000)));
  EXPECT_EQ(big.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(big.status().message().find("would answer 48 bytes"),
            std::string::npos)
      << big.status();
  EXPECT_EQ(StatusOf(store, "emb").rows(), 2);
}

TEST_F(TableStoreSparseTest, StatusReportsRowsAndBytesPerKind) {
  PullRows(store_, KeysOf(10, /*owned=*/true));
  const v1::TableStatus emb = StatusOf(store_, "emb");
  EXPECT_EQ(emb.job_id(), kJob);
  EXPECT_EQ(emb.kind(), v1::SPARSE);
  EXPECT_EQ(emb.rows(), 10);
  EXPECT_EQ(emb.values(), 10 * kDim);
  EXPECT_EQ(emb.raw_bytes(), 10 * kDim * 4);  // SGD keeps no state
  EXPECT_GT(emb.bytes(), emb.raw_bytes());    // a block and the index
  const v1::TableStatus w = StatusOf(store_, "w");
  EXPECT_EQ(w.kind(), v1::DENSE);
  EXPECT_EQ(w.rows(), 0);
  EXPECT_EQ(w.values(), 8);
  EXPECT_EQ(w.bytes(), 32);
  EXPECT_EQ(w.raw_bytes(), 32);
}

TEST_F(TableStoreSparseTest, ConcurrentPushesToTheSameRowsAreAllApplied) {
  const std::vector<uint64_t> keys = KeysOf(50, /*owned=*/true);
  const std::vector<float> before = PullRows(store_, keys);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      const v1::PushRequest push =
          PushOf("emb", keys, std::vector<float>(keys.size() * kDim, 1.0f));
      for (int i = 0; i < 100; ++i) {
        bool dup;
        ASSERT_TRUE(store_.Push(push, &dup).ok());
      }
    });
  }
  for (std::thread& t : threads) t.join();
  const std::vector<float> after = PullRows(store_, keys);
  ASSERT_EQ(after.size(), before.size());
  for (size_t i = 0; i < after.size(); ++i) {
    EXPECT_FLOAT_EQ(after[i], before[i] - 400.0f) << i;
  }
}

// BSP: two workers, a and b.
class TableStoreSparseBspTest : public ::testing::Test {
 protected:
  void SetUp() override {
    v1::CreateTablesRequest r = Create();
    r.set_consistency(v1::BSP);
    r.add_worker_ids("a");
    r.add_worker_ids("b");
    ASSERT_TRUE(store_.CreateTables(r).ok());
  }

  absl::Status PushAt(const std::string& worker, int64_t clock,
                      v1::PushRequest p) {
    p.set_worker_id(worker);
    p.set_seq(static_cast<uint64_t>(clock) + 1);
    p.set_clock(clock);
    p.set_clock_pushes(1);
    bool dup;
    return store_.Push(p, &dup);
  }
  absl::StatusOr<std::vector<float>> PullAt(int64_t clock,
                                            const std::vector<uint64_t>& keys,
                                            absl::Duration wait) {
    v1::PullRequest p = PullOf("emb", keys);
    p.set_clock(clock);
    v1::PullResponse response;
    absl::Status s = store_.Pull(p, absl::Now() + wait, &response);
    if (!s.ok()) return s;
    return Floats(response.values());
  }
  static v1::PushRequest Empty() {
    v1::PushRequest p;
    p.set_job_id(kJob);
    p.set_epoch(kEpoch);
    return p;
  }

  TableStore store_;
  const std::vector<uint64_t> keys_ = KeysOf(2, /*owned=*/true);
};

TEST_F(TableStoreSparseBspTest, AppliesTheMeanPerKeyOnceEveryWorkerPushed) {
  const uint64_t k = keys_[0], m = keys_[1];
  ASSERT_TRUE(PushAt("a", 0, PushOf("emb", {k}, {1, 1, 1, 1})).ok());
  // No row was created by the sum, and the gradient is not applied yet.
  EXPECT_EQ(StatusOf(store_, "emb").rows(), 0);
  EXPECT_EQ(*PullAt(0, {k}, absl::ZeroDuration()), InitialRow(k));
  EXPECT_EQ(StatusOf(store_, "emb").rows(), 1);
  EXPECT_EQ(PullAt(1, {k}, absl::Milliseconds(20)).status().code(),
            absl::StatusCode::kDeadlineExceeded);
  ASSERT_TRUE(
      PushAt("b", 0, PushOf("emb", {m, k}, {2, 2, 2, 2, 3, 3, 3, 3})).ok());
  absl::StatusOr<std::vector<float>> after =
      PullAt(1, {k, m}, absl::Seconds(1));
  ASSERT_TRUE(after.ok()) << after.status();
  for (int j = 0; j < kDim; ++j) {
    EXPECT_EQ((*after)[j], InitialRow(k)[j] - 2.0f);         // mean(1, 3)
    EXPECT_EQ((*after)[kDim + j], InitialRow(m)[j] - 1.0f);  // mean(0, 2)
  }
  // The next clock starts from zero sums.
  ASSERT_TRUE(PushAt("a", 1, Empty()).ok());
  ASSERT_TRUE(PushAt("b", 1, Empty()).ok());
  EXPECT_EQ(*PullAt(2, {k, m}, absl::Seconds(1)), *after);
}

TEST_F(TableStoreSparseBspTest, EmptyPushOnlyAdvancesTheClock) {
  const uint64_t k = keys_[0];
  ASSERT_TRUE(PushAt("a", 0, PushOf("emb", {k}, {4, 4, 4, 4})).ok());
  ASSERT_TRUE(PushAt("b", 0, Empty()).ok());
  absl::StatusOr<std::vector<float>> after = PullAt(1, {k}, absl::Seconds(1));
  ASSERT_TRUE(after.ok()) << after.status();
  for (int j = 0; j < kDim; ++j) EXPECT_EQ((*after)[j], InitialRow(k)[j] - 2);
  // An empty push with value bytes is malformed.
  v1::PushRequest bad = Empty();
  bad.set_values(FloatBytes({1}));
  EXPECT_EQ(PushAt("a", 1, bad).code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps::server
