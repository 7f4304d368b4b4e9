// libFuzzer target: the data plane's value codecs (common/value_codec.h).
// Input: one byte choosing the codec (mod 5), one the test, then bytes.
//   Test 0: the bytes as an encoding a peer sent. Decoding must not crash
//     (the sanitizers watch the reads), a refusal is INVALID_ARGUMENT, and a
//     count above the bound is refused before anything is allocated.
//   Test 1: the bytes as float32 values to encode. The encoding must decode
//     to as many values, the same way twice; what EncodeValuesWithLoss says
//     was lost must be value minus decoded; FLOAT32 must round-trip; TOPK
//     must keep exactly what it sends.
// Aborts on any broken rule.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "common/value_codec.h"

namespace {

namespace v1 = ::ps::v1;

bool Same(float a, float b) {
  return std::memcmp(&a, &b, 4) == 0 || (std::isnan(a) && std::isnan(b));
}

void DecodeForeign(v1::ValueCodec codec, const std::string& bytes) {
  constexpr int64_t kBound = 1 << 16;
  absl::StatusOr<std::vector<float>> d =
      ps::DecodeToVector(codec, bytes, kBound);
  if (!d.ok()) {
    if (d.status().code() != absl::StatusCode::kInvalidArgument) abort();
    return;
  }
  if (static_cast<int64_t>(d->size()) > kBound) abort();
}

void EncodeOwn(v1::ValueCodec codec, uint8_t knob, const std::string& bytes) {
  const int64_t n = static_cast<int64_t>(bytes.size() / 4);
  std::vector<float> values(n);
  if (n > 0) std::memcpy(values.data(), bytes.data(), n * 4);
  ps::CodecOptions options;
  options.topk_ratio = (knob % 100 + 1) / 100.0;
  options.int8_block = 16 + knob;
  std::string a, b;
  std::vector<float> lost(n);
  ps::EncodeValues(codec, options, values.data(), n, &a);
  ps::EncodeValuesWithLoss(codec, options, values.data(), n, lost.data(), &b);
  if (a != b) abort();  // deterministic
  absl::StatusOr<std::vector<float>> d = ps::DecodeToVector(codec, a, n);
  if (!d.ok() || static_cast<int64_t>(d->size()) != n) abort();
  for (int64_t i = 0; i < n; ++i) {
    const float v = values[i], out = (*d)[i];
    if (!std::isfinite(v)) continue;
    if (std::isfinite(out) && !Same(lost[i], v - out)) abort();
    if (codec == v1::FLOAT32 && !Same(out, v)) abort();
    if (codec == v1::TOPK && out != 0 && !Same(out, v)) abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 2) return 0;
  const auto codec = static_cast<v1::ValueCodec>(data[0] % 5);
  const std::string bytes(reinterpret_cast<const char*>(data + 2), size - 2);
  if (data[1] % 2 == 0) {
    DecodeForeign(codec, bytes);
  } else {
    EncodeOwn(codec, data[1] / 2, bytes);
  }
  return 0;
}
