// PsService over a real in-process gRPC server: the raw data-plane methods
// against ordinary protobuf clients, malformed bytes, and pulls that wait.
#include "server/ps_service.h"

#include <cmath>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "absl/synchronization/notification.h"
#include "common/metrics_testing.h"
#include "common/rpc.h"
#include "gmock/gmock.h"
#include "grpcpp/generic/generic_stub.h"
#include "gtest/gtest.h"
#include "server/dense_shard.h"
#include "server/test_jobs.h"

namespace ps::server {
namespace {

using ::testing::HasSubstr;

// The only push of `worker`'s clock `clock`, numbered clock + 1.
v1::PushRequest PushOf(const std::string& worker, int64_t clock, float g) {
  return PushToW(worker, clock, g, static_cast<uint64_t>(clock) + 1);
}

class PsServiceTest : public ::testing::Test {
 protected:
  void Start(v1::Consistency mode, int staleness,
             int max_waiting_pulls = kMaxWaitingPulls,
             absl::Duration stream_stall_limit = kStreamStallLimit) {
    ASSERT_TRUE(store_.CreateTables(CreateTwoWorkerJob(mode, staleness)).ok());
    service_ = std::make_unique<PsService>(&store_, max_waiting_pulls,
                                           stream_stall_limit);
    auto running = StartServer("127.0.0.1", 0, {service_.get()});
    ASSERT_TRUE(running.ok()) << running.status();
    server_ = std::move(running->server);
    channel_ = MakeChannel(running->address);
    stub_ = v1::ParameterServer::NewStub(channel_);
  }
  void TearDown() override {
    if (server_) server_->Shutdown(DeadlineIn(absl::Seconds(1)));
  }

  grpc::Status Push(const v1::PushRequest& request, bool* duplicate) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
    v1::PushResponse response;
    grpc::Status s = stub_->Push(&ctx, request, &response);
    *duplicate = response.duplicate();
    return s;
  }

  grpc::Status Pull(const v1::PullRequest& request, absl::Duration timeout,
                    v1::PullResponse* response) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(timeout));
    return stub_->Pull(&ctx, request, response);
  }

  // The first value of "w" pulled at `clock`; NaN when the pull fails.
  float PulledFirstValue(int64_t clock) {
    v1::PullResponse response;
    grpc::Status s = Pull(PullOfW(clock), absl::Seconds(5), &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    return s.ok() ? FirstValue(response) : std::nanf("");
  }

  // Pulls sent without waiting for their answers.
  struct AsyncPulls {
    explicit AsyncPulls(int n) : responses(n), statuses(n), done(n) {}
    v1::PullRequest request;
    std::vector<std::unique_ptr<grpc::ClientContext>> contexts;
    std::vector<v1::PullResponse> responses;
    std::vector<grpc::Status> statuses;
    std::vector<absl::Notification> done;
  };
  // Sends `n` pulls of "w" at `clock`, each with a deadline in 20 s.
  std::unique_ptr<AsyncPulls> SendPulls(int n, int64_t clock) {
    auto pulls = std::make_unique<AsyncPulls>(n);
    pulls->request = PullOfW(clock);
    for (int i = 0; i < n; ++i) {
      auto& ctx =
          pulls->contexts.emplace_back(std::make_unique<grpc::ClientContext>());
      ctx->set_deadline(DeadlineIn(absl::Seconds(20)));
      AsyncPulls* p = pulls.get();
      stub_->async()->Pull(ctx.get(), &p->request, &p->responses[i],
                           [p, i](grpc::Status s) {
                             p->statuses[i] = s;
                             p->done[i].Notify();
                           });
    }
    return pulls;
  }

  // Sends `bytes` as the request of `method` and returns the status.
  grpc::Status RawCall(const std::string& method, const std::string& bytes) {
    grpc::GenericStub generic(channel_);
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
    grpc::Slice slice(bytes);
    grpc::ByteBuffer request(&slice, 1), response;
    absl::Notification done;
    grpc::Status status;
    generic.UnaryCall(&ctx, "/ps.v1.ParameterServer/" + method,
                      grpc::StubOptions(), &request, &response,
                      [&](grpc::Status s) {
                        status = s;
                        done.Notify();
                      });
    done.WaitForNotification();
    return status;
  }

  TableStore store_;
  std::unique_ptr<PsService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ParameterServer::Stub> stub_;
};

