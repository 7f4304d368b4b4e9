#include "common/rpc.h"

#include "absl/strings/str_cat.h"
#include "common/authz_policy.h"
#include "common/rpc_metrics.h"
#include "grpcpp/ext/proto_server_reflection_plugin.h"
#include "grpcpp/health_check_service_interface.h"
#include "grpcpp/security/auth_metadata_processor.h"

namespace ps {
namespace {

// HTTP/2 frames as large as the protocol allows (16 MiB - 1) instead of
// gRPC's 16 KiB default: a 2 MiB data-plane request then costs a few frame
// headers and flow-control updates instead of 128. Measured with
// bench/dataplane_bench on loopback: 64 MB push 1.9 -> 2.4-2.6 GB/s, pull
// 2.3-2.5 -> 2.8-3.0 GB/s. Each peer announces it for what it receives.
constexpr int kMaxFrameBytes = (16 << 20) - 1;

// Socket reads into buffers of 256 KiB to 8 MiB (gRPC starts at 8 KiB and
// grows them slowly): fewer reads and wake-ups per multi-MB message.
// Measured with bench/dataplane_bench, 1 server, three alternating runs
// each: 1 MB push 1.8-2.3 -> 2.3-2.8 GB/s, pull 2.2-2.9 -> 2.8-3.4 GB/s;
// 16 MB push 1.9-2.1 -> 2.3-2.4 GB/s.
template <typename Args>
void SetReadChunks(Args&& set) {
  set(GRPC_ARG_TCP_READ_CHUNK_SIZE, 1 << 20);
  set(GRPC_ARG_TCP_MIN_READ_CHUNK_SIZE, 256 << 10);
  set(GRPC_ARG_TCP_MAX_READ_CHUNK_SIZE, 8 << 20);
}

// Enforces an AuthzPolicy on each call, inline in gRPC's server auth filter
// (before the handler): the caller's identities are the URI SANs of its
// verified certificate, the method is the call's :path.
class PolicyProcessor final : public grpc::AuthMetadataProcessor {
 public:
  explicit PolicyProcessor(AuthzPolicy policy) : policy_(std::move(policy)) {}
  bool IsBlocking() const override { return false; }
  grpc::Status Process(const InputMetadata& metadata,
                       grpc::AuthContext* context, OutputMetadata*,
                       OutputMetadata*) override {
    absl::string_view path;
    if (auto it = metadata.find(":path"); it != metadata.end()) {
      path = absl::string_view(it->second.data(), it->second.size());
    }
    std::vector<std::string> principals;
    for (const grpc::string_ref& uri :
         context->FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME)) {
      principals.emplace_back(uri.data(), uri.size());
    }
    absl::Status s = policy_.Authorize(path, principals);
    if (s.ok()) return grpc::Status::OK;
    return grpc::Status(grpc::StatusCode::PERMISSION_DENIED,
                        std::string(s.message()));
  }

 private:
  const AuthzPolicy policy_;
};

}  // namespace

absl::StatusOr<RunningServer> StartServer(
    const std::string& host, int port,
    const std::vector<grpc::Service*>& services,
    const std::vector<std::string>& health_names,
    const ServerSecurity& security, const ServerMetrics& metrics) {
  grpc::EnableDefaultHealthCheckService(true);
  grpc::reflection::InitProtoReflectionServerBuilderPlugin();
  grpc::ServerBuilder builder;
  RunningServer out;
  const bool tls = security.security != nullptr && security.security->tls();
  std::shared_ptr<grpc::ServerCredentials> credentials =
      grpc::InsecureServerCredentials();
  if (tls) {
    absl::StatusOr<AuthzPolicy> policy =
        AuthzPolicy::Parse(security.authz_policy);
    if (!policy.ok()) return policy.status();
    credentials = security.security->ServerCredentials();
    credentials->SetAuthMetadataProcessor(
        std::make_shared<PolicyProcessor>(*std::move(policy)));
  }
  builder.AddListeningPort(absl::StrCat(host, ":", port), credentials,
                           &out.port);
  builder.SetMaxReceiveMessageSize(kMaxMessageBytes);
  builder.SetMaxSendMessageSize(kMaxMessageBytes);
  builder.AddChannelArgument(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, kMaxFrameBytes);
  SetReadChunks([&](const char* name, int value) {
    builder.AddChannelArgument(name, value);
  });
  for (grpc::Service* s : services) builder.RegisterService(s);
  if (metrics.registry != nullptr) {
    absl::StatusOr<std::shared_ptr<const RpcServerMetrics>> rpc_metrics =
        RpcServerMetrics::Create(metrics.registry,
                                 {.services = health_names,
                                  .raw_methods = metrics.raw_methods,
                                  .self_recorded = metrics.self_recorded});
    if (!rpc_metrics.ok()) return rpc_metrics.status();
    std::vector<
        std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>>
        creators;
    creators.push_back(
        RpcServerMetrics::InterceptorFactory(*std::move(rpc_metrics)));
    builder.experimental().SetInterceptorCreators(std::move(creators));
  }
  out.server = builder.BuildAndStart();
  if (!out.server || out.port == 0) {
    return absl::UnavailableError(
        absl::StrCat("cannot listen on ", host, ":", port,
                     " (address in use or not local?)"));
  }
  out.address = absl::StrCat(host, ":", out.port);
  grpc::HealthCheckServiceInterface* health =
      out.server->GetHealthCheckService();
  for (const std::string& name : health_names) {
    health->SetServingStatus(name, true);
  }
  return out;
}

void RunningServer::StopServing() {
  if (server == nullptr) return;
  if (grpc::HealthCheckServiceInterface* health =
          server->GetHealthCheckService()) {
    health->Shutdown();
  }
}

std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           int index) {
  return MakeChannel(nullptr, address, index);
}

std::shared_ptr<grpc::Channel> MakeChannel(const RpcSecurity* security,
                                           const std::string& address,
                                           int index) {
  grpc::ChannelArguments args;
  args.SetMaxReceiveMessageSize(kMaxMessageBytes);
  args.SetMaxSendMessageSize(kMaxMessageBytes);
  args.SetInt(GRPC_ARG_KEEPALIVE_TIME_MS,
              absl::ToInt64Milliseconds(kKeepaliveTime));
  args.SetInt(GRPC_ARG_KEEPALIVE_TIMEOUT_MS,
              absl::ToInt64Milliseconds(kKeepaliveTimeout));
  // Distinct args give distinct subchannels, hence distinct TCP connections.
  args.SetInt("ps.channel_index", index);
  args.SetInt(GRPC_ARG_HTTP2_MAX_FRAME_SIZE, kMaxFrameBytes);
  SetReadChunks([&](const char* name, int value) { args.SetInt(name, value); });
  return grpc::CreateCustomChannel(
      address,
      security != nullptr ? security->ChannelCredentials()
                          : grpc::InsecureChannelCredentials(),
      args);
}

}  // namespace ps
