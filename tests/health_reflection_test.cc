// Every daemon serves grpc.health.v1 and server reflection, so standard tools
// (grpcurl, grpc_health_probe, load balancers) work against it.
#include <signal.h>

#include "absl/synchronization/notification.h"
#include "common/rpc.h"
#include "grpcpp/generic/generic_stub.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

std::string ToString(const grpc::ByteBuffer& buffer) {
  std::vector<grpc::Slice> slices;
  std::string out;
  if (!buffer.Dump(&slices).ok()) return out;
  for (const grpc::Slice& s : slices) {
    out.append(reinterpret_cast<const char*>(s.begin()), s.size());
  }
  return out;
}

// Unary call with raw bytes; returns the reply's bytes.
grpc::Status Call(const std::string& address, const std::string& method,
                  const std::string& request_bytes, std::string* reply) {
  grpc::GenericStub stub(MakeChannel(address));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(5)));
  grpc::Slice slice(request_bytes.data(), request_bytes.size());
  grpc::ByteBuffer request(&slice, 1), response;
  absl::Notification done;
  grpc::Status status;
  stub.UnaryCall(&ctx, method, grpc::StubOptions(), &request, &response,
                 [&](grpc::Status s) {
                   status = s;
                   done.Notify();
                 });
  done.WaitForNotificationWithTimeout(absl::Seconds(10));
  *reply = ToString(response);
  return status;
}

// One request on the reflection stream: list_services (field 7, empty).
std::string ListServices(const std::string& address) {
  grpc::GenericStub stub(MakeChannel(address));
  grpc::CompletionQueue cq;
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(absl::Seconds(5)));
  auto call = stub.PrepareCall(
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo",
      &cq);
  void* tag;
  bool ok;
  auto step = [&](int want) {
    return cq.Next(&tag, &ok) && ok && tag == reinterpret_cast<void*>(want);
  };
  call->StartCall(reinterpret_cast<void*>(1));
  if (!step(1)) return "";
  const std::string list_services("\x3a\x00", 2);
  grpc::Slice slice(list_services.data(), list_services.size());
  grpc::ByteBuffer request(&slice, 1), response;
  call->Write(request, reinterpret_cast<void*>(2));
  if (!step(2)) return "";
  call->Read(&response, reinterpret_cast<void*>(3));
  if (!step(3)) return "";
  call->WritesDone(reinterpret_cast<void*>(4));
  step(4);
  grpc::Status status;
  call->Finish(&status, reinterpret_cast<void*>(5));
  step(5);
  cq.Shutdown();
  while (cq.Next(&tag, &ok)) {
  }
  return ToString(response);
}

// grpc.health.v1.HealthCheckRequest{service: name}.
std::string HealthRequest(const std::string& service) {
  return std::string("\x0a", 1) + static_cast<char>(service.size()) + service;
}

// HealthCheckResponse.status: SERVING is "\x08\x01", NOT_SERVING "\x08\x02".
const std::string kServing("\x08\x01", 2);
const std::string kNotServing("\x08\x02", 2);

// A Watch stream on one service's health: each Next() is the next status.
class HealthWatch {
 public:
  HealthWatch(const std::string& address, const std::string& service)
      : stub_(MakeChannel(address)) {
    ctx_.set_deadline(DeadlineIn(absl::Seconds(20)));
    call_ = stub_.PrepareCall(&ctx_, "/grpc.health.v1.Health/Watch", &cq_);
    call_->StartCall(Tag(1));
    if (!Step(1)) return;
    const std::string request = HealthRequest(service);
    grpc::Slice slice(request.data(), request.size());
    grpc::ByteBuffer buffer(&slice, 1);
    call_->WriteLast(buffer, grpc::WriteOptions(), Tag(2));
    started_ = Step(2);
  }
  ~HealthWatch() {
    ctx_.TryCancel();
    grpc::Status status;
    call_->Finish(&status, Tag(9));
    cq_.Shutdown();
    void* tag;
    bool ok;
    while (cq_.Next(&tag, &ok)) {
    }
  }
  // The next status the server sends, or "" when the stream ended.
  std::string Next() {
    if (!started_) return "";
    grpc::ByteBuffer response;
    call_->Read(&response, Tag(3));
    return Step(3) ? ToString(response) : "";
  }

