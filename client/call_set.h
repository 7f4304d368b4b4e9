// The RPCs of one PsClient call, and how they run: all at once through a
// CallBatch, UNAVAILABLE ones retried with backoff.
#ifndef PS_CLIENT_CALL_SET_H_
#define PS_CLIENT_CALL_SET_H_

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "client/call_batch.h"
#include "client/ps_client_options.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/byte_buffer.h"

namespace ps::client {

// Calls moving at most this many value bytes are latency-bound (a small
// model's step): their wait polls for up to PsClientOptions::small_call_spin
// before blocking.
inline constexpr int64_t kSmallCallBytes = 256 << 10;

// The RPCs of one call: dense chunks of a plan first, then sparse ones. The
// pointers are not owned and must outlive RunCalls.
struct CallSet {
  std::vector<grpc::GenericStub*> stubs;
  std::vector<grpc::ByteBuffer*> requests;
  std::vector<int> servers;                 // server index of each RPC
  std::vector<const std::string*> methods;  // of each RPC
  std::vector<const std::string*> ops;      // "pull from"..., for errors
  int64_t bytes = 0;                        // value bytes of the call
};

// Appends the RPCs of `calls` to *all, each described as *op in errors.
void AppendCalls(const CallSet& calls, const std::string* op, CallSet* all);

// Runs every RPC of `calls` at once, calling `prepare(i)` just before the
// first attempt of RPC i and `on_response` (if set) with each answer, and
// retrying UNAVAILABLE ones up to options.max_attempts in all. On the first
// error that is not retried, returns it prefixed with describe(i).
absl::Status RunCalls(const CallSet& calls,
                      const std::function<void(int)>& prepare,
                      const CallBatch::OnResponse& on_response,
                      const PsClientOptions& options,
                      absl::FunctionRef<std::string(int)> describe,
                      uint64_t epoch = 0);

}  // namespace ps::client

#endif  // PS_CLIENT_CALL_SET_H_