TEST_F(PsServiceTest, ProtobufClientsPushAndPull) {
  Start(v1::SSP, 1);
  bool duplicate = true;
  ASSERT_TRUE(Push(PushOf("a", 0, 2.0f), &duplicate).ok());
  EXPECT_FALSE(duplicate);
  // A push for a's closed clock 0 that is not a retry is out of order.
  v1::PushRequest late = PushOf("a", 0, 2.0f);
  late.set_seq(7);
  EXPECT_EQ(Push(late, &duplicate).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  v1::PullResponse response;
  ASSERT_TRUE(Pull(PullOfW(1), absl::Seconds(5), &response).ok());
  EXPECT_EQ(response.values().size(), 16u);
  EXPECT_EQ(FirstValue(response), -2.0f);
  EXPECT_EQ(response.staleness(), 1);  // b has finished no clock yet
}

TEST_F(PsServiceTest, RetriedPushIsReportedDuplicate) {
  Start(v1::ASP, 0);
  // Two pushes make a's clock 0, so a retry of the first is still in order
  // and is caught by de-duplication.
  v1::PushRequest p = PushOf("a", 0, 1.0f);
  p.set_clock_pushes(2);
  bool duplicate = true;
  ASSERT_TRUE(Push(p, &duplicate).ok());
  EXPECT_FALSE(duplicate);
  ASSERT_TRUE(Push(p, &duplicate).ok());
  EXPECT_TRUE(duplicate);
  EXPECT_EQ(PulledFirstValue(0), -1.0f);
}

// The first answer of a push can be lost (a timeout, a dropped connection):
// its retry must be recognised even though the push closed its clock.
TEST_F(PsServiceTest, RetryAfterItsClockClosedIsDuplicate) {
  Start(v1::BSP, 0);
  bool duplicate = true;
  ASSERT_TRUE(Push(PushOf("a", 0, 1.0f), &duplicate).ok());
  EXPECT_FALSE(duplicate);
  grpc::Status retry = Push(PushOf("a", 0, 1.0f), &duplicate);
  ASSERT_TRUE(retry.ok()) << retry.error_message();
  EXPECT_TRUE(duplicate);
  // b's push completes clock 0: the summed gradient is applied once.
  ASSERT_TRUE(Push(PushOf("b", 0, 3.0f), &duplicate).ok());
  EXPECT_EQ(PulledFirstValue(1), -2.0f);  // -(1 + 3) / 2
}

TEST_F(PsServiceTest,
       ConcurrentCopiesOfOnePushApplyOnceAndTheRestAreDuplicates) {
  Start(v1::SSP, 1);
  constexpr int kThreads = 8;
  std::vector<grpc::Status> status(kThreads);
  std::vector<char> duplicate(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      bool d = false;
      status[t] = Push(PushOf("a", 0, 1.0f), &d);
      duplicate[t] = d;
    });
  }
  for (std::thread& t : threads) t.join();
  int applied = 0;
  for (int t = 0; t < kThreads; ++t) {
    EXPECT_TRUE(status[t].ok()) << t << ": " << status[t].error_message();
    applied += status[t].ok() && !duplicate[t];
  }
  EXPECT_EQ(applied, 1);
  EXPECT_EQ(PulledFirstValue(0), -1.0f);
}

TEST_F(PsServiceTest, RefusedPushIsNotRecordedSoItCanBeSentAgain) {
  Start(v1::SSP, 1);
  bool duplicate = true;
  v1::PushRequest early = PushOf("a", 1, 1.0f);  // a has not finished clock 0
  EXPECT_EQ(Push(early, &duplicate).error_code(),
            grpc::StatusCode::FAILED_PRECONDITION);
  ASSERT_TRUE(Push(PushOf("a", 0, 1.0f), &duplicate).ok());
  grpc::Status again = Push(early, &duplicate);
  ASSERT_TRUE(again.ok()) << again.error_message();
  EXPECT_FALSE(duplicate);
}