 private:
  static void* Tag(intptr_t n) { return reinterpret_cast<void*>(n); }
  bool Step(intptr_t want) {
    void* tag;
    bool ok;
    return cq_.Next(&tag, &ok) && ok && tag == Tag(want);
  }
  grpc::GenericStub stub_;
  grpc::CompletionQueue cq_;
  grpc::ClientContext ctx_;
  std::unique_ptr<grpc::GenericClientAsyncReaderWriter> call_;
  bool started_ = false;
};

// Probes and load balancers ask about one service: each daemon answers for
// its own, and says NOT_SERVING as soon as it starts shutting down.
TEST_F(ClusterTest, HealthPerServiceTurnsNotServingOnShutdown) {
  StartCluster(1, 1);
  grpc::ClientContext ctx;
  v1::GetClusterResponse cluster;
  ASSERT_TRUE(cluster_->coordinator()->GetCluster(&ctx, {}, &cluster).ok());
  std::string server;
  for (const v1::Member& m : cluster.members()) {
    if (m.role() == v1::SERVER) server = m.address();
  }
  ASSERT_FALSE(server.empty());
  const std::string coordinator = cluster_->coordinator_address();
  std::string reply;
  for (const auto& [address, service] :
       {std::pair{coordinator, "ps.v1.Coordinator"},
        std::pair{server, "ps.v1.ParameterServer"}}) {
    grpc::Status s = Call(address, "/grpc.health.v1.Health/Check",
                          HealthRequest(service), &reply);
    ASSERT_TRUE(s.ok()) << service << ": " << s.error_message();
    EXPECT_EQ(reply, kServing) << service;
  }
  EXPECT_EQ(Call(server, "/grpc.health.v1.Health/Check",
                 HealthRequest("ps.v1.Coordinator"), &reply)
                .error_code(),
            grpc::StatusCode::NOT_FOUND);

  HealthWatch watch(server, "ps.v1.ParameterServer");
  ASSERT_EQ(watch.Next(), kServing);
  ASSERT_EQ(::kill(cluster_->server_process(0)->pid(), SIGTERM), 0);
  EXPECT_EQ(watch.Next(), kNotServing);
}

TEST_F(ClusterTest, EveryDaemonServesHealthAndReflection) {
  StartCluster(1, 1);
  grpc::ClientContext ctx;
  v1::GetClusterResponse cluster;
  ASSERT_TRUE(cluster_->coordinator()->GetCluster(&ctx, {}, &cluster).ok());
  std::vector<std::pair<std::string, std::string>> daemons = {
      {cluster_->coordinator_address(), "ps.v1.Coordinator"}};
  for (const auto& m : cluster.members()) {
    daemons.push_back({m.address(), m.role() == v1::SERVER
                                        ? "ps.v1.ParameterServer"
                                        : "grpc.health.v1.Health"});
  }
  ASSERT_EQ(daemons.size(), 3u);
  for (const auto& [address, service] : daemons) {
    std::string reply;
    grpc::Status s = Call(address, "/grpc.health.v1.Health/Check", "", &reply);
    EXPECT_TRUE(s.ok()) << address << ": " << s.error_message();
    EXPECT_EQ(reply, std::string("\x08\x01", 2))
        << address << " is not SERVING";
    const std::string services = ListServices(address);
    EXPECT_NE(services.find(service), std::string::npos) << address;
    EXPECT_NE(services.find("grpc.reflection"), std::string::npos) << address;
  }
}

}  // namespace
}  // namespace ps::testing
