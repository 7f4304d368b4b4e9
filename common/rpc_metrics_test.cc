#include "common/rpc_metrics.h"

#include <map>
#include <memory>
#include <string>

#include "common/metrics.h"
#include "common/rpc.h"
#include "absl/synchronization/notification.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/health_check_service_interface.h"
#include "common/metrics_testing.h"
#include "gtest/gtest.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps {
namespace {

using Labels = std::map<std::string, std::string>;

// A unary protobuf method, a server stream and a client stream.
class FakeCoordinator final : public v1::Coordinator::Service {
 public:
  grpc::Status GetCluster(grpc::ServerContext*, const v1::GetClusterRequest*,
                          v1::GetClusterResponse* response) override {
    response->add_members()->set_id("server-1");
    return grpc::Status::OK;
  }
  grpc::Status WatchJob(grpc::ServerContext*,
                        const v1::WatchJobRequest* request,
                        grpc::ServerWriter<v1::Job>* writer) override {
    v1::Job job;
    job.set_id(request->job_id());
    writer->Write(job);
    writer->Write(job);
    return grpc::Status(grpc::StatusCode::NOT_FOUND, "gone");
  }
};

// A raw callback method, as PsService's data plane.
class FakeServer final
    : public v1::ParameterServer::WithRawCallbackMethod_Pull<
          v1::ParameterServer::Service> {
 public:
  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* ctx,
                                 const grpc::ByteBuffer*,
                                 grpc::ByteBuffer* response) override {
    v1::PullResponse answer;
    answer.set_values(std::string(1000, 'x'));
    grpc::Slice slice(answer.SerializeAsString());
    *response = grpc::ByteBuffer(&slice, 1);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }
  grpc::Status InstallSnapshot(grpc::ServerContext*,
                               grpc::ServerReader<v1::SnapshotChunk>* reader,
                               v1::InstallSnapshotResponse*) override {
    v1::SnapshotChunk chunk;
    while (reader->Read(&chunk)) {
    }
    return grpc::Status::OK;
  }
};

class RpcMetricsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto started = StartServer(
        "127.0.0.1", 0, {&coordinator_, &server_},
        {v1::Coordinator::service_full_name(),
         v1::ParameterServer::service_full_name()},
        {},
        {.registry = &metrics_.registry(),
         .raw_methods = {"/ps.v1.ParameterServer/Pull"}});
    ASSERT_TRUE(started.ok()) << started.status();
    server_running_ = *std::move(started);
    channel_ = MakeChannel(server_running_.address);
  }
  void TearDown() override { server_running_.server->Shutdown(); }

  Labels Of(const std::string& service, const std::string& method) {
    return {{"service", service}, {"method", method}};
  }
  Labels Of(const std::string& service, const std::string& method,
            const std::string& code) {
    return {{"service", service}, {"method", method}, {"code", code}};
  }

  Metrics metrics_;
  FakeCoordinator coordinator_;
  FakeServer server_;
  RunningServer server_running_;
  std::shared_ptr<grpc::Channel> channel_;
};

TEST_F(RpcMetricsTest, UnaryProtobufCallIsCountedTimedAndSized) {
  auto stub = v1::Coordinator::NewStub(channel_);
  v1::GetClusterResponse response;
  for (int i = 0; i < 3; ++i) {
    grpc::ClientContext ctx;
    ASSERT_TRUE(stub->GetCluster(&ctx, {}, &response).ok());
  }
  const std::string c = "ps.v1.Coordinator";
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_handled_total",
                  Of(c, "GetCluster", "OK")),
            3);
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_handling_seconds",
                  Of(c, "GetCluster")),
            3);
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_received_bytes_total",
                  Of(c, "GetCluster")),
            0);  // an empty request
  EXPECT_EQ(
      MetricValue(metrics_, "ps_rpc_server_sent_bytes_total", Of(c, "GetCluster")),
      3.0 * response.ByteSizeLong());
  // A method never called has no series yet.
  EXPECT_EQ(
      MetricValue(metrics_, "ps_rpc_server_handling_seconds", Of(c, "Barrier")), -1);
}

