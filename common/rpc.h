// gRPC plumbing shared by every daemon and client: one place that decides
// message limits, keepalive, health checking and reflection.
#ifndef PS_COMMON_RPC_H_
#define PS_COMMON_RPC_H_

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/rpc_security.h"
#include "grpcpp/grpcpp.h"

namespace prometheus {
class Registry;
}

namespace ps {

// Largest message either side accepts. Clients split requests into chunks
// of kDefaultChunkBytes (PsClientOptions::chunk_bytes), well below this.
inline constexpr int kMaxMessageBytes = 256 << 20;
// 2 MiB rather than 4: more requests in flight per call, so that reading,
// applying and answering overlap more. Measured with bench/dataplane_bench
// (--chunk_bytes), alternating runs, one server: 16 MB push 2.51-3.25 ->
// 2.67-3.57 GB/s (faster in 11 of 12 pairs), pull 2.60-3.35 -> 2.71-3.45
// (10 of 12); 64 MB push 2.85-3.67 -> 2.76-3.92 (5 of 7). Two servers and
// 1 MB (already cut smaller) within noise.
inline constexpr int64_t kDefaultChunkBytes = 2 << 20;

// Client keepalive: a ping after this long without traffic, and the
// connection is closed when its answer takes longer than the timeout.
inline constexpr absl::Duration kKeepaliveTime = absl::Seconds(10);
inline constexpr absl::Duration kKeepaliveTimeout = absl::Seconds(5);
// How long a client transport may go on holding a request's send buffers
// after its call failed: until keepalive has closed a connection whose peer
// stopped reading.
inline constexpr absl::Duration kMaxTransportHold =
    absl::Seconds(20);  // kKeepaliveTime + kKeepaliveTimeout + 5 s

// A running gRPC server with health checking and reflection enabled.
struct RunningServer {
  std::unique_ptr<grpc::Server> server;
  int port = 0;         // the bound port (useful when asked for port 0).
  std::string address;  // host:port that peers should dial.

  // Sets the server-wide health status ("") and every named service's to
  // NOT_SERVING, for good (Watch streams are told at once). Call first thing
  // when shutting down, so probes and load balancers stop sending work.
  void StopServing();
};

// How a server authenticates and authorizes its callers.
struct ServerSecurity {
  // Null: plaintext.
  std::shared_ptr<const RpcSecurity> security;
  // A policy in gRPC's authorization policy language (JSON;
  // common/authz_policy.h), enforced on every call before its handler.
  // Required with TLS, ignored without.
  std::string authz_policy;
};

// Where a server records the metrics of every call (common/rpc_metrics.h).
struct ServerMetrics {
  // Not owned; must outlive the server. Null: no metrics, and no
  // interceptor on the call path at all.
  prometheus::Registry* registry = nullptr;
  // Paths of the services' methods whose handlers take grpc::ByteBuffer
  // (RpcServerMethods::raw_methods).
  std::vector<std::string> raw_methods;
  // Paths of the methods whose service records their calls itself
  // (RpcServerMethods::self_recorded): no interceptor runs on them.
  std::vector<std::string> self_recorded;
};

// Binds `host:port` (port 0 picks a free port) and starts serving `services`,
// which must outlive the server. The health service reports SERVING for the
// server as a whole ("") and for each of `health_names` (full service names
// such as "ps.v1.ParameterServer"; other names are NOT_FOUND); with
// `metrics`, those are also the services whose methods label the metrics.
// INVALID_ARGUMENT when TLS is on and the policy does not parse, or when
// the metrics' services or raw methods are not generated ones.
absl::StatusOr<RunningServer> StartServer(
    const std::string& host, int port,
    const std::vector<grpc::Service*>& services,
    const std::vector<std::string>& health_names = {},
    const ServerSecurity& security = {},
    const ServerMetrics& metrics = {});

// A channel to `address` with the project's message limits. `index` makes
// channels to the same address distinct connections (for parallel streams).
// Without `security` (or with an insecure one) the channel is plaintext.
std::shared_ptr<grpc::Channel> MakeChannel(const std::string& address,
                                           int index = 0);
std::shared_ptr<grpc::Channel> MakeChannel(const RpcSecurity* security,
                                           const std::string& address,
                                           int index = 0);

// The deadline `timeout` from now, in the form gRPC contexts take.
inline std::chrono::system_clock::time_point DeadlineIn(
    absl::Duration timeout) {
  return absl::ToChronoTime(absl::Now() + timeout);
}

}  // namespace ps

#endif  // PS_COMMON_RPC_H_
