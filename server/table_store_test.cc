#include "server/table_store.h"

#include <cstring>
#include <limits>
#include <thread>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/group_snapshot.h"

namespace ps::server {
namespace {

using ::testing::HasSubstr;

constexpr char kJob[] = "job-1";

// Table "w" of 100 values, owned here in [0, 60) (the rest is elsewhere);
// SGD with lr 1 and zero init, so a push of g makes the values -g.
v1::CreateTablesRequest Create(uint64_t epoch = 4) {
  v1::CreateTablesRequest r;
  r.set_job_id(kJob);
  r.set_epoch(epoch);
  v1::TableDef* t = r.add_tables();
  t->set_name("w");
  t->set_size(100);
  t->mutable_init()->set_kind(v1::Initializer::ZEROS);
  t->mutable_optimizer()->set_type(v1::SGD);
  t->mutable_optimizer()->set_learning_rate(1.0f);
  v1::DenseRange* range = r.add_ranges();
  range->set_table("w");
  range->set_begin(0);
  range->set_end(60);
  return r;
}

std::string Floats(const std::vector<float>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()), v.size() * 4);
}

v1::PushRequest Push(int64_t offset, const std::vector<float>& g,
                     uint64_t seq = 0) {
  v1::PushRequest p;
  p.set_job_id(kJob);
  p.set_epoch(4);
  p.set_worker_id(seq ? "w-1" : "");
  p.set_seq(seq);
  v1::DenseSlice* s = p.add_slices();
  s->set_table("w");
  s->set_offset(offset);
  s->set_count(g.size());
  p.set_values(Floats(g));
  return p;
}

std::vector<float> PullAll(const TableStore& store) {
  v1::PullRequest p;
  p.set_job_id(kJob);
  p.set_epoch(4);
  v1::DenseSlice* s = p.add_slices();
  s->set_table("w");
  s->set_offset(0);
  s->set_count(60);
  v1::PullResponse response;
  EXPECT_TRUE(store.Pull(p, absl::Now() + absl::Seconds(1), &response).ok());
  const std::string& bytes = response.values();
  std::vector<float> out(bytes.size() / 4);
  std::memcpy(out.data(), bytes.data(), bytes.size());
  return out;
}

class TableStoreTest : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_TRUE(store_.CreateTables(Create()).ok()); }

  // Expects `push` to fail with `code` and leave the table unchanged.
  void ExpectPushRejected(const v1::PushRequest& push, absl::StatusCode code,
                          absl::string_view text) {
    std::vector<float> before = PullAll(store_);
    bool dup = false;
    absl::Status s = store_.Push(push, &dup);
    EXPECT_EQ(s.code(), code) << s;
    EXPECT_NE(s.message().find(text), std::string::npos) << s;
    EXPECT_EQ(PullAll(store_), before);
  }

  TableStore store_;
};

TEST_F(TableStoreTest, PushAppliesSgdAndPullReadsIt) {
  bool dup = true;
  ASSERT_TRUE(store_.Push(Push(10, {1, 2, 3}), &dup).ok());
  EXPECT_FALSE(dup);
  std::vector<float> v = PullAll(store_);
  EXPECT_EQ(v[9], 0);
  EXPECT_EQ(v[10], -1);
  EXPECT_EQ(v[12], -3);
}

// A checkpoint takes the state while pushes are held and seals it (the
// checksum trailer) after: the two parts make the same bytes as one
// snapshot, after whatever *out already held.
TEST_F(TableStoreTest, SnapshotStateSealedLaterIsTheSnapshot) {
  bool dup = false;
  ASSERT_TRUE(store_.Push(Push(10, {1, 2, 3}), &dup).ok());
  std::string whole;
  uint64_t op = 0;
  ASSERT_TRUE(store_.SnapshotGroup(kJob, 0, &whole, &op).ok());
  std::string parts = "before";
  size_t start = 0;
  ASSERT_TRUE(store_.SnapshotGroupState(kJob, 0, &parts, &op, &start).ok());
  EXPECT_EQ(start, 6u);
  EXPECT_EQ(parts.size(), 6 + whole.size() - 4);  // no trailer yet
  SealGroupSnapshot(start, &parts);
  EXPECT_EQ(parts.substr(0, 6), "before");
  EXPECT_EQ(parts.substr(6), whole);
}