// A ScanRows client that set no deadline and reads nothing must not pin a
// server thread for as long as it lives: the stalled write is cancelled.
TEST_F(PsServiceTest, ScanWhoseClientStopsReadingIsCancelled) {
  constexpr int64_t kKeys = 1 << 20;
  constexpr int kDim =
      16;  // 64 MiB of rows: far more than the transport buffers
  const v1::CreateTablesRequest create = CreateSparseJob("scan", "e", kDim);
  ASSERT_TRUE(store_.CreateTables(create).ok());
  std::vector<uint64_t> keys(kKeys);
  for (int64_t k = 0; k < kKeys; ++k) keys[k] = k + 1;
  v1::PushRequest push;
  push.set_job_id("scan");
  push.set_epoch(1);
  v1::SparseSlice* rows = push.add_sparse();
  rows->set_table("e");
  rows->set_keys(kKeys);
  push.set_keys(keys.data(), keys.size() * sizeof(uint64_t));
  push.set_values(std::string(kKeys * kDim * sizeof(float), '\0'));
  bool duplicate = false;
  ASSERT_TRUE(store_.Push(push, &duplicate).ok());

  Start(v1::ASP, 0, kMaxWaitingPulls, absl::Milliseconds(300));
  v1::ScanRowsRequest scan;
  scan.set_job_id("scan");
  scan.set_epoch(1);
  scan.set_table("e");
  grpc::ClientContext ctx;  // no deadline, on purpose
  std::unique_ptr<grpc::ClientReader<v1::RowBlock>> reader =
      stub_->ScanRows(&ctx, scan);
  const absl::Time give_up = absl::Now() + absl::Seconds(20);
  while (service_->streams().cancelled() == 0 && absl::Now() < give_up) {
    absl::SleepFor(absl::Milliseconds(20));  // polling the counter, bounded
  }
  EXPECT_EQ(service_->streams().cancelled(), 1);
  if (service_->streams().cancelled() == 0) ctx.TryCancel();
  v1::RowBlock block;
  int64_t read = 0;
  while (reader->Read(&block)) read += block.keys().size() / sizeof(uint64_t);
  EXPECT_LT(read, kKeys);
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::CANCELLED);
}

