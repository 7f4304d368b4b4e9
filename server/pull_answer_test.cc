// How a pull's answer is built: by reference to the shards or copied, and
// that either way its bytes are the serialised PullResponse. No gRPC server.
#include "server/pull_answer.h"

#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "gtest/gtest.h"
#include "server/test_jobs.h"

namespace ps::server {
namespace {

// The buffer's slices, and their bytes parsed as a PullResponse.
struct Answer {
  std::vector<grpc::Slice> slices;
  v1::PullResponse response;
};

Answer Parse(const grpc::ByteBuffer& buffer) {
  Answer a;
  EXPECT_TRUE(buffer.Dump(&a.slices).ok());
  std::string bytes;
  for (const grpc::Slice& s : a.slices) {
    bytes.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  EXPECT_TRUE(a.response.ParseFromString(bytes));
  return a;
}

// WritePullResponse's answer to `plan`, parsed.
Answer Write(const PullPlan& plan, int64_t staleness) {
  grpc::ByteBuffer buffer;
  EXPECT_TRUE(WritePullResponse(plan, staleness, &buffer).ok());
  return Parse(buffer);
}

std::vector<float> Floats(const v1::PullResponse& r) {
  std::vector<float> out(r.values().size() / sizeof(float));
  std::memcpy(out.data(), r.values().data(), out.size() * sizeof(float));
  return out;
}

DenseShard::SharedValues Values(int64_t count) {
  std::shared_ptr<const float> data(new float[count](),
                                    std::default_delete<float[]>());
  return {std::move(data), count};
}

TEST(SliceOfValuesTest, FewValuesAreCopied) {
  DenseShard::SharedValues v = Values(kMinReferencedValues - 1);
  const float* data = v.data.get();
  std::shared_ptr<const float> keep = v.data;
  grpc::Slice slice = SliceOfValues(std::move(v));
  EXPECT_NE(reinterpret_cast<const float*>(slice.begin()), data);
  EXPECT_EQ(slice.size(), (kMinReferencedValues - 1) * sizeof(float));
  EXPECT_EQ(keep.use_count(), 1);  // the slice holds nothing of the block
}

TEST(SliceOfValuesTest, ManyValuesAreReferencedUntilTheSliceIsGone) {
  DenseShard::SharedValues v = Values(kMinReferencedValues);
  const float* data = v.data.get();
  std::shared_ptr<const float> keep = v.data;
  {
    grpc::Slice slice = SliceOfValues(std::move(v));
    EXPECT_EQ(reinterpret_cast<const float*>(slice.begin()), data);
    EXPECT_EQ(slice.size(), kMinReferencedValues * sizeof(float));
    EXPECT_EQ(keep.use_count(), 2);
  }
  EXPECT_EQ(keep.use_count(), 1);
}

class PullAnswerTest : public ::testing::Test {
 protected:
  // Job "big": dense "w" of `size` values, value i set to -(i % 1000 + 1).
  void CreateBig(int64_t size) {
    ASSERT_TRUE(store_.CreateTables(CreateOneTableJob("big", size)).ok());
    bool duplicate = false;
    ASSERT_TRUE(
        store_.Push(PushAllOfW("big", RampGradient(size)), &duplicate).ok());
  }

  // A pull of "big"'s "w" in slices of the given counts, from offset 0 on.
  PullPlan PlanBig(const std::vector<int64_t>& counts) {
    v1::PullRequest pull;
    pull.set_job_id("big");
    pull.set_epoch(1);
    int64_t offset = 0;
    for (int64_t count : counts) {
      v1::DenseSlice* s = pull.add_slices();
      s->set_table("w");
      s->set_offset(offset);
      s->set_count(count);
      offset += count;
    }
    absl::StatusOr<PullPlan> plan = store_.PlanPull(pull);
    EXPECT_TRUE(plan.ok()) << plan.status();
    EXPECT_TRUE(plan->Await(absl::InfinitePast()).ok());
    return *std::move(plan);
  }

  static void ExpectBigValues(const v1::PullResponse& r, int64_t count) {
    std::vector<float> got = Floats(r);
    ASSERT_EQ(static_cast<int64_t>(got.size()), count);
    int64_t wrong = 0;
    for (int64_t i = 0; i < count; ++i) {
      wrong += got[i] != -static_cast<float>(i % 1000 + 1);
    }
    EXPECT_EQ(wrong, 0);
  }

  TableStore store_;
};

TEST_F(PullAnswerTest, SmallPullIsOneCopiedSliceWithItsStaleness) {
  ASSERT_TRUE(store_.CreateTables(CreateTwoWorkerJob(v1::SSP, 2)).ok());
  bool duplicate = false;
  ASSERT_TRUE(store_.Push(PushToW("a", 0, 2.0f, 1), &duplicate).ok());
  absl::StatusOr<PullPlan> plan = store_.PlanPull(PullOfW(1));
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(AnswersByReference(*plan));
  Answer a = Write(*plan, /*staleness=*/2);
  EXPECT_EQ(a.slices.size(), 1u);
  EXPECT_EQ(Floats(a.response), std::vector<float>(4, -2.0f));
  EXPECT_EQ(a.response.staleness(), 2);
}

TEST_F(PullAnswerTest, BigDensePullGoesOutByReferenceOneSlicePerStripe) {
  const int64_t size = 3 * DenseShard::kStripeValues + 5;
  CreateBig(size);
  PullPlan plan = PlanBig({size});
  EXPECT_TRUE(AnswersByReference(plan));
  Answer a = Write(plan, /*staleness=*/0);
  // The head, one piece per stripe (the last 5 values copied); no tail for
  // staleness 0.
  EXPECT_EQ(a.slices.size(), 5u);
  EXPECT_EQ(a.response.staleness(), 0);
  ExpectBigValues(a.response, size);
}

TEST_F(PullAnswerTest, ManySmallDenseSlicesAreCopiedIntoOneBuffer) {
  const int64_t size = 2 * kMinReferencedValues;
  CreateBig(size);
  // On average fewer than kMinReferencedValues a slice.
  PullPlan plan =
      PlanBig({kMinReferencedValues + 10, 10, kMinReferencedValues - 20});
  EXPECT_FALSE(AnswersByReference(plan));
  Answer a = Write(plan, /*staleness=*/3);
  EXPECT_EQ(a.slices.size(), 1u);
  EXPECT_EQ(a.response.staleness(), 3);
  ExpectBigValues(a.response, size);
}

TEST_F(PullAnswerTest, PullWithSparseRowsIsCopied) {
  ASSERT_TRUE(store_.CreateTables(CreateSparseJob("s", "emb", 2)).ok());
  const uint64_t keys[3] = {5, 9, 1};
  v1::PullRequest pull;
  pull.set_job_id("s");
  pull.set_epoch(1);
  pull.add_sparse()->set_table("emb");
  pull.mutable_sparse(0)->set_keys(3);
  pull.set_keys(std::string(reinterpret_cast<const char*>(keys), 24));
  absl::StatusOr<PullPlan> plan = store_.PlanPull(pull);
  ASSERT_TRUE(plan.ok()) << plan.status();
  EXPECT_FALSE(AnswersByReference(*plan));
  Answer a = Write(*plan, /*staleness=*/0);
  EXPECT_EQ(a.slices.size(), 1u);
  EXPECT_EQ(Floats(a.response), std::vector<float>(6, 0.0f));
}

TEST_F(PullAnswerTest, FailedWaitIsTheAnswerAndWritesNothing) {
  ASSERT_TRUE(store_.CreateTables(CreateTwoWorkerJob(v1::BSP, 0)).ok());
  absl::StatusOr<PullPlan> plan = store_.PlanPull(PullOfW(1));
  ASSERT_TRUE(plan.ok()) << plan.status();
  grpc::ByteBuffer buffer;
  absl::Status s =
      AnswerPull(*plan, absl::AbortedError("tables dropped"), &buffer);
  EXPECT_EQ(s, absl::AbortedError("tables dropped"));
  EXPECT_FALSE(buffer.Valid());
}

}  // namespace
}  // namespace ps::server
