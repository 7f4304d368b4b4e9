#include "client/ps_client.h"

#include <memory>
#include <vector>

#include "client/in_process_servers.h"
#include "common/partition.h"
#include "common/rpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/ps/v1/ps.grpc.pb.h"
#include "server/initializer.h"

namespace ps::client {
namespace {

using ::testing::AnyOf;
using ::testing::HasSubstr;

constexpr char kJob[] = "job-1";
constexpr int64_t kBig = 100000;  // split over both servers at 50000
constexpr int64_t kTiny = 10;     // whole on one server

v1::TableDef Table(const std::string& name, int64_t size,
                   v1::Initializer::Kind init) {
  v1::TableDef t;
  t.set_name(name);
  t.set_size(size);
  t.mutable_init()->set_kind(init);
  t.mutable_init()->set_scale(1);
  t.mutable_init()->set_seed(42);
  t.mutable_optimizer()->set_type(v1::SGD);
  t.mutable_optimizer()->set_learning_rate(1);
  return t;
}

// Two real in-process servers holding one job with a split and a tiny table.
class PsClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto servers = InProcessServers::Start(2);
    ASSERT_TRUE(servers.ok()) << servers.status();
    servers_ = *std::move(servers);
    tables_ = {Table("big", kBig, v1::Initializer::UNIFORM),
               Table("tiny", kTiny, v1::Initializer::ZEROS)};
    auto map = BuildPartitionMap(7, servers_->endpoints(), tables_);
    ASSERT_TRUE(map.ok()) << map.status();
    map_ = *map;
    CreateJob(kJob, v1::ASP, {});
  }

  void CreateJob(const std::string& job_id, v1::Consistency consistency,
                 const std::vector<std::string>& worker_ids) {
    v1::CreateTablesRequest request;
    request.set_job_id(job_id);
    request.set_consistency(consistency);
    for (const auto& w : worker_ids) request.add_worker_ids(w);
    for (const auto& t : tables_) *request.add_tables() = t;
    absl::Status s = servers_->CreateTables(request, map_);
    ASSERT_TRUE(s.ok()) << s;
  }

  std::unique_ptr<PsClient> NewClient(PsClientOptions options = {},
                                      const v1::PartitionMap* map = nullptr,
                                      const std::string& job_id = kJob) {
    auto client = PsClient::Create(job_id, map ? *map : map_, options);
    EXPECT_TRUE(client.ok()) << client.status();
    return client.ok() ? *std::move(client) : nullptr;
  }

  // Both tables, back to back in one buffer.
  static std::vector<TableRef> AllRefs() {
    return {{"big", 0, kBig, 0}, {"tiny", 0, kTiny, kBig}};
  }

  static std::vector<float> InitialValues() {
    std::vector<float> out(kBig + kTiny, 0.0f);
    server::FillInitial(Table("big", kBig, v1::Initializer::UNIFORM).init(), 0,
                        kBig, out.data());
    return out;
  }

  std::unique_ptr<InProcessServers> servers_;
  std::vector<v1::TableDef> tables_;
  v1::PartitionMap map_;
};

TEST_F(PsClientTest, PullReturnsInitialValuesFromBothServers) {
  auto client = NewClient();
  std::vector<float> buffer(kBig + kTiny, -1.0f);
  ASSERT_TRUE(client->Pull(AllRefs(), buffer.data()).ok());
  EXPECT_EQ(buffer, InitialValues());
}

TEST_F(PsClientTest, PushThenPullAppliesSgdAcrossServerBoundary) {
  auto client = NewClient({.worker_id = "w0"});
  // Values [49990, 50010) straddle the two servers' ranges.
  const std::vector<TableRef> refs = {{"big", 49990, 20, 0},
                                      {"tiny", 3, 2, 20}};
  std::vector<float> grads(22);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = i + 1.0f;
  ASSERT_TRUE(client->Push(refs, grads.data()).ok());

  std::vector<float> expected = InitialValues();
  for (int i = 0; i < 20; ++i) expected[49990 + i] -= grads[i];
  for (int i = 0; i < 2; ++i) expected[kBig + 3 + i] -= grads[20 + i];
  std::vector<float> buffer(kBig + kTiny);
  ASSERT_TRUE(client->Pull(AllRefs(), buffer.data()).ok());
  EXPECT_EQ(buffer, expected);
}