TEST_F(PsServiceTest, MalformedBytesAreInvalidArgumentAndChangeNothing) {
  Start(v1::ASP, 0);
  const std::string junk("\xff\xff\xff\xff\x0f garbage", 13);
  const std::string push = PushOf("", 0, 1.0f).SerializeAsString();
  for (const std::string& bytes :
       {junk, push.substr(0, push.size() - 3), std::string("\x32\x7f", 2)}) {
    EXPECT_EQ(RawCall("Push", bytes).error_code(),
              grpc::StatusCode::INVALID_ARGUMENT);
  }
  EXPECT_EQ(RawCall("Pull", junk).error_code(),
            grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(PulledFirstValue(0), 0.0f);
}

TEST_F(PsServiceTest, PullsUnderConcurrentPushesAreWholeSnapshots) {
  // A big dense pull's values leave the server by reference to the table
  // (copied on write), small pieces as copies: a push landing while a
  // response is on its way must not show through, and every piece must
  // land in its place. Push k adds -g[i] to value i, so a pull taken at one
  // instant sees -k * g[i] throughout.
  Start(v1::ASP, 0);
  const int64_t size = 3 * DenseShard::kStripeValues + 5;
  ASSERT_TRUE(store_.CreateTables(CreateOneTableJob("big", size)).ok());

  constexpr int kPushes = 30;
  const std::vector<float> g = RampGradient(size);
  const v1::PushRequest push = PushAllOfW("big", g);
  std::thread pusher([&] {
    for (int i = 0; i < kPushes; ++i) {
      bool duplicate = false;
      grpc::Status s = Push(push, &duplicate);
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
  });
  // Two slices: three stripes' worth by reference, then 100 values that
  // straddle the last stripe boundary (pieces of 95 and 5: copies).
  v1::PullRequest pull;
  pull.set_job_id("big");
  pull.set_epoch(1);
  v1::DenseSlice* big = pull.add_slices();
  big->set_table("w");
  big->set_count(size - 100);
  v1::DenseSlice* tail = pull.add_slices();
  tail->set_table("w");
  tail->set_offset(size - 100);
  tail->set_count(100);
  float last = 0.0f;
  for (int r = 0; r < kPushes; ++r) {
    v1::PullResponse response;
    grpc::Status s = Pull(pull, absl::Seconds(10), &response);
    EXPECT_TRUE(s.ok()) << s.error_message();
    // (No ASSERT while the pusher runs: it must be joined.)
    if (!s.ok() || response.values().size() != size * sizeof(float)) {
      ADD_FAILURE() << "pull " << r << " answered " << response.values().size()
                    << " bytes";
      break;
    }
    std::vector<float> got(size);
    std::memcpy(got.data(), response.values().data(), size * sizeof(float));
    const float pushes = -got[0];  // g[0] is 1
    EXPECT_GE(pushes, -last) << "pull " << r << " went back in time";
    EXPECT_LE(pushes, kPushes);
    last = -pushes;
    int64_t wrong = 0;
    for (int64_t i = 0; i < size; ++i) wrong += got[i] != -pushes * g[i];
    EXPECT_EQ(wrong, 0) << "pull " << r
                        << " mixes two pushes' values or misplaces a piece";
  }
  pusher.join();
  v1::PullResponse final_values;
  ASSERT_TRUE(Pull(pull, absl::Seconds(10), &final_values).ok());
  float v = 0.0f;
  std::memcpy(&v, final_values.values().data() + (size - 1) * sizeof(float),
              sizeof(float));
  EXPECT_EQ(v, -kPushes * g[size - 1]);
}

TEST_F(PsServiceTest, SparseRowsTravelWithDenseValuesBothWays) {
  Start(v1::ASP, 0);
  // Job "s": dense "w" of 2 values and sparse "emb" (dim 3), zeros, SGD lr
  // 1; one partition, owned here.
  v1::CreateTablesRequest create;
  create.set_job_id("s");
  create.set_epoch(1);
  for (const char* name : {"w", "emb"}) {
    v1::TableDef* t = create.add_tables();
    t->set_name(name);
    t->mutable_init()->set_kind(v1::Initializer::ZEROS);
    t->mutable_optimizer()->set_type(v1::SGD);
    t->mutable_optimizer()->set_learning_rate(1.0f);
  }
  create.mutable_tables(0)->set_size(2);
  create.mutable_tables(1)->set_kind(v1::SPARSE);
  create.mutable_tables(1)->set_dim(3);
  create.add_ranges()->set_table("w");
  create.mutable_ranges(0)->set_end(2);
  create.set_sparse_partitions(1);
  create.add_owned_partitions(0);
  ASSERT_TRUE(store_.CreateTables(create).ok());

  const uint64_t keys[2] = {42, 7};
  const std::string key_bytes(reinterpret_cast<const char*>(keys), 16);
  v1::PushRequest push;
  push.set_job_id("s");
  push.set_epoch(1);
  push.add_slices()->set_table("w");
  push.mutable_slices(0)->set_count(2);
  push.add_sparse()->set_table("emb");
  push.mutable_sparse(0)->set_keys(2);
  push.set_keys(key_bytes);
  const std::vector<float> grads = {1, 2, 3, 3, 3, 4, 4, 4};
  push.set_values(std::string(reinterpret_cast<const char*>(grads.data()),
                              grads.size() * 4));
  bool duplicate;
  grpc::Status s = Push(push, &duplicate);
  ASSERT_TRUE(s.ok()) << s.error_message();

  v1::PullRequest pull;
  pull.set_job_id("s");
  pull.set_epoch(1);
  *pull.mutable_slices() = push.slices();
  *pull.mutable_sparse() = push.sparse();
  pull.set_keys(key_bytes);
  v1::PullResponse response;
  s = Pull(pull, absl::Seconds(5), &response);
  ASSERT_TRUE(s.ok()) << s.error_message();
  std::vector<float> got(response.values().size() / 4);
  std::memcpy(got.data(), response.values().data(), got.size() * 4);
  EXPECT_EQ(got, std::vector<float>({-1, -2, -3, -3, -3, -4, -4, -4}));

  // A sparse slice naming the dense table, over the wire.
  push.mutable_sparse(0)->set_table("w");
  s = Push(push, &duplicate);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_NE(s.error_message().find("table w is DENSE"), std::string::npos)
      << s.error_message();
}

TEST_F(PsServiceTest, ManyWaitingPullsDoNotHoldUpThePushesTheyWaitFor) {
  Start(v1::SSP, 0);
  // More waiting pulls than gRPC has callback threads: if they blocked
  // those threads, the pushes below could never be served.
  constexpr int kPulls = 12;
  std::unique_ptr<AsyncPulls> pulls = SendPulls(kPulls, 1);
  absl::SleepFor(absl::Milliseconds(200));  // let them start waiting
  bool duplicate;
  ASSERT_TRUE(Push(PushOf("a", 0, 1.0f), &duplicate).ok());
  ASSERT_TRUE(Push(PushOf("b", 0, 1.0f), &duplicate).ok());
  for (int i = 0; i < kPulls; ++i) {
    ASSERT_TRUE(
        pulls->done[i].WaitForNotificationWithTimeout(absl::Seconds(10)));
    EXPECT_TRUE(pulls->statuses[i].ok()) << pulls->statuses[i].error_message();
    EXPECT_EQ(FirstValue(pulls->responses[i]), -2.0f);
  }
}

TEST_F(PsServiceTest, PullsBeyondTheWaitingCapAreResourceExhausted) {
  Start(v1::BSP, 0, /*max_waiting_pulls=*/3);
  const v1::PullRequest request = PullOfW(1);
  std::unique_ptr<AsyncPulls> pulls = SendPulls(3, 1);
  absl::SleepFor(absl::Milliseconds(300));  // let them start waiting
  v1::PullResponse response;
  grpc::Status s = Pull(request, absl::Seconds(5), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::RESOURCE_EXHAUSTED);
  EXPECT_THAT(s.error_message(), HasSubstr("more than 3 pulls"));
  // The waiting ones are served once the clock completes, and then the cap
  // has room again.
  bool duplicate;
  ASSERT_TRUE(Push(PushOf("a", 0, 1.0f), &duplicate).ok());
  ASSERT_TRUE(Push(PushOf("b", 0, 1.0f), &duplicate).ok());
  for (int i = 0; i < 3; ++i) {
    ASSERT_TRUE(
        pulls->done[i].WaitForNotificationWithTimeout(absl::Seconds(10)));
    EXPECT_TRUE(pulls->statuses[i].ok()) << pulls->statuses[i].error_message();
  }
  EXPECT_TRUE(Pull(request, absl::Seconds(5), &response).ok());
}

TEST_F(PsServiceTest, WaitingPullIsReleasedOnTheServerAtItsDeadline) {
  // Room for one waiting pull: a second one is turned away unless the
  // server let go of the first when its deadline passed.
  Start(v1::BSP, 0, /*max_waiting_pulls=*/1);
  v1::PullResponse response;
  grpc::Status s = Pull(PullOfW(1), absl::Milliseconds(300), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED);
  // The server's wait ends at the same deadline, checked every 100 ms.
  absl::SleepFor(absl::Milliseconds(400));
  s = Pull(PullOfW(1), absl::Milliseconds(300), &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::DEADLINE_EXCEEDED)
      << s.error_message();
}

TEST_F(PsServiceTest, ShutdownIsNotHeldUpByAWaitingPull) {
  Start(v1::BSP, 0);
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(60)));
  const v1::PullRequest request = PullOfW(1);
  v1::PullResponse response;
  absl::Notification done;
  stub_->async()->Pull(&ctx, &request, &response,
                       [&](grpc::Status) { done.Notify(); });
  absl::SleepFor(absl::Milliseconds(200));
  const absl::Time start = absl::Now();
  server_->Shutdown(DeadlineIn(absl::Milliseconds(100)));
  server_.reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  EXPECT_TRUE(done.WaitForNotificationWithTimeout(absl::Seconds(10)));
}

}  // namespace
}  // namespace ps::server

