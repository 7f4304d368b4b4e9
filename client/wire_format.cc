#include "client/wire_format.h"

#include "absl/strings/str_cat.h"
#include "common/value_codec.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "grpcpp/support/proto_buffer_reader.h"
#include "grpcpp/support/slice.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {

const std::string& PullMethod() {
  static const auto* method = new std::string("/ps.v1.ParameterServer/Pull");
  return *method;
}

const std::string& PushMethod() {
  static const auto* method = new std::string("/ps.v1.ParameterServer/Push");
  return *method;
}

namespace {

using google::protobuf::internal::WireFormatLite;

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

template <typename Request>
void AddSlices(const Chunk& chunk, Request* request) {
  request->mutable_slices()->Reserve(static_cast<int>(chunk.pieces.size()));
  for (const RoutedSlice& piece : chunk.pieces) {
    v1::DenseSlice* slice = request->add_slices();
    slice->set_table(piece.table);
    slice->set_offset(piece.offset);
    slice->set_count(piece.count);
  }
}

}  // namespace

std::string PullRequestBytes(const std::string& job_id, uint64_t epoch,
                             const Chunk& chunk, v1::ValueCodec codec) {
  v1::PullRequest request;
  request.set_job_id(job_id);
  request.set_epoch(epoch);
  request.set_group(chunk.server_index);
  request.set_codec(codec);
  AddSlices(chunk, &request);
  return request.SerializeAsString();
}

std::string PushRequestPrefix(const std::string& job_id, uint64_t epoch,
                              const std::string& worker_id, const Chunk& chunk,
                              v1::ValueCodec codec) {
  v1::PushRequest request;
  request.set_job_id(job_id);
  request.set_epoch(epoch);
  request.set_worker_id(worker_id);
  request.set_group(chunk.server_index);
  request.set_codec(codec);
  AddSlices(chunk, &request);
  return request.SerializeAsString();
}

std::string VarintField(int field_number, uint64_t value) {
  std::string out;
  AppendVarint(
      WireFormatLite::MakeTag(field_number, WireFormatLite::WIRETYPE_VARINT),
      &out);
  AppendVarint(value, &out);
  return out;
}

