#include "server/wire_format.h"

#include <algorithm>
#include <climits>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/value_codec.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream.h"
#include "google/protobuf/wire_format_lite.h"
#include "server/table_defs.h"

namespace ps::server {
namespace {

using google::protobuf::internal::WireFormatLite;

// The longest tag and length protobuf's parser reads, and the largest
// length (parse_context.h: ReadTag, ReadSize).
constexpr int kMaxTagBytes = 5;
constexpr uint64_t kMaxLength = INT_MAX - 16;

// The concatenation of byte pieces as one protobuf input stream, read in
// place.
class PiecesInputStream final
    : public google::protobuf::io::ZeroCopyInputStream {
 public:
  explicit PiecesInputStream(absl::Span<const absl::string_view> pieces)
      : pieces_(pieces) {}

  bool Next(const void** data, int* size) override {
    while (piece_ < pieces_.size() && offset_ == pieces_[piece_].size()) {
      ++piece_;
      offset_ = 0;
    }
    if (piece_ == pieces_.size()) return false;
    const size_t n =
        std::min<size_t>(pieces_[piece_].size() - offset_, INT_MAX);
    *data = pieces_[piece_].data() + offset_;
    *size = static_cast<int>(n);
    offset_ += n;
    position_ += static_cast<int64_t>(n);
    return true;
  }

  // Only into the piece the last Next() returned, as the interface allows.
  void BackUp(int count) override {
    offset_ -= count;
    position_ -= count;
  }

  bool Skip(int count) override {
    while (count > 0) {
      const void* data;
      int size;
      if (!Next(&data, &size)) return false;
      if (size > count) {
        BackUp(size - count);
        return true;
      }
      count -= size;
    }
    return true;
  }

  int64_t ByteCount() const override { return position_; }

 private:
  const absl::Span<const absl::string_view> pieces_;
  size_t piece_ = 0;
  size_t offset_ = 0;  // within pieces_[piece_]
  int64_t position_ = 0;
};

absl::Status MalformedPush(absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("request is not a valid ps.v1.PushRequest: ", why));
}

// Bytes [at, at + length) of the concatenation of `pieces`, as views.
std::vector<absl::string_view> SubPieces(
    absl::Span<const absl::string_view> pieces, int64_t at, int64_t length) {
  std::vector<absl::string_view> out;
  for (absl::string_view piece : pieces) {
    if (length == 0) break;
    const int64_t size = static_cast<int64_t>(piece.size());
    if (at >= size) {
      at -= size;
      continue;
    }
    const int64_t n = std::min(size - at, length);
    out.push_back(piece.substr(at, n));
    length -= n;
    at = 0;
  }
  return out;
}

// Appends bytes [at, at + length) of the concatenation of `pieces`.
void AppendPieces(absl::Span<const absl::string_view> pieces, int64_t at,
                  int64_t length, std::string* out) {
  for (absl::string_view piece : SubPieces(pieces, at, length)) {
    out->append(piece.data(), piece.size());
  }
}

void AppendVarint(uint64_t value, std::string* out) {
  while (value >= 0x80) {
    out->push_back(static_cast<char>(value | 0x80));
    value >>= 7;
  }
  out->push_back(static_cast<char>(value));
}

}  // namespace

absl::Status ParseMessage(absl::Span<const absl::string_view> pieces,
                          google::protobuf::MessageLite* message) {
  PiecesInputStream stream(pieces);
  if (!message->ParseFromZeroCopyStream(&stream)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "request is not a valid ", message->GetTypeName(), " message"));
  }
  return absl::OkStatus();
}

