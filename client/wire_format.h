// The bytes of data-plane messages, built and read so that values are copied
// once on the client instead of three times (caller -> message -> gRPC slice,
// and back). Everything here follows ps.v1 exactly: protobuf's wire format
// lets a message be written as concatenated fields, so a PushRequest is
//   [protobuf-serialised fields but seq and values][seq][values tag, length]
//   [values]
// and a PullResponse's values field is read straight into the caller's
// buffer, piece by piece.
#ifndef PS_CLIENT_WIRE_FORMAT_H_
#define PS_CLIENT_WIRE_FORMAT_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include "absl/status/status.h"
#include "client/chunk_plan.h"
#include "grpcpp/support/byte_buffer.h"

namespace ps::client {

// A serialised PullRequest for `chunk`'s pieces, without the clock (which
// changes per call and is appended as VarintField).
std::string PullRequestBytes(const std::string& job_id, uint64_t epoch,
                             const Chunk& chunk);

// A serialised PushRequest for `chunk` holding every field but seq, clock,
// clock_pushes and values; constant for a chunk, so it is built once per
// plan.
std::string PushRequestPrefix(const std::string& job_id, uint64_t epoch,
                              const std::string& worker_id,
                              const Chunk& chunk);

// The bytes that follow the prefix: the seq, clock and clock_pushes fields
// (how many requests of one Push go to the chunk's server), then the values
// field's tag and length for `value_bytes` bytes of values, which come next.
std::string PushRequestTail(uint64_t seq, int64_t clock, int32_t clock_pushes,
                            int64_t value_bytes);

// One varint field (int64 fields use it too, as two's complement).
std::string VarintField(int field_number, uint64_t value);

// Copies the values of the serialised PullResponse in `response` to
// `buffer`: chunk.pieces[i] lands at buffer + pieces[i].buffer_offset, and
// sets *staleness (0 when absent). DATA_LOSS when the message is malformed or
// its values are not exactly chunk.values floats (the buffer may then be
// partly written).
absl::Status ScatterPullResponse(grpc::ByteBuffer* response, const Chunk& chunk,
                                 float* buffer, int64_t* staleness);

// A reusable send buffer that gRPC may still reference after an RPC has
// finished (its transport drops slices asynchronously, and later still after
// a cancelled call). Share() hands gRPC a reference that keeps the memory
// alive; the owner rewrites the bytes only while busy() is false.
// Thread-compatible, except that gRPC's release may run on any thread.
class SharedBytes {
 public:
  static std::shared_ptr<SharedBytes> Make() {
    return std::shared_ptr<SharedBytes>(new SharedBytes());
  }

  // Grows the buffer to hold `size` bytes, keeping no contents. Only while
  // !busy(). New memory is not zeroed: the caller writes all of it.
  char* Resize(size_t size);
  size_t size() const { return size_; }

  // True while a ByteBuffer from Share() is alive anywhere.
  bool busy() const { return shares_.load(std::memory_order_acquire) > 0; }

  // A ByteBuffer over the current bytes, without copying them.
  static grpc::ByteBuffer Share(const std::shared_ptr<SharedBytes>& self);

 private:
  SharedBytes() = default;
  static void Release(void* share);

  std::unique_ptr<char[]> data_;
  size_t size_ = 0;
  size_t capacity_ = 0;
  std::atomic<int> shares_{0};
};

}  // namespace ps::client

#endif  // PS_CLIENT_WIRE_FORMAT_H_
