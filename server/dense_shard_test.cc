#include "server/dense_shard.h"

#include <atomic>
#include <thread>
#include <utility>
#include <vector>

#include "gtest/gtest.h"

namespace ps::server {
namespace {

constexpr int64_t kStripe = DenseShard::kStripeValues;

// SGD with lr 1 over zeros: applying g makes the values -g.
std::unique_ptr<DenseShard> Shard(int64_t begin, int64_t end,
                                  v1::OptimizerType type = v1::SGD) {
  v1::TableDef def;
  def.set_name("w");
  def.set_size(end + 10);
  def.mutable_init()->set_kind(v1::Initializer::ZEROS);
  def.mutable_optimizer()->set_type(type);
  def.mutable_optimizer()->set_learning_rate(1.0f);
  auto rule = MakeUpdateRule(def.optimizer());
  EXPECT_TRUE(rule.ok()) << rule.status();
  return std::make_unique<DenseShard>(def, begin, end, *std::move(rule));
}

TEST(DenseShardTest, ApplyAndReadAcrossStripes) {
  const int64_t begin = 5, end = begin + 2 * kStripe + 100;
  auto shard = Shard(begin, end);
  const int64_t offset = begin + kStripe - 3, count = kStripe + 10;
  std::vector<float> grad(count, 2.0f);
  shard->Apply(offset, count, grad.data());
  std::vector<float> out(end - begin, -1.0f);
  shard->Read(begin, end - begin, out.data());
  for (int64_t i = 0; i < end - begin; ++i) {
    const bool in = begin + i >= offset && begin + i < offset + count;
    ASSERT_EQ(out[i], in ? -2.0f : 0.0f) << i;
  }
  shard->Read(end, 0, out.data());  // empty range at the end: no stripe
}

TEST(DenseShardTest, ApplyFromPiecesMatchesApplyFromFloats) {
  auto shard = Shard(0, 1000);
  std::vector<float> grad(300);
  for (int i = 0; i < 300; ++i) grad[i] = static_cast<float>(i);
  std::string bytes(reinterpret_cast<const char*>(grad.data()), 1200);
  ValuePieces pieces({absl::string_view(bytes).substr(0, 7),
                      absl::string_view(bytes).substr(7)});
  shard->Apply(100, 200, pieces, /*first=*/100);
  std::vector<float> out(200);
  shard->Read(100, 200, out.data());
  for (int i = 0; i < 200; ++i) ASSERT_EQ(out[i], -grad[100 + i]) << i;
}

TEST(DenseShardTest, ReadsNeverSeeAHalfAppliedUpdate) {
  const int64_t size = 4 * kStripe;
  auto shard = Shard(0, size);
  std::vector<float> ones(size, 1.0f);
  std::thread writer([&] {
    for (int i = 0; i < 20; ++i) shard->Apply(0, size, ones.data());
  });
  std::vector<float> out(size);
  for (int r = 0; r < 20; ++r) {
    shard->Read(0, size, out.data());
    for (int64_t i = 0; i < size; i += kStripe / 2) {
      ASSERT_EQ(out[i], out[0])
          << "read " << r << " saw a torn update at " << i;
    }
  }
  writer.join();
}

TEST(DenseShardTest, ConcurrentDisjointAndOverlappingAppliesAreAllApplied) {
  const int64_t size = 4 * kStripe;
  auto shard = Shard(0, size);
  std::vector<float> ones(size, 1.0f);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      // Each thread covers its own two stripes, and all share the middle.
      for (int i = 0; i < 10; ++i) {
        shard->Apply(t * kStripe, kStripe, ones.data());
        shard->Apply(size / 2 - 50, 100, ones.data());
      }
    });
  }
  for (auto& t : threads) t.join();
  std::vector<float> out(size);
  shard->Read(0, size, out.data());
  EXPECT_EQ(out[0], -10.0f);
  EXPECT_EQ(out[size - 1], -10.0f);
  EXPECT_EQ(out[size / 2], -50.0f);
  EXPECT_EQ(out[size / 2 - 51], -10.0f);
}

// The values that `shared` shows, concatenated.
std::vector<float> Concat(const std::vector<DenseShard::SharedValues>& shared) {
  std::vector<float> out;
  for (const DenseShard::SharedValues& v : shared) {
    out.insert(out.end(), v.data.get(), v.data.get() + v.count);
  }
  return out;
}

TEST(DenseShardTest, ShareShowsWhatReadCopiesOneSpanPerStripe) {
  const int64_t begin = 5, end = begin + 3 * kStripe;
  auto shard = Shard(begin, end);
  std::vector<float> grad(end - begin);
  for (size_t i = 0; i < grad.size(); ++i) grad[i] = static_cast<float>(i);
  shard->Apply(begin, end - begin, grad.data());
  const int64_t offset = begin + kStripe - 3, count = kStripe + 10;
  std::vector<DenseShard::SharedValues> shared;
  shard->Share(offset, count, &shared);
  ASSERT_EQ(shared.size(), 3u);  // the tail of one stripe, a whole, a head
  EXPECT_EQ(shared[0].count, 3);
  EXPECT_EQ(shared[1].count, kStripe);
  EXPECT_EQ(shared[2].count, 7);
  std::vector<float> read(count);
  shard->Read(offset, count, read.data());
  EXPECT_EQ(Concat(shared), read);
  shard->Share(end, 0, &shared);  // empty: appends nothing
  EXPECT_EQ(shared.size(), 3u);
}