TEST_F(TableStoreTest, CheckpointBufferIsKeptWithTheGroupUnlessTurnedOff) {
  constexpr size_t kBytes = size_t{1} << 20;
  absl::StatusOr<GroupHandle> group = store_.Group(kJob, 0);
  ASSERT_TRUE(group.ok()) << group.status();
  EXPECT_LT(store_.TakeCheckpointBuffer(*group).capacity(), kBytes);  // none
  std::string buffer(kBytes, 'x');
  const char* memory = buffer.data();
  store_.KeepCheckpointBuffer(*group, std::move(buffer));
  std::string back = store_.TakeCheckpointBuffer(*group);
  EXPECT_TRUE(back.empty());  // its bytes are the last checkpoint's
  EXPECT_GE(back.capacity(), kBytes);
  EXPECT_EQ(back.data(), memory);
  EXPECT_LT(store_.TakeCheckpointBuffer(*group).capacity(), kBytes);  // taken

  TableStore off({.keep_checkpoint_buffers = false});
  ASSERT_TRUE(off.CreateTables(Create()).ok());
  absl::StatusOr<GroupHandle> other = off.Group(kJob, 0);
  ASSERT_TRUE(other.ok()) << other.status();
  off.KeepCheckpointBuffer(*other, std::string(kBytes, 'x'));
  EXPECT_LT(off.TakeCheckpointBuffer(*other).capacity(), kBytes);
}

TEST_F(TableStoreTest, RetriedPushIsAppliedOnce) {
  bool dup = false;
  ASSERT_TRUE(store_.Push(Push(0, {1}, /*seq=*/7), &dup).ok());
  ASSERT_TRUE(store_.Push(Push(0, {1}, /*seq=*/7), &dup).ok());
  EXPECT_TRUE(dup);
  EXPECT_EQ(PullAll(store_)[0], -1);
}

