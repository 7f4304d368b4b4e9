// Every daemon serves grpc.health.v1 and server reflection, so standard tools
// (grpcurl, grpc_health_probe, load balancers) work against it.
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
      &ctx, "/grpc.reflection.v1alpha.ServerReflection/ServerReflectionInfo", &cq);
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

TEST_F(ClusterTest, EveryDaemonServesHealthAndReflection) {
  StartCluster(1, 1);
  grpc::ClientContext ctx;
  v1::GetClusterResponse cluster;
  ASSERT_TRUE(cluster_->coordinator()->GetCluster(&ctx, {}, &cluster).ok());
  std::vector<std::pair<std::string, std::string>> daemons = {
      {cluster_->coordinator_address(), "ps.v1.Coordinator"}};
  for (const auto& m : cluster.members()) {
    daemons.push_back({m.address(), m.role() == v1::SERVER ? "ps.v1.ParameterServer"
                                                          : "grpc.health.v1.Health"});
  }
  ASSERT_EQ(daemons.size(), 3u);
  for (const auto& [address, service] : daemons) {
    std::string reply;
    grpc::Status s = Call(address, "/grpc.health.v1.Health/Check", "", &reply);
    EXPECT_TRUE(s.ok()) << address << ": " << s.error_message();
    EXPECT_EQ(reply, std::string("\x08\x01", 2)) << address << " is not SERVING";
    const std::string services = ListServices(address);
    EXPECT_NE(services.find(service), std::string::npos) << address;
    EXPECT_NE(services.find("grpc.reflection"), std::string::npos) << address;
  }
}

}  // namespace
}  // namespace ps::testing