namespace ps::server {
namespace {

// Found by tests/security_test's every-method matrix: an empty
// LoadCheckpointRequest indexed an empty list of groups and crashed the
// server.
TEST_F(PsServiceTest, EmptyLoadCheckpointIsRefusedNamingTheGroup) {
  Start(v1::ASP, 0);
  for (int group : {0, -1, 5}) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
    v1::LoadCheckpointRequest request;
    request.set_group(group);
    v1::LoadCheckpointResponse response;
    const grpc::Status s = stub_->LoadCheckpoint(&ctx, request, &response);
    EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT) << group;
    EXPECT_NE(s.error_message().find("group: "), std::string::npos)
        << s.error_message();
  }
  grpc::ClientContext ctx;
  v1::ServerStatusResponse status;
  EXPECT_TRUE(stub_->ServerStatus(&ctx, {}, &status).ok());  // still up
}

TEST_F(PsServiceTest, LoadCheckpointWithoutTheGroupsFileIsRefused) {
  Start(v1::ASP, 0);
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(10)));
  v1::LoadCheckpointRequest request;
  request.set_job_id("j");
  request.set_epoch(1);
  request.set_group(0);
  for (v1::PartitionMap* map :
       {request.mutable_old_map(), request.mutable_map()}) {
    map->add_groups();
    map->add_groups();
  }
  for (int i = 0; i < 2; ++i) {  // two files, both of group 1
    v1::CheckpointFileRef* f = request.add_files();
    f->set_group(1);
    f->set_path("/nonexistent/group-1.snap");
  }
  v1::LoadCheckpointResponse response;
  const grpc::Status s = stub_->LoadCheckpoint(&ctx, request, &response);
  EXPECT_EQ(s.error_code(), grpc::StatusCode::INVALID_ARGUMENT);
  EXPECT_EQ(s.error_message(), "files: none for group 0");
}