TEST_F(RpcMetricsTest, ServerStreamCountsEveryMessageAndTheFinalCode) {
  auto stub = v1::Coordinator::NewStub(channel_);
  grpc::ClientContext ctx;
  v1::WatchJobRequest request;
  request.set_job_id("job-7");
  auto reader = stub->WatchJob(&ctx, request);
  v1::Job job;
  int read = 0;
  while (reader->Read(&job)) ++read;
  EXPECT_EQ(reader->Finish().error_code(), grpc::StatusCode::NOT_FOUND);
  ASSERT_EQ(read, 2);
  const std::string c = "ps.v1.Coordinator";
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_handled_total",
                  Of(c, "WatchJob", "NOT_FOUND")),
            1);
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_received_bytes_total",
                  Of(c, "WatchJob")),
            request.ByteSizeLong());
  EXPECT_EQ(
      MetricValue(metrics_, "ps_rpc_server_sent_bytes_total", Of(c, "WatchJob")),
      2.0 * job.ByteSizeLong());
}

TEST_F(RpcMetricsTest, ClientStreamCountsEveryRequestMessage) {
  auto stub = v1::ParameterServer::NewStub(channel_);
  grpc::ClientContext ctx;
  v1::InstallSnapshotResponse response;
  auto writer = stub->InstallSnapshot(&ctx, &response);
  v1::SnapshotChunk chunk;
  chunk.set_data(std::string(500, 'd'));
  ASSERT_TRUE(writer->Write(chunk));
  ASSERT_TRUE(writer->Write(chunk));
  writer->WritesDone();
  ASSERT_TRUE(writer->Finish().ok());
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_received_bytes_total",
                  Of("ps.v1.ParameterServer", "InstallSnapshot")),
            2.0 * chunk.ByteSizeLong());
}

TEST_F(RpcMetricsTest, RawCallbackMethodIsMeasuredInBytes) {
  auto stub = v1::ParameterServer::NewStub(channel_);
  v1::PullRequest request;
  request.set_job_id("job-1");
  request.set_keys(std::string(800, 'k'));
  grpc::ClientContext ctx;
  v1::PullResponse response;
  ASSERT_TRUE(stub->Pull(&ctx, request, &response).ok());
  const std::string s = "ps.v1.ParameterServer";
  EXPECT_EQ(
      MetricValue(metrics_, "ps_rpc_server_handled_total", Of(s, "Pull", "OK")), 1);
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_received_bytes_total",
                  Of(s, "Pull")),
            request.ByteSizeLong());
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_sent_bytes_total", Of(s, "Pull")),
            response.ByteSizeLong());
}

TEST_F(RpcMetricsTest, UnimplementedMethodOfAServiceIsLabelledByItsName) {
  auto stub = v1::Coordinator::NewStub(channel_);
  grpc::ClientContext ctx;
  v1::RegisterResponse response;
  EXPECT_EQ(stub->Register(&ctx, {}, &response).error_code(),
            grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_handled_total",
                  Of("ps.v1.Coordinator", "Register", "UNIMPLEMENTED")),
            1);
}

TEST_F(RpcMetricsTest, HealthCheckIsCounted) {
  grpc::GenericStub generic(channel_);
  grpc::ClientContext ctx;
  grpc::ByteBuffer empty_request, response;
  grpc::Slice nothing("");
  empty_request = grpc::ByteBuffer(&nothing, 1);
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&ctx, "/grpc.health.v1.Health/Check", {}, &empty_request,
                    &response, [&](grpc::Status s) {
                      status = s;
                      done.Notify();
                    });
  done.WaitForNotification();
  EXPECT_TRUE(status.ok()) << status.error_message();
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_handled_total",
                  Of("grpc.health.v1.Health", "Check", "OK")),
            1);
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_received_bytes_total",
                  Of("grpc.health.v1.Health", "Check")),
            0);
}