TEST_F(TableStoreTest, CreateIsIdempotentAtSameEpochOnly) {
  EXPECT_TRUE(store_.CreateTables(Create()).ok());
  EXPECT_EQ(store_.CreateTables(Create(5)).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(TableStoreTest, UnknownJobIsNotFound) {
  v1::PushRequest p = Push(0, {1});
  p.set_job_id("job-2");
  ExpectPushRejected(p, absl::StatusCode::kNotFound, "job-2");
}

TEST_F(TableStoreTest, UnknownTableIsNotFound) {
  v1::PushRequest p = Push(0, {1});
  p.mutable_slices(0)->set_table("nope");
  ExpectPushRejected(p, absl::StatusCode::kNotFound, "nope");
}

TEST_F(TableStoreTest, StaleEpochIsFailedPrecondition) {
  v1::PushRequest p = Push(0, {1});
  p.set_epoch(3);
  ExpectPushRejected(p, absl::StatusCode::kFailedPrecondition, "epoch 3");
}

TEST_F(TableStoreTest, SliceOnAnotherServerIsFailedPrecondition) {
  ExpectPushRejected(Push(58, {1, 1, 1}), absl::StatusCode::kFailedPrecondition,
                     "not held by this server");
}

TEST_F(TableStoreTest, SliceOutsideTableIsOutOfRange) {
  ExpectPushRejected(Push(99, {1, 1}), absl::StatusCode::kOutOfRange,
                     "outside [0, 100)");
  v1::PushRequest negative = Push(0, {1});
  negative.mutable_slices(0)->set_offset(-1);
  ExpectPushRejected(negative, absl::StatusCode::kOutOfRange, "offset -1");
}

TEST_F(TableStoreTest, WrongValueSizeIsInvalidArgument) {
  v1::PushRequest p = Push(0, {1, 2});
  p.set_values(p.values().substr(0, 7));
  ExpectPushRejected(p, absl::StatusCode::kInvalidArgument, "7 bytes");
}

TEST_F(TableStoreTest, BadSecondSliceRejectsWholePush) {
  v1::PushRequest p = Push(0, {1});
  v1::DenseSlice* bad = p.add_slices();
  *bad = p.slices(0);
  bad->set_offset(200);
  p.mutable_values()->append(p.values());
  ExpectPushRejected(p, absl::StatusCode::kOutOfRange, "offset 200");
}

TEST_F(TableStoreTest, NonFinitePushIsRejectedCountedAndNotApplied) {
  std::vector<float> g = {1, 2, std::numeric_limits<float>::quiet_NaN()};
  ExpectPushRejected(Push(0, g), absl::StatusCode::kInvalidArgument,
                     "value 2 of the push is nan");
  g[2] = std::numeric_limits<float>::infinity();
  ExpectPushRejected(Push(0, g), absl::StatusCode::kInvalidArgument, "inf");
  ASSERT_EQ(store_.JobStats().size(), 1u);
  EXPECT_EQ(store_.JobStats()[0].pushes_rejected_nonfinite(), 2);
  EXPECT_EQ(store_.JobStats()[0].pushes_applied(), 0);
}

TEST_F(TableStoreTest, MalformedCreateIsRejected) {
  TableStore store;
  v1::CreateTablesRequest r = Create();
  r.mutable_ranges(0)->set_end(101);
  EXPECT_EQ(store.CreateTables(r).code(), absl::StatusCode::kInvalidArgument);
  r = Create();
  r.mutable_tables(0)->mutable_optimizer()->set_learning_rate(0);
  EXPECT_EQ(store.CreateTables(r).code(), absl::StatusCode::kInvalidArgument);
  r = Create();
  r.set_consistency(v1::BSP);  // without worker ids
  EXPECT_EQ(store.CreateTables(r).code(), absl::StatusCode::kInvalidArgument);
  r.add_worker_ids("w");
  r.add_worker_ids("w");
  EXPECT_EQ(store.CreateTables(r).code(), absl::StatusCode::kInvalidArgument);
  r = Create();
  r.set_staleness(-1);
  EXPECT_EQ(store.CreateTables(r).code(), absl::StatusCode::kInvalidArgument);
  r = Create();
  r.mutable_tables(0)->set_size(-5);
  EXPECT_EQ(store.CreateTables(r).code(), absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(store.Status().empty());
}

TEST_F(TableStoreTest, MemoryLimitIsResourceExhausted) {
  TableStore small({.max_bytes = 100});
  EXPECT_EQ(small.CreateTables(Create()).code(),
            absl::StatusCode::kResourceExhausted);
}

// A malformed range gets its own message, not a size estimate's (a range
// past its table's end, or one whose naive size wraps), and tables over
// the cap are refused before they are allocated.
TEST_F(TableStoreTest, HugeOrReversedRangesAreRefusedByName) {
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  TableStore store({.max_bytes = 1 << 20});
  v1::CreateTablesRequest beyond = Create();
  beyond.set_job_id("beyond");
  beyond.mutable_ranges(0)->set_end(int64_t{1} << 40);  // the table has 100
  absl::Status s = store.CreateTables(beyond);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("is not within [0, 100)"));

  v1::CreateTablesRequest reversed = Create();
  reversed.set_job_id("reversed");
  reversed.mutable_ranges(0)->set_begin(std::numeric_limits<int64_t>::min());
  reversed.mutable_ranges(0)->set_end(kMax);
  s = store.CreateTables(reversed);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_THAT(std::string(s.message()), HasSubstr("is not within [0, 100)"));

  // Two tables of the largest size allowed, both owned whole: valid, and
  // refused before anything is allocated.
  v1::CreateTablesRequest huge = Create();
  huge.set_job_id("huge");
  huge.mutable_tables(0)->set_size(int64_t{1} << 36);
  huge.mutable_ranges(0)->set_end(int64_t{1} << 36);
  *huge.add_tables() = huge.tables(0);
  huge.mutable_tables(1)->set_name("w2");
  *huge.add_ranges() = huge.ranges(0);
  huge.mutable_ranges(1)->set_table("w2");
  s = store.CreateTables(huge);
  EXPECT_EQ(s.code(), absl::StatusCode::kResourceExhausted) << s;
  EXPECT_TRUE(store.Status().empty());
}

TEST_F(TableStoreTest, DropRemovesTablesAndReportsStatus) {
  auto status = store_.Status();
  ASSERT_EQ(status.size(), 1u);
  EXPECT_EQ(status[0].values(), 60);
  EXPECT_EQ(status[0].bytes(), 240);
  ASSERT_TRUE(store_.DropTables(kJob).ok());
  EXPECT_TRUE(store_.Status().empty());
  v1::PullResponse out;
  v1::PullRequest p;
  p.set_job_id(kJob);
  EXPECT_EQ(store_.Pull(p, absl::Now(), &out).code(),
            absl::StatusCode::kNotFound);
}

TEST_F(TableStoreTest, ConcurrentPushesAreAllApplied) {
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&] {
      for (int i = 0; i < 250; ++i) {
        bool dup;
        ASSERT_TRUE(
            store_.Push(Push(0, std::vector<float>(60, 1.0f)), &dup).ok());
      }
    });
  }
  for (auto& t : threads) t.join();
  for (float v : PullAll(store_)) EXPECT_EQ(v, -1000);
}

}  // namespace
}  // namespace ps::server
