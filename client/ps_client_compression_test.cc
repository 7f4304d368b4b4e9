// Compressed pushes and pulls (PsClientOptions::compression) against real
// in-process servers: what the servers apply is what the codec sent, error
// feedback sends what a push left out later, and pulls come back rounded.
#include <cmath>
#include <memory>
#include <random>
#include <vector>

#include "client/in_process_servers.h"
#include "client/ps_client.h"
#include "common/value_codec.h"
#include "gtest/gtest.h"

namespace ps::client {
namespace {

constexpr char kJob[] = "job-1";
constexpr int64_t kValues = 100000;  // split over both servers

class PsClientCompressionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto servers = InProcessServers::Start(2);
    ASSERT_TRUE(servers.ok()) << servers.status();
    servers_ = *std::move(servers);
    auto map = servers_->CreateJob(
        kJob, 1, {TestTable("dense", kValues), TestTable("rows", 0, 8)});
    ASSERT_TRUE(map.ok()) << map.status();
    map_ = *map;
    reader_ = NewClient({});
    initial_ = Values();
  }

  std::unique_ptr<PsClient> NewClient(const v1::CompressionSpec& spec,
                                      const std::string& worker = "w0") {
    PsClientOptions options{.worker_id = worker};
    options.compression = spec;
    auto client = PsClient::Create(kJob, map_, options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // The servers' values, read as float32.
  std::vector<float> Values() {
    std::vector<float> out(kValues);
    EXPECT_TRUE(reader_->Pull(Refs(), out.data()).ok());
    return out;
  }
  // What the pushes so far applied (SGD at rate 1: minus the gradients).
  std::vector<float> Applied() {
    std::vector<float> now = Values(), out(kValues);
    for (int64_t i = 0; i < kValues; ++i) out[i] = initial_[i] - now[i];
    return out;
  }
  static std::vector<TableRef> Refs() { return {{"dense", 0, kValues, 0}}; }

  static std::vector<float> Gradient(uint64_t seed) {
    std::mt19937_64 rng(seed);
    std::normal_distribution<float> d(0.0f, 0.01f);
    std::vector<float> g(kValues);
    for (float& x : g) x = d(rng);
    return g;
  }

  std::unique_ptr<InProcessServers> servers_;
  v1::PartitionMap map_;
  std::unique_ptr<PsClient> reader_;
  std::vector<float> initial_;
};

TEST_F(PsClientCompressionTest, Float16PushIsAppliedWithinItsRounding) {
  for (v1::ValueCodec codec : {v1::FLOAT16, v1::BFLOAT16}) {
    SCOPED_TRACE(CodecName(codec));
    v1::CompressionSpec spec;
    spec.set_push(codec);
    initial_ = Values();
    const std::vector<float> g = Gradient(1);
    ASSERT_TRUE(NewClient(spec)->Push(Refs(), g.data()).ok());
    const std::vector<float> applied = Applied();
    const float relative = codec == v1::FLOAT16 ? 0x1p-11f : 0x1p-8f;
    for (int64_t i = 0; i < kValues; ++i) {
      // The subtraction on the server rounds too (values are ~1, updates
      // ~0.01): allow one float32 ulp of the value.
      ASSERT_NEAR(applied[i], g[i],
                  std::fabs(g[i]) * relative + 2 * 0x1p-24f)
          << i;
    }
  }
}

TEST_F(PsClientCompressionTest, Int8PushIsAppliedWithinHalfAStep) {
  v1::CompressionSpec spec;
  spec.set_push(v1::INT8);
  spec.set_error_feedback(false);
  const std::vector<float> g = Gradient(2);
  ASSERT_TRUE(NewClient(spec)->Push(Refs(), g.data()).ok());
  const std::vector<float> applied = Applied();
  float max_abs = 0;
  for (float x : g) max_abs = std::max(max_abs, std::fabs(x));
  for (int64_t i = 0; i < kValues; ++i) {
    ASSERT_NEAR(applied[i], g[i], max_abs / 127 / 2 + 2 * 0x1p-24f) << i;
  }
}

// Without error feedback top-k sends the same few values every time; with
// it, what was left out accumulates until it is sent, so that after many
// pushes nearly every value has moved and the total applied is close to the
// total pushed.
TEST_F(PsClientCompressionTest, TopKErrorFeedbackSendsWhatWasLeftOut) {
  const std::vector<float> g = Gradient(3);
  constexpr int kPushes = 400;
  auto moved = [&](const std::vector<float>& applied) {
    int64_t n = 0;
    for (float x : applied) n += x != 0;
    return n;
  };
  auto relative_error = [&](const std::vector<float>& applied) {
    double err = 0, norm = 0;
    for (int64_t i = 0; i < kValues; ++i) {
      err += std::pow(applied[i] - kPushes * g[i], 2);
      norm += std::pow(kPushes * g[i], 2);
    }
    return std::sqrt(err / norm);
  };
  v1::CompressionSpec spec;
  spec.set_push(v1::TOPK);
  spec.set_topk_ratio(0.01f);
  spec.set_error_feedback(false);
  {
    auto client = NewClient(spec, "plain");
    for (int i = 0; i < kPushes; ++i) {
      ASSERT_TRUE(client->Push(Refs(), g.data()).ok());
    }
  }
  std::vector<float> applied = Applied();
  EXPECT_EQ(moved(applied), kValues / 100);  // 1% of each server's half
  EXPECT_GT(relative_error(applied), 0.8);

  SetUp();  // fresh tables
  spec.clear_error_feedback();  // on by default for TOPK
  {
    auto client = NewClient(spec, "feedback");
    for (int i = 0; i < kPushes; ++i) {
      ASSERT_TRUE(client->Push(Refs(), g.data()).ok());
    }
  }
  applied = Applied();
  EXPECT_GT(moved(applied), kValues * 8 / 10);
  EXPECT_LT(relative_error(applied), 0.25);
}

TEST_F(PsClientCompressionTest, PullsComeBackRounded) {
  for (v1::ValueCodec codec : {v1::FLOAT16, v1::BFLOAT16}) {
    SCOPED_TRACE(CodecName(codec));
    v1::CompressionSpec spec;
    spec.set_pull(codec);
    std::vector<float> pulled(kValues);
    ASSERT_TRUE(NewClient(spec)->Pull(Refs(), pulled.data()).ok());
    for (int64_t i = 0; i < kValues; ++i) {
      const float expected = codec == v1::FLOAT16
                                 ? HalfToFloat(FloatToHalf(initial_[i]))
                                 : Bfloat16ToFloat(FloatToBfloat16(initial_[i]));
      ASSERT_EQ(pulled[i], expected) << i;
    }
  }
}

TEST_F(PsClientCompressionTest, SparseRowsTravelBySparsePushAndPull) {
  v1::CompressionSpec spec;
  spec.set_sparse_push(v1::FLOAT16);
  spec.set_pull(v1::FLOAT16);
  auto client = NewClient(spec);
  const std::vector<uint64_t> keys = {3, 77, 1u << 30, 12345678901ull};
  std::vector<float> before(keys.size() * 8), after(keys.size() * 8);
  auto reader_rows = [&](std::vector<float>* rows) {
    ASSERT_TRUE(reader_
                    ->Pull({}, nullptr, {{"rows", keys, rows->data()}},
                           /*clock=*/0, nullptr)
                    .ok());
  };
  reader_rows(&before);
  std::vector<float> grads(keys.size() * 8);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = 0.001f * (i + 1);
  ASSERT_TRUE(client->Push({}, nullptr, {{"rows", keys, grads.data()}}, 0).ok());
  reader_rows(&after);
  for (size_t i = 0; i < grads.size(); ++i) {
    EXPECT_NEAR(before[i] - after[i], grads[i], grads[i] * 0x1p-11f + 1e-7f)
        << i;
  }
  std::vector<float> pulled(keys.size() * 8);
  ASSERT_TRUE(client
                  ->Pull({}, nullptr, {{"rows", keys, pulled.data()}}, 0,
                         nullptr)
                  .ok());
  for (size_t i = 0; i < pulled.size(); ++i) {
    EXPECT_EQ(pulled[i], HalfToFloat(FloatToHalf(after[i]))) << i;
  }
}

TEST_F(PsClientCompressionTest, ServerRefusesMalformedEncodings) {
  v1::PushRequest request;
  request.set_job_id(kJob);
  request.set_epoch(1);
  v1::DenseSlice* slice = request.add_slices();
  slice->set_table("dense");
  slice->set_offset(0);
  slice->set_count(10);
  request.set_codec(v1::TOPK);
  request.set_values("\x0a\0\0\0\x05\0\0\0", 8);  // k = 5 but no entries
  bool duplicate = false;
  absl::Status s = servers_->store(0)->Push(request, &duplicate);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("malformed TOPK"), std::string::npos) << s;
  // A header claiming more values than the slices hold.
  std::string huge;
  EncodeValues(v1::INT8, {}, std::vector<float>(11, 1.0f).data(), 11, &huge);
  request.set_codec(v1::INT8);
  request.set_values(huge);
  s = servers_->store(0)->Push(request, &duplicate);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("room for 10"), std::string::npos) << s;
  // A pull asking for a codec pulls cannot use.
  v1::PullRequest pull;
  pull.set_job_id(kJob);
  pull.set_epoch(1);
  *pull.add_slices() = *slice;
  pull.set_codec(v1::TOPK);
  v1::PullResponse response;
  s = servers_->store(0)->Pull(pull, absl::InfiniteFuture(), &response);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("allowed for pulls"), std::string::npos) << s;
  EXPECT_EQ(Applied(), std::vector<float>(kValues, 0.0f));
}

}  // namespace
}  // namespace ps::client