absl::Status ParsePushRequest(absl::Span<const absl::string_view> pieces,
                              v1::PushRequest* fields,
                              std::vector<absl::string_view>* values) {
  static const uint32_t kValuesTag =
      WireFormatLite::MakeTag(v1::PushRequest::kValuesFieldNumber,
                              WireFormatLite::WIRETYPE_LENGTH_DELIMITED);
  values->clear();
  // Every field but values, as the bytes they came in: protobuf's parser
  // then checks them as strictly as it checks any message.
  std::string others;
  int64_t others_from = 0;  // first byte not yet in `others`
  int64_t values_at = -1, values_bytes = 0;
  PiecesInputStream stream(pieces);
  google::protobuf::io::CodedInputStream in(&stream);
  for (;;) {
    const int tag_at = in.CurrentPosition();
    const uint32_t tag = in.ReadTag();
    if (tag == 0) break;
    // CodedInputStream reads a tag of up to 10 bytes and drops the bits
    // past 32; protobuf's parser refuses one longer than 5 bytes.
    if (in.CurrentPosition() - tag_at > kMaxTagBytes) {
      return MalformedPush(absl::StrCat("the tag at byte ", tag_at,
                                        " is longer than ", kMaxTagBytes,
                                        " bytes"));
    }
    if (tag != kValuesTag) {
      if (!WireFormatLite::SkipField(&in, tag)) {
        return MalformedPush(absl::StrCat("field ", tag >> 3,
                                          " is truncated or invalid at byte ",
                                          in.CurrentPosition()));
      }
      continue;
    }
    const int length_at = in.CurrentPosition();
    uint64_t length = 0;
    if (!in.ReadVarint64(&length)) {
      return MalformedPush("values: truncated length");
    }
    const int at = in.CurrentPosition();
    // As protobuf's parser: a length of at most 5 bytes, below 2 GiB.
    if (at - length_at > kMaxTagBytes) {
      return MalformedPush(absl::StrCat("values: the length at byte ",
                                        length_at, " is longer than ",
                                        kMaxTagBytes, " bytes"));
    }
    if (length > kMaxLength) {
      return MalformedPush(absl::StrCat("values: length ", length, " at byte ",
                                        length_at, " is over ", kMaxLength));
    }
    if (!in.Skip(static_cast<int>(length))) {
      return MalformedPush(absl::StrCat("values: length ", length, " at byte ",
                                        at,
                                        " runs past the end of the message"));
    }
    AppendPieces(pieces, others_from, tag_at - others_from, &others);
    others_from = in.CurrentPosition();
    values_at = at;
    values_bytes = static_cast<int64_t>(length);
  }
  if (!in.ConsumedEntireMessage()) {
    return MalformedPush(absl::StrCat("invalid or truncated tag at byte ",
                                      in.CurrentPosition()));
  }
  AppendPieces(pieces, others_from, in.CurrentPosition() - others_from,
               &others);
  if (!fields->ParseFromString(others)) {
    return MalformedPush("its fields other than values do not parse");
  }
  if (values_at >= 0) *values = SubPieces(pieces, values_at, values_bytes);
  return absl::OkStatus();
}

PullResponseFraming FramePullResponse(int64_t value_bytes, int64_t staleness) {
  PullResponseFraming out;
  AppendVarint(
      WireFormatLite::MakeTag(v1::PullResponse::kValuesFieldNumber,
                              WireFormatLite::WIRETYPE_LENGTH_DELIMITED),
      &out.head);
  AppendVarint(static_cast<uint64_t>(value_bytes), &out.head);
  if (staleness != 0) {
    AppendVarint(
        WireFormatLite::MakeTag(v1::PullResponse::kStalenessFieldNumber,
                                WireFormatLite::WIRETYPE_VARINT),
        &out.tail);
    // int64 fields are varints of their two's complement.
    AppendVarint(static_cast<uint64_t>(staleness), &out.tail);
  }
  return out;
}

absl::Status PushValues(const v1::PushRequest& fields,
                        std::vector<absl::string_view> pieces,
                        std::vector<float>* decoded,
                        std::vector<absl::string_view>* values) {
  if (fields.codec() == v1::FLOAT32) {
    *values = std::move(pieces);
    return absl::OkStatus();
  }
  int64_t room = static_cast<int64_t>(fields.keys().size() / 8) * kMaxSparseDim;
  for (const v1::DenseSlice& slice : fields.slices()) {
    room += std::max<int64_t>(0, slice.count());
  }
  std::string joined;
  absl::string_view encoded;
  if (pieces.size() == 1) {
    encoded = pieces[0];
  } else {
    for (absl::string_view piece : pieces) {
      joined.append(piece.data(), piece.size());
    }
    encoded = joined;
  }
  absl::StatusOr<std::vector<float>> out =
      DecodeToVector(fields.codec(), encoded, room);
  if (!out.ok()) return out.status();
  *decoded = *std::move(out);
  values->assign({absl::string_view(reinterpret_cast<const char*>(
                                        decoded->data()),
                                    decoded->size() * sizeof(float))});
  return absl::OkStatus();
}

}  // namespace ps::server
