// The bytes of a pull's answer: a serialised PullResponse built from a
// PullPlan that has been awaited, with the values copied at most once.
//
// Policy: the float32 values of a dense-only pull whose slices are big (on average
// kMinReferencedValues or more) go out by reference to the shards
// (PullPlan::Share, copy on write): the socket write is their only copy on
// this side. Any other pull is answered in one buffer of exactly its size
// (one allocation, where a small model's many pieces would each take a
// slice), the values copied from the shards straight into place, or
// encoded (FLOAT16, BFLOAT16) on the way.
//
// Knows nothing of the gRPC service: a grpc::ByteBuffer is only the
// container the bytes go out in. Thread-safe (no state).
#ifndef PS_SERVER_PULL_ANSWER_H_
#define PS_SERVER_PULL_ANSWER_H_

#include <cstdint>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/support/byte_buffer.h"
#include "grpcpp/support/slice.h"
#include "server/dense_shard.h"
#include "server/table_store.h"

namespace ps::server {

// A reference keeps its whole block of DenseShard::kStripeValues values
// alive: pieces smaller than this are copied instead, so that a response
// never pins more than 4x its own size.
inline constexpr int64_t kMinReferencedValues = DenseShard::kStripeValues / 4;

// A slice over `values`: a copy when they are fewer than
// kMinReferencedValues, else a reference that keeps their block (and so the
// values) alive until the slice's last copy is gone.
grpc::Slice SliceOfValues(DenseShard::SharedValues values);

// Whether the answer to `plan` goes out by reference to the shards (see the
// policy above).
bool AnswersByReference(const PullPlan& plan);

// Writes the serialised PullResponse of `plan` (awaited, with `staleness`)
// to *response. RESOURCE_EXHAUSTED when the buffer cannot be allocated.
absl::Status WritePullResponse(const PullPlan& plan, int64_t staleness,
                               grpc::ByteBuffer* response);

// The answer to a pull whose wait ended with `staleness`: its error, or
// WritePullResponse's.
absl::Status AnswerPull(const PullPlan& plan,
                        const absl::StatusOr<int64_t>& staleness,
                        grpc::ByteBuffer* response);

}  // namespace ps::server

#endif  // PS_SERVER_PULL_ANSWER_H_