// With metrics, PsService records its data-plane calls itself (StartServer
// runs no interceptor on them): each once, with its code and bytes, and
// the push apply and pull wait times.
TEST(PsServiceMetricsTest, DataPlaneCallsAreRecordedOnceByTheService) {
  Metrics metrics;
  TableStore store;
  ASSERT_TRUE(store.CreateTables(CreateTwoWorkerJob(v1::ASP, 0)).ok());
  ServerMetrics server_metrics(&metrics, &store);
  PsService service(&store, kMaxWaitingPulls, kStreamStallLimit, {},
                    &server_metrics);
  auto running = StartServer(
      "127.0.0.1", 0, {&service}, {v1::ParameterServer::service_full_name()},
      {},
      {.registry = &metrics.registry(),
       .raw_methods = RawDataPlaneMethods(),
       .self_recorded = RawDataPlaneMethods()});
  ASSERT_TRUE(running.ok()) << running.status();
  auto stub = v1::ParameterServer::NewStub(MakeChannel(running->address));
  const v1::PushRequest push = PushOf("a", 0, 1.0f);
  {
    grpc::ClientContext ctx;
    v1::PushResponse response;
    ASSERT_TRUE(stub->Push(&ctx, push, &response).ok());
  }
  v1::PullResponse pulled;
  {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->Pull(&ctx, PullOfW(0), &pulled).ok());
  }
  {
    v1::PullRequest unknown = PullOfW(0);
    unknown.set_job_id("no-such-job");
    grpc::ClientContext ctx;
    v1::PullResponse response;
    EXPECT_EQ(stub->Pull(&ctx, unknown, &response).error_code(),
              grpc::StatusCode::NOT_FOUND);
  }
  auto method = [](const std::string& name) {
    return std::map<std::string, std::string>{
        {"service", "ps.v1.ParameterServer"}, {"method", name}};
  };
  auto coded = [&](const std::string& name, const std::string& code) {
    auto labels = method(name);
    labels["code"] = code;
    return labels;
  };
  EXPECT_EQ(MetricValue(metrics, "ps_rpc_server_handled_total",
                        coded("Push", "OK")),
            1);
  EXPECT_EQ(MetricValue(metrics, "ps_rpc_server_handled_total",
                        coded("Pull", "OK")),
            1);
  EXPECT_EQ(MetricValue(metrics, "ps_rpc_server_handled_total",
                        coded("Pull", "NOT_FOUND")),
            1);
  EXPECT_EQ(MetricValue(metrics, "ps_rpc_server_handling_seconds",
                        method("Pull")),
            2);
  EXPECT_EQ(MetricValue(metrics, "ps_rpc_server_received_bytes_total",
                        method("Push")),
            push.ByteSizeLong());
  EXPECT_EQ(MetricValue(metrics, "ps_rpc_server_sent_bytes_total",
                        method("Pull")),
            pulled.ByteSizeLong());
  EXPECT_EQ(MetricValue(metrics, "ps_server_push_apply_seconds"), 1);
  EXPECT_EQ(MetricValue(metrics, "ps_server_pull_wait_seconds"), 1);
  running->server->Shutdown(DeadlineIn(absl::Seconds(1)));
}

}  // namespace
}  // namespace ps::server