TEST(DenseShardTest, ApplyCopiesAStripeThatIsSharedAndUpdatesTheRestInPlace) {
  auto shard = Shard(0, 2 * kStripe);
  std::vector<DenseShard::SharedValues> before;
  shard->Share(0, 2 * kStripe, &before);
  const float* first_block = before[0].data.get();
  const float* second_block = before[1].data.get();
  before.pop_back();  // the second stripe is no longer shared
  std::vector<float> ones(2 * kStripe, 1.0f);
  shard->Apply(0, 2 * kStripe, ones.data());
  // The reference still shows the values it was taken with.
  EXPECT_EQ(Concat(before), std::vector<float>(kStripe, 0.0f));
  std::vector<DenseShard::SharedValues> after;
  shard->Share(0, 2 * kStripe, &after);
  EXPECT_EQ(Concat(after), std::vector<float>(2 * kStripe, -1.0f));
  EXPECT_NE(after[0].data.get(), first_block);   // copied on write
  EXPECT_EQ(after[1].data.get(), second_block);  // written in place
  // A block copied once is written in place from then on.
  const float* copied = after[0].data.get();
  after.clear();
  before.clear();
  shard->Apply(0, kStripe, ones.data());
  shard->Share(0, kStripe, &after);
  EXPECT_EQ(after[0].data.get(), copied);
  std::vector<float> read(kStripe);
  shard->Read(0, kStripe, read.data());
  EXPECT_EQ(Concat(after), std::vector<float>(kStripe, -2.0f));
  EXPECT_EQ(read, Concat(after));
}

TEST(DenseShardTest, MomentumAcrossStripesMatchesValuesComputedByHand) {
  // A shard not starting at 0 with a short last stripe, a push from the
  // middle of the first stripe to the end, a gradient that differs per
  // value, and the second push copying every block (shared meanwhile).
  const int64_t begin = 7, end = begin + 2 * kStripe + 100;
  auto shard = Shard(begin, end, v1::MOMENTUM);  // mu 0.9, lr 1
  const int64_t offset = begin + kStripe / 2, count = end - offset;
  std::vector<float> g(count);
  for (int64_t i = 0; i < count; ++i) g[i] = 0.001f * (i % 1000) - 0.3f;
  shard->Apply(offset, count, g.data());
  std::vector<DenseShard::SharedValues> held;
  shard->Share(begin, end - begin, &held);
  shard->Apply(offset, count, g.data());
  std::vector<float> got(end - begin);
  shard->Read(begin, end - begin, got.data());
  const std::vector<float> before = Concat(held);
  for (int64_t i = 0; i < end - begin; ++i) {
    if (begin + i < offset) {
      ASSERT_EQ(got[i], 0.0f) << i;
      continue;
    }
    const float gi = g[begin + i - offset];
    const float u1 = gi, w1 = -u1;  // u = mu u + g; w -= u
    const float u2 = 0.9f * u1 + gi, w2 = w1 - u2;
    ASSERT_FLOAT_EQ(before[i], w1) << i;
    ASSERT_FLOAT_EQ(got[i], w2) << i;
  }
}

TEST(DenseShardTest, SharedValuesNeverChangeUnderConcurrentApplies) {
  const int64_t size = 4 * kStripe;
  constexpr int kApplies = 50;
  auto shard = Shard(0, size);
  std::vector<float> ones(size, 1.0f);
  std::atomic<int> applied{0};
  std::atomic<bool> go{false};  // set once the first snapshot is held
  std::thread writer([&] {
    while (!go.load()) std::this_thread::yield();
    for (int i = 0; i < kApplies; ++i) {
      shard->Apply(0, size, ones.data());
      applied.fetch_add(1);
    }
  });
  int changed = -1;  // the first snapshot that changed under its holder
  for (int r = 0; r < 20 && changed < 0; ++r) {
    std::vector<DenseShard::SharedValues> shared;
    shard->Share(0, size, &shared);
    const int taken = applied.load();
    const float seen = shared[0].data.get()[0];
    go.store(true);  // the first snapshot, at least, sees applies
    // Hold the snapshot until the writer has applied again (or is done).
    while (applied.load() == taken && taken < kApplies) {
      std::this_thread::yield();
    }
    for (const DenseShard::SharedValues& v : shared) {
      for (int64_t i = 0; i < v.count; i += kStripe / 4) {
        if (v.data.get()[i] != seen) changed = r;
      }
    }
  }
  writer.join();
  EXPECT_EQ(changed, -1) << "a snapshot changed or was torn";
  std::vector<float> out(size);
  shard->Read(0, size, out.data());
  EXPECT_EQ(out[0], -1.0f * kApplies);
  EXPECT_EQ(out[size - 1], -1.0f * kApplies);
}

TEST(DenseShardTest, RestoreStateReplacesValuesAndPlanesAcrossStripes) {
  const int64_t begin = 3, end = begin + kStripe + 50;
  auto a = Shard(begin, end, v1::ADAM);
  auto b = Shard(begin, end, v1::ADAM);
  ASSERT_EQ(a->state_planes(), 3);
  ASSERT_EQ(a->state_floats(), 4 * (end - begin));
  std::vector<float> grad(end - begin);
  for (size_t i = 0; i < grad.size(); ++i) grad[i] = float(i % 11) - 5;
  a->Apply(begin, end - begin, grad.data());
  std::vector<DenseShard::SharedValues> held;
  b->Share(begin, end - begin, &held);  // b's old values, kept

  std::vector<float> state(a->state_floats());
  a->ExportState(state.data());
  b->RestoreState(state.data());
  std::vector<float> again(b->state_floats());
  b->ExportState(again.data());
  EXPECT_EQ(again, state);
  EXPECT_EQ(held[0].data.get()[0], 0.0f) << "a shared block changed";

  a->Apply(begin, end - begin, grad.data());
  b->Apply(begin, end - begin, grad.data());
  a->ExportState(state.data());
  b->ExportState(again.data());
  EXPECT_EQ(again, state);
}

}  // namespace
}  // namespace ps::server
