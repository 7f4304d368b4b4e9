// The encodings of values on the data plane (v1::ValueCodec): float16,
// bfloat16, 8-bit with a scale per block, and top-k sparsification. Workers
// encode gradients and decode pulled parameters; servers decode pushes and
// encode pulls. The byte layouts are in proto/ps/v1/ps.proto (ValueCodec).
//
// Encoding is deterministic: the same values and options give the same
// bytes, which a push sent again after a failover relies on. Decoding checks
// every length, count and index and never reads or writes out of bounds: a
// malformed encoding is INVALID_ARGUMENT naming what was wrong.
//
// Thread-safe (no state).
#ifndef PS_COMMON_VALUE_CODEC_H_
#define PS_COMMON_VALUE_CODEC_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps {

struct CodecOptions {
  double topk_ratio = 0.01;  // TOPK: k = ceil(ratio * count), at least 1
  int32_t int8_block = 256;  // INT8: values per scale
};

// The options of `spec` with its defaults resolved (CompressionSpec's
// comments).
CodecOptions CodecOptionsOf(const v1::CompressionSpec& spec);

// Whether dense pushes under `spec` carry error feedback.
bool UsesErrorFeedback(const v1::CompressionSpec& spec);

// "FLOAT16", ... for messages.
std::string CodecName(v1::ValueCodec codec);

// INVALID_ARGUMENT naming the field ("training.compression.pull", ...) and what
// is allowed when `spec` is not a valid CompressionSpec.
absl::Status ValidateCompression(const v1::CompressionSpec& spec);

// Appends the encoding of values[0, count) to *out. FLOAT32 copies them.
void EncodeValues(v1::ValueCodec codec, const CodecOptions& options,
                  const float* values, int64_t count, std::string* out);

// Encodes values[0, count) like EncodeValues and writes to lost[0, count)
// what the encoding lost of each value (value - decoded value): exactly the
// value for one TOPK did not send, 0 for one it sent.
void EncodeValuesWithLoss(v1::ValueCodec codec, const CodecOptions& options,
                          const float* values, int64_t count, float* lost,
                          std::string* out);

// The number of values `encoded` holds, checking its header and length:
// INVALID_ARGUMENT when they do not fit the codec, or when it holds more than
// `max_count` values (so a header cannot ask for a huge buffer).
absl::StatusOr<int64_t> EncodedCount(v1::ValueCodec codec,
                                     absl::string_view encoded,
                                     int64_t max_count);

// Decodes `encoded` into out[0, count), count being EncodedCount's answer
// (which the caller must have checked). INVALID_ARGUMENT when the encoding
// is malformed (TOPK indexes out of order or out of range); `out` is then
// partly written.
absl::Status DecodeValues(v1::ValueCodec codec, absl::string_view encoded,
                          float* out, int64_t count);

// EncodedCount and DecodeValues in one, into a vector.
absl::StatusOr<std::vector<float>> DecodeToVector(v1::ValueCodec codec,
                                                  absl::string_view encoded,
                                                  int64_t max_count);

// Bytes one value takes under FLOAT32, FLOAT16 or BFLOAT16 (the codecs a
// pull may use); 0 for the others.
int64_t FixedValueBytes(v1::ValueCodec codec);

// IEEE binary16 and bfloat16 conversions, rounding to nearest even.
uint16_t FloatToHalf(float value);
float HalfToFloat(uint16_t half);
uint16_t FloatToBfloat16(float value);
float Bfloat16ToFloat(uint16_t bf16);

}  // namespace ps

#endif  // PS_COMMON_VALUE_CODEC_H_
