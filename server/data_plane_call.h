// A data-plane call (Pull, Push or Replicate: PsService's raw callback
// methods) and its reactor. Finish() answers the call and, when the server
// records metrics, records it in its method's RPC metrics
// (common/rpc_metrics.h). PsService records these calls itself because a
// gRPC interceptor would cost each of them an extra pass through the
// completion queue for every op batch (about 10 us of CPU a call).
//
// A small value: copy it into the callbacks that finish the call.
#ifndef PS_SERVER_DATA_PLANE_CALL_H_
#define PS_SERVER_DATA_PLANE_CALL_H_

#include <chrono>
#include <cstdint>

#include "common/rpc_metrics.h"
#include "grpcpp/grpcpp.h"

namespace ps::server {

class DataPlaneCall {
 public:
  // The call's reactor (its context's default one). `response` is the
  // handler's; `recorder` (not owned; null: no metrics) is its method's.
  DataPlaneCall(grpc::CallbackServerContext* ctx,
                const grpc::ByteBuffer* request,
                const grpc::ByteBuffer* response, RpcMethodRecorder* recorder)
      : reactor_(ctx->DefaultReactor()),
        response_(response),
        recorder_(recorder),
        received_(recorder != nullptr ? request->Length() : 0),
        start_(recorder != nullptr ? Clock::now() : Clock::time_point()) {}

  // Records the call (`status`, its time since it was made, its request's
  // bytes and, when `status` is OK, the response's) and finishes it with
  // `status`. Once per call.
  void Finish(grpc::Status status) const {
    if (recorder_ != nullptr) {
      const std::chrono::duration<double> took = Clock::now() - start_;
      recorder_->Record(status.error_code(), took.count(),
                        static_cast<int64_t>(received_),
                        status.ok() ? static_cast<int64_t>(response_->Length())
                                    : 0);
    }
    reactor_->Finish(std::move(status));
  }

  // What the handler returns.
  grpc::ServerUnaryReactor* reactor() const { return reactor_; }

 private:
  using Clock = std::chrono::steady_clock;
  grpc::ServerUnaryReactor* reactor_;
  const grpc::ByteBuffer* response_;
  RpcMethodRecorder* recorder_;
  size_t received_;
  Clock::time_point start_;
};

}  // namespace ps::server

#endif  // PS_SERVER_DATA_PLANE_CALL_H_
