#include "client/coordinator_client.h"

#include <memory>
#include <vector>

#include "common/rpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps::client {
namespace {

using ::testing::HasSubstr;

// Answers from a script; Barrier holds the call for its timeout_ms, and a
// job named "slow" is never answered.
class FakeCoordinator : public v1::Coordinator::Service {
 public:
  grpc::Status SubmitJob(grpc::ServerContext*,
                         const v1::SubmitJobRequest* request,
                         v1::SubmitJobResponse* response) override {
    if (request->spec().name().empty()) {
      return grpc::Status(grpc::StatusCode::INVALID_ARGUMENT, "name is empty");
    }
    response->set_job_id("job-" + request->spec().name());
    return grpc::Status::OK;
  }
  grpc::Status GetJob(grpc::ServerContext* ctx,
                      const v1::GetJobRequest* request, v1::Job* job) override {
    if (request->job_id() == "slow") {
      while (!ctx->IsCancelled()) absl::SleepFor(absl::Milliseconds(5));
      return grpc::Status::CANCELLED;
    }
    if (request->job_id() != "job-a") {
      return grpc::Status(grpc::StatusCode::NOT_FOUND, "no such job");
    }
    job->set_id("job-a");
    job->set_state(v1::RUNNING);
    return grpc::Status::OK;
  }
  grpc::Status ListJobs(grpc::ServerContext*, const v1::ListJobsRequest*,
                        v1::ListJobsResponse* response) override {
    response->add_jobs()->set_id("job-a");
    response->add_jobs()->set_id("job-b");
    return grpc::Status::OK;
  }
  grpc::Status CancelJob(grpc::ServerContext*, const v1::CancelJobRequest*,
                         v1::CancelJobResponse* response) override {
    response->set_state(v1::CANCELLED);
    return grpc::Status::OK;
  }
  grpc::Status GetCluster(grpc::ServerContext*, const v1::GetClusterRequest*,
                          v1::GetClusterResponse* response) override {
    response->add_members()->set_id("s-0");
    return grpc::Status::OK;
  }
  grpc::Status WatchJob(grpc::ServerContext*, const v1::WatchJobRequest*,
                        grpc::ServerWriter<v1::Job>* writer) override {
    for (v1::JobState state : {v1::PENDING, v1::RUNNING, v1::SUCCEEDED}) {
      v1::Job job;
      job.set_id("job-a");
      job.set_state(state);
      writer->Write(job);
    }
    return grpc::Status::OK;
  }
  grpc::Status ReportProgress(grpc::ServerContext*,
                              const v1::ReportProgressRequest* request,
                              v1::ReportProgressResponse*) override {
    progress_steps.push_back(request->step());
    return grpc::Status::OK;
  }
  grpc::Status Barrier(grpc::ServerContext*, const v1::BarrierRequest* request,
                       v1::BarrierResponse*) override {
    absl::SleepFor(absl::Milliseconds(request->timeout_ms()));
    return grpc::Status(grpc::StatusCode::DEADLINE_EXCEEDED, "rank 1 missing");
  }
  grpc::Status CompleteTask(grpc::ServerContext*,
                            const v1::CompleteTaskRequest* request,
                            v1::CompleteTaskResponse*) override {
    return request->failed() ? grpc::Status(grpc::StatusCode::NOT_FOUND, "")
                             : grpc::Status::OK;
  }

  std::vector<int64_t> progress_steps;  // read after the calls returned
};

class CoordinatorClientTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto running = StartServer("127.0.0.1", 0, {&service_});
    ASSERT_TRUE(running.ok()) << running.status();
    server_ = std::move(running->server);
    auto client = CoordinatorClient::Connect(
        running->address, {.rpc_timeout = absl::Milliseconds(500)});
    ASSERT_TRUE(client.ok()) << client.status();
    client_ = *std::move(client);
  }
  void TearDown() override { server_->Shutdown(DeadlineIn(absl::Seconds(1))); }

  FakeCoordinator service_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<CoordinatorClient> client_;
};

TEST_F(CoordinatorClientTest, JobCallsReturnTheCoordinatorsAnswers) {
  v1::JobSpec spec;
  spec.set_name("a");
  EXPECT_EQ(client_->SubmitJob(spec).value_or(""), "job-a");
  auto job = client_->GetJob("job-a");
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::RUNNING);
  auto jobs = client_->ListJobs();
  ASSERT_TRUE(jobs.ok()) << jobs.status();
  EXPECT_EQ(jobs->size(), 2u);
  EXPECT_EQ(client_->CancelJob("job-a").value_or(v1::RUNNING), v1::CANCELLED);
  auto cluster = client_->GetCluster();
  ASSERT_TRUE(cluster.ok()) << cluster.status();
  EXPECT_EQ(cluster->members(0).id(), "s-0");
}

TEST_F(CoordinatorClientTest, ErrorsKeepTheCoordinatorsCode) {
  auto submitted = client_->SubmitJob(v1::JobSpec());
  EXPECT_EQ(submitted.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(submitted.status().message(), HasSubstr("name is empty"));
  EXPECT_EQ(client_->GetJob("nope").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(CoordinatorClientTest, UnansweredCallEndsAtItsDeadline) {
  const absl::Time start = absl::Now();
  EXPECT_EQ(client_->GetJob("slow").status().code(),
            absl::StatusCode::kDeadlineExceeded);
  EXPECT_LT(absl::Now() - start, absl::Seconds(5));
}

TEST_F(CoordinatorClientTest, WatchSeesEveryVersionAndReturnsTheLast) {
  std::vector<v1::JobState> seen;
  grpc::ClientContext unset;
  grpc::ClientContext* last_context = &unset;
  int contexts = 0;
  auto job = client_->WatchJob(
      "job-a", absl::Seconds(5),
      [&](const v1::Job& j) { seen.push_back(j.state()); },
      [&](grpc::ClientContext* ctx) {
        ++contexts;
        last_context = ctx;
      });
  ASSERT_TRUE(job.ok()) << job.status();
  EXPECT_EQ(job->state(), v1::SUCCEEDED);
  EXPECT_EQ(seen, std::vector<v1::JobState>(
                      {v1::PENDING, v1::RUNNING, v1::SUCCEEDED}));
  EXPECT_EQ(contexts, 2);
  EXPECT_EQ(last_context, nullptr);
}

TEST_F(CoordinatorClientTest, BarrierGetsItsWaitOnTopOfTheDeadline) {
  v1::BarrierRequest request;
  request.set_timeout_ms(800);  // longer than rpc_timeout alone
  absl::Status s = client_->Barrier(request);
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded);
  EXPECT_THAT(s.message(), HasSubstr("rank 1 missing"));
}

TEST_F(CoordinatorClientTest, TaskCallsReachTheCoordinator) {
  v1::ReportProgressRequest progress;
  progress.set_step(7);
  EXPECT_TRUE(client_->ReportProgress(progress).ok());
  EXPECT_EQ(service_.progress_steps, std::vector<int64_t>({7}));
  v1::CompleteTaskRequest done;
  EXPECT_TRUE(client_->CompleteTask(done).ok());
  done.set_failed(true);
  EXPECT_EQ(client_->CompleteTask(done).code(), absl::StatusCode::kNotFound);
}

TEST(CoordinatorClientOptionsTest, NonPositiveTimeoutIsRefused) {
  auto client = CoordinatorClient::Connect(
      "127.0.0.1:1", {.rpc_timeout = absl::ZeroDuration()});
  EXPECT_EQ(client.status().code(), absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps::client
