// Per-method metrics of a gRPC server, recorded by a server interceptor
// (gRPC's experimental interceptor API) on every call:
//
//   ps_rpc_server_handled_total{service,method,code}    counter
//   ps_rpc_server_handling_seconds{service,method}      histogram
//   ps_rpc_server_received_bytes_total{service,method}  counter
//   ps_rpc_server_sent_bytes_total{service,method}      counter
//
// `code` is the status code's name ("OK", "NOT_FOUND", ...); handling time
// runs from the call's start to its status being sent (a pull that waits
// for its clock counts its wait). Bytes are the messages' serialized sizes,
// streams' messages included (not HTTP/2 framing or compression).
//
// Label values come from the fixed set of methods the server was built
// with: calls of any other path (unimplemented methods) are counted as
// service="unknown", method="unknown". A method's series appear with its
// first call. Per call it costs one hash lookup of its path (the table is
// built when the server starts and never changes), an allocation of the
// interceptor, a few atomic adds and one histogram observation.
#ifndef PS_COMMON_RPC_METRICS_H_
#define PS_COMMON_RPC_METRICS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "grpcpp/support/server_interceptor.h"
#include "prometheus/registry.h"

namespace ps {

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
};

class RpcServerMetrics {
 public:
  // Registers the families in `registry` (which must outlive the servers
  // that use them). INVALID_ARGUMENT naming the service when it is not in
  // the generated descriptor pool, or a raw method that is not one of the
  // services' methods.
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
