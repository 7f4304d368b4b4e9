// Per-method metrics of a gRPC server:
//
//   ps_rpc_server_handled_total{service,method,code}    counter
//   ps_rpc_server_handling_seconds{service,method}      histogram
//   ps_rpc_server_received_bytes_total{service,method}  counter
//   ps_rpc_server_sent_bytes_total{service,method}      counter
//
// `code` is the status code's name ("OK", "NOT_FOUND", ...); handling time
// runs from the call's start to its status (a pull that waits for its clock
// counts its wait). Bytes are the messages' serialized sizes, streams'
// messages included (not HTTP/2 framing or compression). A method's series
// appear with its first call.
//
// Two ways to record them, with the same families:
//  - A server interceptor (gRPC's experimental API) on every call, which
//    StartServer installs (common/rpc.h). It needs nothing from the
//    services, but gRPC 1.51 makes every op batch of a call that has an
//    interceptor go round the completion queue once more: measured with
//    bench/rpc_metrics_bench, about 10 us of CPU a call even for an
//    interceptor that does nothing.
//  - RpcMethodRecorder, which a service calls itself as a call finishes:
//    for its hot methods (the data plane's Pull, Push and Replicate). The
//    interceptor skips those (RpcServerMethods::self_recorded).
//
// Label values come from the fixed set of methods the server was built
// with: calls of any other path (unimplemented methods) are counted as
// service="unknown", method="unknown".
#ifndef PS_COMMON_RPC_METRICS_H_
#define PS_COMMON_RPC_METRICS_H_

#include <array>
#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/call_once.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/server_interceptor.h"
#include "grpcpp/support/status.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "prometheus/registry.h"

namespace ps {

// One method's series. Thread-safe; after a method's first call, Record is
// a few atomic adds and one histogram observation, with no lookup.
class RpcMethodRecorder {
 public:
  // Series labelled {service, method} in `registry`, which must outlive
  // this object; the families are shared with every other recorder and
  // interceptor of the registry.
  RpcMethodRecorder(prometheus::Registry* registry, std::string service,
                    std::string method);
  RpcMethodRecorder(const RpcMethodRecorder&) = delete;
  RpcMethodRecorder& operator=(const RpcMethodRecorder&) = delete;

  // A call that ended with `code` after `seconds`, its request messages
  // `received` bytes, its responses `sent` bytes.
  void Record(grpc::StatusCode code, double seconds, int64_t received,
              int64_t sent);
  // The parts of Record, for calls recorded as they go (the interceptor).
  void Received(int64_t bytes);
  void Sent(int64_t bytes);
  void Handled(grpc::StatusCode code, double seconds);

 private:
  struct Families {
    prometheus::Family<prometheus::Counter>* handled;
    prometheus::Family<prometheus::Histogram>* seconds;
    prometheus::Family<prometheus::Counter>* received;
    prometheus::Family<prometheus::Counter>* sent;
  };
  struct Series {
    prometheus::Histogram* seconds;
    prometheus::Counter* received;
    prometheus::Counter* sent;
  };
  static constexpr int kCodes = 17;  // OK .. UNAUTHENTICATED

  const Series& series();

  const Families families_;
  const prometheus::Labels labels_;  // service, method
  absl::once_flag once_;
  Series series_{};
  // By status code, added to the family on first use.
  std::array<std::atomic<prometheus::Counter*>, kCodes> handled_{};
};

// What a server serves, so that its methods can be labelled and their
// requests measured.
struct RpcServerMethods {
  // Full names of the protobuf services (ps.v1.ParameterServer); their
  // methods are read from the generated descriptors. gRPC's health and
  // reflection services are always added.
  std::vector<std::string> services;
  // Paths ("/ps.v1.ParameterServer/Pull") of methods whose handlers take
  // grpc::ByteBuffer instead of the protobuf message (raw methods): their
  // requests are measured as bytes. Getting this wrong would make the
  // interceptor read a ByteBuffer as a message, so each service keeps the
  // list beside the declaration that makes the methods raw.
  std::vector<std::string> raw_methods;
  // Paths of methods whose service records its calls with an
  // RpcMethodRecorder: no interceptor runs on their calls.
  std::vector<std::string> self_recorded;
};

class RpcServerMetrics {
 public:
  // Registers the families in `registry` (which must outlive the servers
  // that use them). INVALID_ARGUMENT naming the service when it is not in
  // the generated descriptor pool, or a raw or self-recorded method that is
  // not one of the services' methods.
  static absl::StatusOr<std::shared_ptr<const RpcServerMetrics>> Create(
      prometheus::Registry* registry, const RpcServerMethods& methods);

  // For grpc::ServerBuilder::experimental().SetInterceptorCreators; keeps
  // this object alive.
  static std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
  InterceptorFactory(std::shared_ptr<const RpcServerMetrics> metrics);

  ~RpcServerMetrics();

  struct Method;  // rpc_metrics.cc

 private:
  class Factory;
  RpcServerMetrics() = default;
  // The method's metrics; the "unknown" entry for any other path.
  Method* Find(const char* path) const;

  struct Table;
  std::unique_ptr<Table> table_;
};

}  // namespace ps

#endif  // PS_COMMON_RPC_METRICS_H_
