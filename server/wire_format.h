// The bytes of data-plane messages on the server side, read and written so
// that values are copied at most once: a push's values are applied straight
// from the pieces the request arrived in, and a pull's values follow the
// framing built here, as references to the shards or copied into one
// buffer (server/pull_answer.h).
//
// Protobuf's wire format lets a message be cut at field boundaries: a
// PushRequest is its small fields (parsed here by protobuf) with a `values`
// field somewhere among them (found here and left in place), and a
// PullResponse is [values tag, length][values][staleness field].
//
// Knows nothing of gRPC: messages come and go as byte pieces. Malformed
// input of any kind (truncated varints, lengths past the end, invalid tags,
// tags or lengths longer than protobuf's parser reads) is INVALID_ARGUMENT,
// never a crash; unknown fields are skipped. What protobuf's parser accepts
// is accepted, and nothing else.
#ifndef PS_SERVER_WIRE_FORMAT_H_
#define PS_SERVER_WIRE_FORMAT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/types/span.h"
#include "google/protobuf/message_lite.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::server {

// Parses the serialised message that is the concatenation of `pieces` into
// *message. INVALID_ARGUMENT naming the message type when it does not parse.
absl::Status ParseMessage(absl::Span<const absl::string_view> pieces,
                          google::protobuf::MessageLite* message);

// Splits the serialised PushRequest that is the concatenation of `pieces`:
// every field but `values` is parsed into *fields (whose values stay empty):
// the dense slices, the sparse slices and their `keys` (copied: 8 bytes per
// row, small beside the row's values), ids and clocks, and any unknown field,
// and the bytes of `values` are set in *values as views into `pieces`, in
// order, without copying (the last occurrence wins, as in protobuf; none
// leaves *values empty). The views live as long as the pieces' bytes.
absl::Status ParsePushRequest(absl::Span<const absl::string_view> pieces,
                              v1::PushRequest* fields,
                              std::vector<absl::string_view>* values);

// The float32 values of a push whose `values` field is the concatenation of
// `pieces`, encoded as fields.codec() says: for FLOAT32, the pieces
// themselves; else decoded into *decoded, which *values then views. The
// decoded count is bounded by what the request's slices could hold (their
// dense counts plus kMaxSparseDim values per key), so a forged header
// cannot make the server allocate more; CheckPushValues checks it exactly.
// INVALID_ARGUMENT names what is malformed.
absl::Status PushValues(const v1::PushRequest& fields,
                        std::vector<absl::string_view> pieces,
                        std::vector<float>* decoded,
                        std::vector<absl::string_view>* values);

// A serialised PullResponse is head + values + tail, where head and tail
// depend only on the size of the values and on the staleness.
struct PullResponseFraming {
  std::string head;  // the values field's tag and length
  std::string tail;  // the staleness field; empty for 0 (proto3 default)
};
PullResponseFraming FramePullResponse(int64_t value_bytes, int64_t staleness);

}  // namespace ps::server

#endif  // PS_SERVER_WIRE_FORMAT_H_
