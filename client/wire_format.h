// The bytes of data-plane messages, built and read so that the client copies
// no push value and each pull value once (protobuf would copy each two or
// three times: caller -> message -> gRPC slice, and back). Everything here
// follows ps.v1 exactly: protobuf's wire format lets a message be written as
// concatenated fields, so a PushRequest is
//   [protobuf-serialised fields but seq and values][seq][values tag, length]
//   [values, lent from the caller's buffer (Loan)]
// and a PullResponse's values field is read straight into the caller's
// buffer, piece by piece.
#ifndef PS_CLIENT_WIRE_FORMAT_H_
#define PS_CLIENT_WIRE_FORMAT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "client/chunk_plan.h"
#include "client/sparse_plan.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {

// The full names of ParameterServer's Pull and Push, for generic stubs.
const std::string& PullMethod();
const std::string& PushMethod();

// A serialised PullRequest for `chunk`'s pieces, asking for values encoded
// by `codec` (FLOAT32, FLOAT16 or BFLOAT16), without the clock (which
// changes per call and is appended as VarintField).
std::string PullRequestBytes(const std::string& job_id, uint64_t epoch,
                             const Chunk& chunk,
                             v1::ValueCodec codec = v1::FLOAT32);

// A serialised PushRequest for `chunk` holding every field but seq, clock,
// clock_pushes and values; constant for a chunk, so it is built once per
// plan. `codec`: how the values that follow are encoded.
std::string PushRequestPrefix(const std::string& job_id, uint64_t epoch,
                              const std::string& worker_id, const Chunk& chunk,
                              v1::ValueCodec codec = v1::FLOAT32);

// The bytes that follow the prefix: the seq, clock and clock_pushes fields
// (how many requests of one Push go to the chunk's server), then the values
// field's tag and length for `value_bytes` bytes of values, which come next.
std::string PushRequestTail(uint64_t seq, int64_t clock, int32_t clock_pushes,
                            int64_t value_bytes);

// One varint field (int64 fields use it too, as two's complement).
std::string VarintField(int field_number, uint64_t value);

// Copies the values of the serialised PullResponse in `response`, encoded
// by `codec` (FLOAT32, FLOAT16 or BFLOAT16), to `buffer`: chunk.pieces[i]
// lands at buffer + pieces[i].buffer_offset, and sets *staleness (0 when
// absent). DATA_LOSS when the message is malformed or its values are not
// exactly chunk.values values (the buffer may then be partly written).
absl::Status ScatterPullResponse(grpc::ByteBuffer* response, const Chunk& chunk,
                                 float* buffer, int64_t* staleness,
                                 v1::ValueCodec codec = v1::FLOAT32);

// Like ScatterPullResponse for the answer to sparse request `r` of `call`:
// its folded dense values go to `buffer`, each row to rows[ref].
absl::Status ScatterSparsePullResponse(grpc::ByteBuffer* response,
                                       const SparseRequest& r,
                                       const SparseCall& call, float* buffer,
                                       const std::vector<float*>& rows,
                                       int64_t* staleness,
                                       v1::ValueCodec codec = v1::FLOAT32);

// Lends the caller's memory to gRPC as send slices, so that a push's values
// go from the caller's gradients to the socket with no copy in between, and
// tells when gRPC has let go of all of it: a transport drops the slices of a
// message once the socket write that carried them has finished (after the
// RPC's answer, as a rule; for a call that failed while its bytes were still
// queued, only when that connection closes). The caller's memory must stay
// valid and unchanged until AwaitReturn() says everything is back.
// Thread-safe: gRPC returns slices on its own threads.
class Loan {
 public:
  Loan() : state_(std::make_shared<State>()) {}
  Loan(const Loan&) = delete;
  Loan& operator=(const Loan&) = delete;
  // Slices still out keep the loan's own bookkeeping alive (not the memory).
  ~Loan() = default;

  // A slice over [data, data + size), counted out until gRPC drops its last
  // reference.
  grpc::Slice Lend(const void* data, size_t size);

  // Waits until every lent slice is back; false when some are still out at
  // `deadline` (the memory must then stay valid for as long as they are).
  bool AwaitReturn(absl::Time deadline);

  // Slices still out.
  int64_t out() const;

 private:
  struct State {
    absl::Mutex mu;
    int64_t out ABSL_GUARDED_BY(mu) = 0;
  };
  // `share` is a heap std::shared_ptr<State>, one per lent slice.
  static void Return(void* share);

  std::shared_ptr<State> state_;
};

}  // namespace ps::client

#endif  // PS_CLIENT_WIRE_FORMAT_H_