std::string PushRequestTail(uint64_t seq, int64_t clock, int32_t clock_pushes,
                            int64_t value_bytes) {
  std::string out = VarintField(v1::PushRequest::kSeqFieldNumber, seq);
  out += VarintField(v1::PushRequest::kClockFieldNumber,
                     static_cast<uint64_t>(clock));
  out += VarintField(v1::PushRequest::kClockPushesFieldNumber,
                     static_cast<uint64_t>(clock_pushes));
  AppendVarint(
      WireFormatLite::MakeTag(v1::PushRequest::kValuesFieldNumber,
                              WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
      &out);
  AppendVarint(static_cast<uint64_t>(value_bytes), &out);
  return out;
}

absl::Status ScatterPullResponse(grpc::ByteBuffer* response, const Chunk& chunk,
                                 float* buffer, int64_t* staleness,
                                 v1::ValueCodec codec) {
  static const uint32_t kValuesTag =
      WireFormatLite::MakeTag(v1::PullResponse::kValuesFieldNumber,
                              WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  static const uint32_t kStalenessTag = WireFormatLite::MakeTag(
      v1::PullResponse::kStalenessFieldNumber, WireFormatLite::WIRETYPE_VARINT);
  *staleness = 0;
  grpc::ProtoBufferReader reader(response);
  google::protobuf::io::CodedInputStream in(&reader);
  const int64_t width = FixedValueBytes(codec);
  const int64_t expected = chunk.values * width;
  std::string encoded;  // one piece's values, when not float32
  int64_t got = 0;
  const absl::Status malformed =
      absl::DataLossError("pull response is not a valid PullResponse");
  for (uint32_t tag = in.ReadTag(); tag != 0; tag = in.ReadTag()) {
    if (tag == kStalenessTag) {
      uint64_t value = 0;
      if (!in.ReadVarint64(&value)) return malformed;
      *staleness = static_cast<int64_t>(value);
      continue;
    }
    if (tag != kValuesTag) {
      // A field this client does not know (a newer server): skip it.
      if (!WireFormatLite::SkipField(&in, tag)) return malformed;
      continue;
    }
    uint32_t length = 0;
    if (!in.ReadVarint32(&length)) return malformed;
    got = length;
    if (got != expected) break;
    for (const RoutedSlice& piece : chunk.pieces) {
      float* out = buffer + piece.buffer_offset;
      if (codec == v1::FLOAT32) {
        if (!in.ReadRaw(out, static_cast<int>(piece.count * sizeof(float)))) {
          return malformed;
        }
        continue;
      }
      encoded.resize(piece.count * width);
      if (!in.ReadRaw(encoded.data(), static_cast<int>(encoded.size())) ||
          !DecodeValues(codec, encoded, out, piece.count).ok()) {
        return malformed;
      }
    }
  }
  if (got != expected) {
    return absl::DataLossError(absl::StrCat(
        "pull response holds ", got, " bytes of values, expected ", expected));
  }
  if (in.CurrentPosition() != static_cast<int>(response->Length())) {
    return malformed;
  }
  return absl::OkStatus();
}

grpc::Slice Loan::Lend(const void* data, size_t size) {
  {
    absl::MutexLock lock(&state_->mu);
    ++state_->out;
  }
  // gRPC only reads send slices; its constructor just wants a void*.
  return grpc::Slice(const_cast<void*>(data), size, &Loan::Return,
                     new std::shared_ptr<State>(state_));
}

void Loan::Return(void* share) {
  auto* state = static_cast<std::shared_ptr<State>*>(share);
  {
    absl::MutexLock lock(&(*state)->mu);
    --(*state)->out;
  }
  // Last, so that a waiter that saw the count reach zero and destroyed its
  // Loan cannot pull the mutex from under this thread's unlock.
  delete state;
}

bool Loan::AwaitReturn(absl::Time deadline) {
  State& s = *state_;
  absl::MutexLock lock(&s.mu);
  auto back = [&s]() ABSL_SHARED_LOCKS_REQUIRED(s.mu) { return s.out == 0; };
  return s.mu.AwaitWithDeadline(absl::Condition(&back), deadline);
}

int64_t Loan::out() const {
  absl::MutexLock lock(&state_->mu);
  return state_->out;
}

absl::Status ScatterSparsePullResponse(grpc::ByteBuffer* response,
                                       const SparseRequest& r,
                                       const SparseCall& call, float* buffer,
                                       const std::vector<float*>& rows,
                                       int64_t* staleness,
                                       v1::ValueCodec codec) {
  v1::PullResponse parsed;
  grpc::ProtoBufferReader reader(response);
  if (!parsed.ParseFromZeroCopyStream(&reader)) {
    return absl::DataLossError("sparse pull response is not a PullResponse");
  }
  if (codec != v1::FLOAT32) {
    const int64_t width = FixedValueBytes(codec);
    const std::string& encoded = parsed.values();
    if (width == 0 || encoded.size() % width != 0) {
      return absl::DataLossError(absl::StrCat(
          "sparse pull response holds ", encoded.size(),
          " bytes, not a whole number of ", CodecName(codec), " values"));
    }
    std::string floats(encoded.size() / width * sizeof(float), '\0');
    if (absl::Status s = DecodeValues(codec, encoded,
                                      reinterpret_cast<float*>(floats.data()),
                                      encoded.size() / width);
        !s.ok()) {
      return absl::DataLossError(s.message());
    }
    *parsed.mutable_values() = std::move(floats);
  }
  absl::Status s = ScatterSparseValues(r, call, parsed.values(), buffer, rows);
  if (!s.ok()) return s;
  *staleness = parsed.staleness();
  return absl::OkStatus();
}

}  // namespace ps::client