TEST_F(RpcMetricsTest, PathOfNoServiceIsCountedAsUnknown) {
  grpc::GenericStub generic(channel_);
  grpc::ClientContext ctx;
  grpc::Slice nothing("");
  grpc::ByteBuffer request(&nothing, 1), response;
  absl::Notification done;
  grpc::Status status;
  generic.UnaryCall(&ctx, "/no.Such/Method", {}, &request, &response,
                    [&](grpc::Status s) {
                      status = s;
                      done.Notify();
                    });
  done.WaitForNotification();
  EXPECT_EQ(status.error_code(), grpc::StatusCode::UNIMPLEMENTED);
  EXPECT_EQ(MetricValue(metrics_, "ps_rpc_server_handled_total",
                  Of("unknown", "unknown", "UNIMPLEMENTED")),
            1);
}

// Records its Pull itself, as PsService does for the data plane.
class SelfRecordingServer final
    : public v1::ParameterServer::WithRawCallbackMethod_Pull<
          v1::ParameterServer::Service> {
 public:
  explicit SelfRecordingServer(prometheus::Registry* registry)
      : recorder_(registry, "ps.v1.ParameterServer", "Pull") {}
  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* ctx,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer*) override {
    recorder_.Record(grpc::StatusCode::ABORTED, 0.001,
                     static_cast<int64_t>(request->Length()), 0);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status(grpc::StatusCode::ABORTED, "recorded"));
    return reactor;
  }

 private:
  RpcMethodRecorder recorder_;
};

TEST(RpcMetricsSelfRecordedTest, InterceptorLeavesTheMethodToItsService) {
  Metrics metrics;
  SelfRecordingServer service(&metrics.registry());
  const std::string pull = "/ps.v1.ParameterServer/Pull";
  auto server = StartServer(
      "127.0.0.1", 0, {&service}, {v1::ParameterServer::service_full_name()},
      {},
      {.registry = &metrics.registry(),
       .raw_methods = {pull},
       .self_recorded = {pull}});
  ASSERT_TRUE(server.ok()) << server.status();
  auto stub = v1::ParameterServer::NewStub(MakeChannel(server->address));
  v1::PullRequest request;
  request.set_keys("12345678");
  grpc::ClientContext ctx;
  v1::PullResponse response;
  EXPECT_EQ(stub->Pull(&ctx, request, &response).error_code(),
            grpc::StatusCode::ABORTED);
  const std::map<std::string, std::string> labels = {
      {"service", "ps.v1.ParameterServer"}, {"method", "Pull"}};
  auto with_code = labels;
  with_code["code"] = "ABORTED";
  // Once: by the service, not again by an interceptor.
  EXPECT_EQ(MetricValue(metrics, "ps_rpc_server_handled_total", with_code), 1);
  EXPECT_EQ(MetricValue(metrics, "ps_rpc_server_received_bytes_total", labels),
            request.ByteSizeLong());
  server->server->Shutdown();
}

TEST(RpcMetricsCreateTest, UnknownServiceOrRawMethodIsRefused) {
  Metrics metrics;
  EXPECT_EQ(RpcServerMetrics::Create(&metrics.registry(),
                                     {.services = {"ps.v1.NoSuchService"}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
  absl::Status s =
      RpcServerMetrics::Create(
          &metrics.registry(),
          {.services = {"ps.v1.Coordinator"},
           .raw_methods = {"/ps.v1.ParameterServer/Pull"}})
          .status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("/ps.v1.ParameterServer/Pull"),
            absl::string_view::npos)
      << s;
  EXPECT_EQ(RpcServerMetrics::Create(
                &metrics.registry(),
                {.services = {"ps.v1.Coordinator"},
                 .self_recorded = {"/ps.v1.Coordinator/NoSuchMethod"}})
                .status()
                .code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps
