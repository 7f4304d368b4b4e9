#include "client/call_batch.h"

#include <time.h>

#include <atomic>
#include <thread>

#include "common/rpc.h"
#include "grpcpp/alarm.h"
#include "gtest/gtest.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::client {
namespace {

constexpr char kPull[] = "/ps.v1.ParameterServer/Pull";
constexpr char kPush[] = "/ps.v1.ParameterServer/Push";

// Pull answers "abcd" after `pull_delay`; Push always fails.
class FakeService final : public v1::ParameterServer::Service {
 public:
  explicit FakeService(absl::Duration pull_delay) : pull_delay_(pull_delay) {}

  grpc::Status Pull(grpc::ServerContext*, const v1::PullRequest*,
                    v1::PullResponse* response) override {
    absl::SleepFor(pull_delay_);
    response->set_values("abcd");
    return grpc::Status::OK;
  }
  grpc::Status Push(grpc::ServerContext*, const v1::PushRequest*,
                    v1::PushResponse*) override {
    return grpc::Status(grpc::StatusCode::FAILED_PRECONDITION, "stale");
  }

 private:
  const absl::Duration pull_delay_;
};

class CallBatchTest : public ::testing::Test {
 protected:
  void Start(absl::Duration pull_delay) {
    service_ = std::make_unique<FakeService>(pull_delay);
    auto running = StartServer("127.0.0.1", 0, {service_.get()});
    ASSERT_TRUE(running.ok()) << running.status();
    server_ = std::move(running->server);
    stub_ = std::make_unique<grpc::GenericStub>(MakeChannel(running->address));
  }
  void TearDown() override {
    if (server_) server_->Shutdown(DeadlineIn(absl::Seconds(1)));
  }

  const std::string pull_ = kPull;
  const std::string push_ = kPush;
  const grpc::ByteBuffer empty_request_{nullptr, 0};
  std::unique_ptr<FakeService> service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<grpc::GenericStub> stub_;
};

TEST_F(CallBatchTest, ReturnsOneStatusPerIndex) {
  Start(absl::ZeroDuration());
  std::atomic<int> answers{0};
  CallBatch batch(3, absl::Seconds(5), [&](int index, grpc::ByteBuffer* r) {
    EXPECT_EQ(index, 0);
    EXPECT_EQ(r->Length(), 6u);  // field tag, length, "abcd"
    ++answers;
    return absl::OkStatus();
  });
  batch.Start(0, stub_.get(), pull_, empty_request_);
  batch.Start(1, stub_.get(), push_, empty_request_);
  // Index 2 is never started.
  std::vector<absl::Status> results = batch.Wait();
  ASSERT_EQ(results.size(), 3u);
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_EQ(results[1].code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_TRUE(results[2].ok());
  EXPECT_EQ(answers.load(), 1);
}

TEST_F(CallBatchTest, ResponseHandlerErrorBecomesTheResult) {
  Start(absl::ZeroDuration());
  CallBatch batch(1, absl::Seconds(5), [](int, grpc::ByteBuffer*) {
    return absl::DataLossError("short");
  });
  batch.Start(0, stub_.get(), pull_, empty_request_);
  EXPECT_EQ(batch.Wait()[0].code(), absl::StatusCode::kDataLoss);
}

TEST_F(CallBatchTest, RpcsRunConcurrently) {
  Start(absl::Milliseconds(300));
  CallBatch batch(4, absl::Seconds(5), nullptr);
  const absl::Time start = absl::Now();
  for (int i = 0; i < 4; ++i)
    batch.Start(i, stub_.get(), pull_, empty_request_);
  for (const absl::Status& s : batch.Wait()) EXPECT_TRUE(s.ok()) << s;
  EXPECT_LT(absl::Now() - start, absl::Milliseconds(1100));
}

TEST_F(CallBatchTest, SlowServerGivesDeadlineExceededInTime) {
  Start(absl::Milliseconds(700));
  CallBatch batch(1, absl::Milliseconds(100), nullptr);
  const absl::Time start = absl::Now();
  batch.Start(0, stub_.get(), pull_, empty_request_);
  EXPECT_EQ(batch.Wait()[0].code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start,
            absl::Milliseconds(100) + CallBatch::kWaitGrace);
}

TEST_F(CallBatchTest, CancelFlagEndsTheWaitWithCancelled) {
  Start(absl::Seconds(3));
  std::atomic<bool> cancelled{false};
  CallBatch batch(2, absl::Seconds(30), nullptr, &cancelled);
  batch.Start(0, stub_.get(), pull_, empty_request_);
  batch.Start(1, stub_.get(), pull_, empty_request_);
  std::thread canceller([&] { cancelled.store(true); });
  const absl::Time start = absl::Now();
  std::vector<absl::Status> results = batch.Wait();
  canceller.join();
  EXPECT_LT(absl::Now() - start, CallBatch::kCancelPoll + absl::Seconds(1));
  for (const absl::Status& s : results) {
    EXPECT_EQ(s.code(), absl::StatusCode::kCancelled) << s;
  }
}

// The thread that takes over abandoned calls waits for them with a bound.
TEST(CallBatchDrainTest, DrainGivesUpAtItsDeadline) {
  grpc::CompletionQueue cq;
  grpc::Alarm never, soon;
  never.Set(&cq, DeadlineIn(absl::Hours(1)), reinterpret_cast<void*>(1));
  soon.Set(&cq, DeadlineIn(absl::ZeroDuration()), reinterpret_cast<void*>(2));
  const absl::Time start = absl::Now();
  EXPECT_EQ(CallBatch::Drain(&cq, 2, absl::Now() + absl::Milliseconds(200)), 1);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
  never.Cancel();  // comes back at once, cancelled
  EXPECT_EQ(CallBatch::Drain(&cq, 1, absl::Now() + absl::Seconds(5)), 0);
  cq.Shutdown();
  void* tag;
  bool ok;
  while (cq.Next(&tag, &ok)) {
  }
}

TEST_F(CallBatchTest, AnswersAreConsumedOnTheWaitingThread) {
  Start(absl::ZeroDuration());
  const std::thread::id waiter = std::this_thread::get_id();
  int answers = 0;  // no atomic needed: only this thread touches it
  CallBatch batch(3, absl::Seconds(5), [&](int, grpc::ByteBuffer*) {
    EXPECT_EQ(std::this_thread::get_id(), waiter);
    ++answers;
    return absl::OkStatus();
  });
  for (int i = 0; i < 3; ++i)
    batch.Start(i, stub_.get(), pull_, empty_request_);
  for (const absl::Status& s : batch.Wait()) EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(answers, 3);
}

// CPU time of the calling thread.
absl::Duration ThreadCpuTime() {
  timespec ts;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
  return absl::DurationFromTimespec(ts);
}

TEST_F(CallBatchTest, SpinningWaitPollsForTheSpinThenBlocks) {
  Start(absl::Milliseconds(300));  // far longer than the spin
  CallBatch batch(2, absl::Seconds(5), nullptr);
  batch.Start(0, stub_.get(), pull_, empty_request_);
  batch.Start(1, stub_.get(), push_, empty_request_);
  const absl::Duration cpu = ThreadCpuTime();
  std::vector<absl::Status> results = batch.Wait(absl::Milliseconds(50));
  const absl::Duration spent = ThreadCpuTime() - cpu;
  EXPECT_TRUE(results[0].ok()) << results[0];
  EXPECT_EQ(results[1].code(), absl::StatusCode::kFailedPrecondition);
  // Polling burns CPU for the spin (a blocking wait would use almost none),
  // and the rest of the 300 ms is spent blocked.
  EXPECT_GT(spent, absl::Milliseconds(5));
  EXPECT_LT(spent, absl::Milliseconds(200));
}

TEST_F(CallBatchTest, DestructorWaitsForUnwaitedRpcs) {
  Start(absl::Milliseconds(50));
  std::atomic<int> answers{0};
  {
    CallBatch batch(2, absl::Seconds(5), [&](int, grpc::ByteBuffer*) {
      ++answers;
      return absl::OkStatus();
    });
    batch.Start(0, stub_.get(), pull_, empty_request_);
    batch.Start(1, stub_.get(), pull_, empty_request_);
  }
  EXPECT_EQ(answers.load(), 2);
}

}  // namespace
}  // namespace ps::client
