// A batch of unary RPCs in flight at once over gRPC's callback API, with a
// wait that is always bounded.
//
// Start() issues RPCs one at a time, so the caller can prepare the next
// request while earlier ones travel; Wait() returns when all have answered.
// An RPC that gRPC has not answered by its deadline plus kWaitGrace is
// cancelled and abandoned: Wait() still returns, and from then on no callback
// of this batch calls `on_response` or touches the caller's memory.
//
// Not thread-safe: one thread calls Start() and Wait(). `on_response` runs on
// gRPC threads, concurrently for different RPCs.
//
// The ClientContexts (which hold references to the channels) are destroyed on
// the thread that calls Wait(), not in a callback: gRPC 1.51 crashes when a
// callback drops the last reference to a channel (grpc/grpc#32584), which
// would happen if the caller destroyed its stubs right after Wait(). Only an
// abandoned RPC's context is left to its late callback.
#ifndef PS_CLIENT_CALL_BATCH_H_
#define PS_CLIENT_CALL_BATCH_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/generic/generic_stub.h"

namespace ps::client {

class CallBatch {
 public:
  // How long past an RPC's deadline Wait() waits for gRPC to report it.
  static constexpr absl::Duration kWaitGrace = absl::Seconds(1);

  // Called with each OK answer; its status becomes that RPC's result.
  using OnResponse =
      std::function<absl::Status(int index, grpc::ByteBuffer* response)>;

  // Room for RPCs 0 .. size-1, each with deadline `timeout` after its
  // Start(). `on_response` may be empty (answers are then dropped).
  CallBatch(int size, absl::Duration timeout, OnResponse on_response);
  // Waits as Wait() does if the caller has not.
  ~CallBatch();
  CallBatch(const CallBatch&) = delete;
  CallBatch& operator=(const CallBatch&) = delete;

  // Starts RPC `index` to `method` ("/package.Service/Method"), which must
  // outlive the batch. The request's slices are shared, not copied.
  void Start(int index, grpc::GenericStub* stub, const std::string& method,
             const grpc::ByteBuffer& request);

  // Waits for every started RPC; returns one status per index (OK for an
  // index never started). Call once. Polls for up to `spin` before blocking:
  // waking a blocked thread costs tens of microseconds on some VMs, which is
  // much of a small call's latency, while polling costs only that much CPU.
  std::vector<absl::Status> Wait(absl::Duration spin = absl::ZeroDuration());

 private:
  struct State;

  std::shared_ptr<State> state_;  // shared with the callbacks in flight
  std::vector<std::unique_ptr<grpc::ClientContext>> contexts_;
  const absl::Duration timeout_;
  absl::Time last_deadline_ = absl::InfinitePast();
};

}  // namespace ps::client

#endif  // PS_CLIENT_CALL_BATCH_H_