// A cancelled caller (a task told to stop) sends nothing more.
TEST_F(PsClientTest, CancelledClientSendsNoPush) {
  std::atomic<bool> cancelled{true};
  auto client = NewClient({.worker_id = "w0", .cancelled = &cancelled});
  std::vector<float> grads(kBig + kTiny, 1.0f);
  absl::Status s = client->Push(AllRefs(), grads.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  cancelled = false;
  std::vector<float> buffer(kBig + kTiny);
  ASSERT_TRUE(client->Pull(AllRefs(), buffer.data()).ok());
  EXPECT_EQ(buffer, InitialValues());
}

TEST_F(PsClientTest, RepeatedPushesWithWorkerIdAreEachApplied) {
  auto client = NewClient({.worker_id = "w0"});
  const std::vector<TableRef> refs = {{"tiny", 0, 1, 0}};
  const float grad = 0.5f;
  for (int i = 0; i < 3; ++i) ASSERT_TRUE(client->Push(refs, &grad).ok());
  float value = 0;
  ASSERT_TRUE(client->Pull(refs, &value).ok());
  EXPECT_EQ(value, -1.5f);
}

TEST_F(PsClientTest, SmallChunksGiveIdenticalResults) {
  auto whole = NewClient({.worker_id = "w0"});
  auto chunked = NewClient({.worker_id = "w1", .chunk_bytes = 4096});
  std::vector<float> grads(kBig + kTiny);
  for (size_t i = 0; i < grads.size(); ++i) grads[i] = (i % 7) * 0.25f;
  ASSERT_TRUE(chunked->Push(AllRefs(), grads.data()).ok());

  std::vector<float> expected = InitialValues();
  for (size_t i = 0; i < expected.size(); ++i) expected[i] -= grads[i];
  std::vector<float> from_whole(kBig + kTiny), from_chunked(kBig + kTiny);
  ASSERT_TRUE(whole->Pull(AllRefs(), from_whole.data()).ok());
  ASSERT_TRUE(chunked->Pull(AllRefs(), from_chunked.data()).ok());
  EXPECT_EQ(from_whole, expected);
  EXPECT_EQ(from_chunked, expected);
}

TEST_F(PsClientTest, ClocksOfChunkedPushesCompleteOnEveryServer) {
  // BSP with one worker: a pull at clock c reads once clock c - 1 is applied,
  // which each server sees only when all its chunks of that push arrived.
  CreateJob("bsp", v1::BSP, {"w0"});
  auto client = NewClient(
      {.worker_id = "w0", .rpc_timeout = absl::Seconds(2), .chunk_bytes = 4096},
      nullptr, "bsp");
  std::vector<float> grads(kBig + kTiny, 1.0f), buffer(kBig + kTiny);
  int64_t staleness = -1;
  for (int64_t clock = 0; clock < 2; ++clock) {
    ASSERT_TRUE(client->Pull(AllRefs(), buffer.data(), clock, &staleness).ok());
    EXPECT_EQ(staleness, 0);
    ASSERT_TRUE(client->Push(AllRefs(), grads.data(), clock).ok());
  }
  ASSERT_TRUE(client->Pull(AllRefs(), buffer.data(), 2, &staleness).ok());
  std::vector<float> expected = InitialValues();
  for (float& v : expected) v -= 2.0f;
  EXPECT_EQ(buffer, expected);
}

// Worker replacement: a second client pushing under the same worker id with
// clock-derived sequence numbers sends each request of a step under the
// first client's numbers, so a step the first had pushed is not applied
// again, and the next step is.
TEST_F(PsClientTest, ClockNumberedStepSentAgainByAnotherClientIsAppliedOnce) {
  CreateJob("resent", v1::SSP, {"w0"});
  const PsClientOptions options = {.worker_id = "w0",
                                   .seq_numbering = SeqNumbering::kByClock,
                                   .rpc_timeout = absl::Seconds(5),
                                   .chunk_bytes = 4096};
  auto first = NewClient(options, nullptr, "resent");
  std::vector<float> grads(kBig + kTiny, 1.0f), buffer(kBig + kTiny);
  ASSERT_TRUE(first->Push(AllRefs(), grads.data(), 0).ok());
  ASSERT_TRUE(first->Push(AllRefs(), grads.data(), 1).ok());
  auto second = NewClient(options, nullptr, "resent");
  ASSERT_TRUE(second->Push(AllRefs(), grads.data(), 0).ok());  // duplicates
  ASSERT_TRUE(second->Push(AllRefs(), grads.data(), 1).ok());  // duplicates
  ASSERT_TRUE(second->Push(AllRefs(), grads.data(), 2).ok());  // new
  int64_t staleness = -1;
  ASSERT_TRUE(second->Pull(AllRefs(), buffer.data(), 3, &staleness).ok());
  std::vector<float> expected = InitialValues();
  for (float& v : expected) v -= 3.0f;
  EXPECT_EQ(buffer, expected);
}

// A step whose push reached one server and not the other (the worker died
// in between; here the second server is unreachable for the first client):
// sent again in full by another client, it is applied on the second server
// only, and the worker's clock lines up on both.
TEST_F(PsClientTest, HalfAppliedStepSentAgainIsCompletedOnlyWhereItWasMissing) {
  CreateJob("half", v1::BSP, {"w0"});
  const PsClientOptions options = {.worker_id = "w0",
                                   .seq_numbering = SeqNumbering::kByClock,
                                   .rpc_timeout = absl::Seconds(5)};
  v1::PartitionMap cut = map_;
  cut.mutable_servers(1)->set_address("127.0.0.1:1");  // refuses
  auto first = NewClient(options, nullptr, "half");
  auto cut_off = NewClient(options, &cut, "half");
  std::vector<float> grads(kBig + kTiny, 1.0f), buffer(kBig + kTiny);
  ASSERT_TRUE(first->Push(AllRefs(), grads.data(), 0).ok());
  EXPECT_EQ(cut_off->Push(AllRefs(), grads.data(), 1).code(),
            absl::StatusCode::kUnavailable);
  // Half applied: clock 1 on the first server (values [0, 50000) of "big"),
  // not on the second ([50000, kBig)).
  ASSERT_TRUE(first->Pull(AllRefs(), buffer.data()).ok());
  EXPECT_EQ(buffer[0], InitialValues()[0] - 2.0f);
  EXPECT_EQ(buffer[kBig - 1], InitialValues()[kBig - 1] - 1.0f);
  auto second = NewClient(options, nullptr, "half");
  ASSERT_TRUE(second->Push(AllRefs(), grads.data(), 1).ok());
  int64_t staleness = -1;
  ASSERT_TRUE(second->Pull(AllRefs(), buffer.data(), 2, &staleness).ok());
  std::vector<float> expected = InitialValues();
  for (float& v : expected) v -= 2.0f;
  EXPECT_EQ(buffer, expected);
}

TEST_F(PsClientTest, PullAheadOfOtherWorkersTimesOut) {
  CreateJob("bsp2", v1::BSP, {"w0", "w1"});
  auto client =
      NewClient({.worker_id = "w0", .rpc_timeout = absl::Milliseconds(300)},
                nullptr, "bsp2");
  std::vector<float> grads(kBig + kTiny, 1.0f), buffer(kBig + kTiny);
  ASSERT_TRUE(client->Push(AllRefs(), grads.data(), 0).ok());
  int64_t staleness = 0;
  absl::Status s = client->Pull(AllRefs(), buffer.data(), 1, &staleness);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_EQ(client->Pull(AllRefs(), buffer.data(), -1, &staleness).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(PsClientTest, StaleEpochIsFailedPreconditionNamingServer) {
  v1::PartitionMap stale = map_;
  stale.set_epoch(map_.epoch() + 1);
  auto client = NewClient({}, &stale);
  std::vector<float> buffer(kBig + kTiny);
  absl::Status s = client->Pull(AllRefs(), buffer.data());
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition) << s;
  EXPECT_THAT(s.message(), HasSubstr("job-1: pull from server s-"));
  EXPECT_THAT(s.message(), HasSubstr(" at 127.0.0.1:"));
  EXPECT_THAT(s.message(), HasSubstr("epoch"));
}

TEST_F(PsClientTest, BadRefsFailBeforeAnyRpc) {
  // No server listens on these addresses: an RPC would be UNAVAILABLE.
  v1::PartitionMap unreachable = map_;
  for (auto& s : *unreachable.mutable_servers()) s.set_address("127.0.0.1:1");
  auto client = NewClient({}, &unreachable);
  std::vector<float> buffer(kBig + kTiny);
  EXPECT_EQ(client->Pull({{"big", kBig - 10, 20, 0}}, buffer.data()).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(client->Push({{"big", -1, 2, 0}}, buffer.data()).code(),
            absl::StatusCode::kOutOfRange);
  EXPECT_EQ(client->Pull({{"nope", 0, 1, 0}}, buffer.data()).code(),
            absl::StatusCode::kNotFound);
  EXPECT_EQ(client->Pull({{"big", 0, -1, 0}}, buffer.data()).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_TRUE(client->Pull({{"big", 0, 0, 0}}, buffer.data()).ok());
}

TEST_F(PsClientTest, StoppedServerFailsWithinDeadlineNamingIt) {
  const std::string address = map_.servers(1).address();
  servers_->Stop(1);
  const absl::Duration timeout = absl::Milliseconds(300);
  auto client = NewClient({.rpc_timeout = timeout, .max_attempts = 2});
  std::vector<float> buffer(kBig + kTiny);
  const absl::Time start = absl::Now();
  absl::Status s = client->Pull(AllRefs(), buffer.data());
  const absl::Duration took = absl::Now() - start;
  EXPECT_THAT(s.code(), AnyOf(absl::StatusCode::kUnavailable,
                              absl::StatusCode::kDeadlineExceeded))
      << s;
  EXPECT_THAT(s.message(), HasSubstr("server s-1 at " + address));
  EXPECT_LT(took, 2 * (timeout + CallBatch::kWaitGrace) + absl::Seconds(1));
}

TEST_F(PsClientTest, CreateRejectsBadOptionsAndMaps) {
  EXPECT_EQ(PsClient::Create(kJob, map_, {.chunk_bytes = 2}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PsClient::Create(kJob, map_, {.max_attempts = 0}).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(PsClient::Create("", map_, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::PartitionMap empty;
  EXPECT_EQ(PsClient::Create(kJob, empty, {}).status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps::client
