#include "common/value_codec.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <limits>

#include "absl/strings/str_cat.h"

namespace ps {
namespace {

constexpr int64_t kHeaderBytes = 8;  // INT8 and TOPK: two u32
constexpr float kHalfMax = 65504.0f;

uint32_t BitsOf(float f) {
  uint32_t u;
  std::memcpy(&u, &f, sizeof(u));
  return u;
}

float FloatOf(uint32_t u) {
  float f;
  std::memcpy(&f, &u, sizeof(f));
  return f;
}

void PutU32(uint32_t v, std::string* out) {
  char b[4];
  std::memcpy(b, &v, 4);  // little-endian hosts only (x86-64, aarch64)
  out->append(b, 4);
}

uint32_t GetU32(const char* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

void PutU16s(const uint16_t* v, int64_t n, std::string* out) {
  if (n == 0) return;
  const size_t at = out->size();
  out->resize(at + n * 2);
  std::memcpy(out->data() + at, v, n * 2);
}

// The block count of `count` values in blocks of `block`.
int64_t Blocks(int64_t count, int64_t block) {
  return (count + block - 1) / block;
}

int64_t TopK(const CodecOptions& options, int64_t count) {
  if (count == 0) return 0;
  const double k = std::ceil(options.topk_ratio * static_cast<double>(count));
  return std::clamp<int64_t>(static_cast<int64_t>(k), 1, count);
}

// Magnitude for choosing the top k: NaN counts as infinite, so that a NaN
// gradient is sent (and refused by the server) rather than hidden.
float Magnitude(float v) {
  return std::isnan(v) ? std::numeric_limits<float>::infinity() : std::fabs(v);
}

void EncodeInt8(const CodecOptions& options, const float* values, int64_t count,
                std::string* out) {
  const int64_t block = options.int8_block;
  const int64_t blocks = Blocks(count, block);
  PutU32(static_cast<uint32_t>(count), out);
  PutU32(static_cast<uint32_t>(block), out);
  const size_t scales_at = out->size();
  out->resize(scales_at + blocks * 4 + count);
  char* scales = out->data() + scales_at;
  auto* q = reinterpret_cast<int8_t*>(scales + blocks * 4);
  for (int64_t b = 0; b < blocks; ++b) {
    const int64_t first = b * block;
    const int64_t n = std::min(block, count - first);
    float max_abs = 0;
    bool finite = true;
    for (int64_t i = 0; i < n; ++i) {
      const float v = values[first + i];
      finite = finite && std::isfinite(v);
      max_abs = std::max(max_abs, std::fabs(v));
    }
    // A block with a NaN or an infinity decodes to NaN throughout, which the
    // server refuses as it refuses the raw value.
    const float scale =
        !finite ? std::numeric_limits<float>::quiet_NaN() : max_abs / 127.0f;
    std::memcpy(scales + b * 4, &scale, 4);
    // In double: 127 / max_abs overflows float for a subnormal max_abs.
    // A non-finite block's q is 0 (NaN * 0 is NaN, which no int8 holds).
    const double inverse = (finite && max_abs > 0) ? 127.0 / max_abs : 0.0;
    for (int64_t i = 0; i < n; ++i) {
      const double r = std::nearbyint(values[first + i] * inverse);
      q[first + i] =
          finite ? static_cast<int8_t>(std::clamp(r, -127.0, 127.0)) : 0;
    }
  }
}

void EncodeTopK(const CodecOptions& options, const float* values,
                int64_t count, std::string* out) {
  const int64_t k = TopK(options, count);
  PutU32(static_cast<uint32_t>(count), out);
  PutU32(static_cast<uint32_t>(k), out);
  if (k == 0) return;
  // The k-th largest magnitude by radix selection on the magnitudes' bits
  // (for floats >= 0, and infinity, the bits order as the values do): a
  // histogram of the top 16 bits finds the bucket that holds it, and a
  // selection among that bucket's few values the exact one. Then one pass
  // in index order takes every value above it and, of those equal to it,
  // the first ones (ties by index: deterministic), indexes ascending.
  std::vector<uint32_t> keys(count);
  std::vector<uint32_t> histogram(1 << 16, 0);
  for (int64_t i = 0; i < count; ++i) {
    keys[i] = BitsOf(Magnitude(values[i]));
    ++histogram[keys[i] >> 16];
  }
  int64_t above = 0;
  uint32_t bucket = (1 << 16) - 1;
  while (above + histogram[bucket] < k) above += histogram[bucket--];
  std::vector<uint32_t> low;
  low.reserve(histogram[bucket]);
  for (uint32_t key : keys) {
    if ((key >> 16) == bucket) low.push_back(key & 0xffffu);
  }
  const int64_t rank = k - above;  // 1-based, within the bucket
  std::nth_element(low.begin(), low.begin() + (rank - 1), low.end(),
                   std::greater<uint32_t>());
  const uint32_t threshold = (bucket << 16) | low[rank - 1];
  int64_t ties = k;
  for (uint32_t key : keys) ties -= key > threshold;
  const size_t at = out->size();
  out->resize(at + k * 8);
  char* index = out->data() + at;
  char* value = index + k * 4;
  int64_t taken = 0;
  for (int64_t i = 0; i < count && taken < k; ++i) {
    const bool take =
        keys[i] > threshold || (keys[i] == threshold && ties-- > 0);
    if (!take) continue;
    const uint32_t i32 = static_cast<uint32_t>(i);
    std::memcpy(index + taken * 4, &i32, 4);
    std::memcpy(value + taken * 4, &values[i], 4);
    ++taken;
  }
}

absl::Status Malformed(v1::ValueCodec codec, absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat(
      "values: malformed ", CodecName(codec), " encoding: ", what));
}

}  // namespace

uint16_t FloatToHalf(float value) {
  // Rounding to nearest even by float arithmetic and integer carries
  // (after F. Giesen's float_to_half_fast3_rtne).
  constexpr uint32_t kInf32 = 255u << 23;
  constexpr uint32_t kDenormMagic = ((127u - 15u) + (23u - 10u) + 1u) << 23;
  uint32_t x = BitsOf(value);
  const uint32_t sign = x & 0x80000000u;
  x ^= sign;
  uint16_t h;
  if (x > kInf32) {
    h = 0x7e00;  // NaN
  } else if (x == kInf32) {
    h = 0x7c00;
  } else if (x >= BitsOf(kHalfMax)) {
    h = 0x7bff;  // saturates at 65504 (rounding could not pass it either)
  } else if (x < (113u << 23)) {  // below 2^-14: subnormal or zero
    const float f = FloatOf(x) + FloatOf(kDenormMagic);
    h = static_cast<uint16_t>(BitsOf(f) - kDenormMagic);
  } else {
    const uint32_t odd = (x >> 13) & 1u;
    x += (static_cast<uint32_t>(15 - 127) << 23) + 0xfffu + odd;
    h = static_cast<uint16_t>(x >> 13);
  }
  return static_cast<uint16_t>(h | (sign >> 16));
}

float HalfToFloat(uint16_t half) {
  constexpr uint32_t kShiftedExp = 0x7c00u << 13;
  uint32_t o = (half & 0x7fffu) << 13;
  const uint32_t exp = kShiftedExp & o;
  o += (127u - 15u) << 23;
  if (exp == kShiftedExp) {
    o += (128u - 16u) << 23;  // Inf, NaN
  } else if (exp == 0) {
    o += 1u << 23;  // subnormal: renormalise
    o = BitsOf(FloatOf(o) - FloatOf(113u << 23));
  }
  o |= static_cast<uint32_t>(half & 0x8000u) << 16;
  return FloatOf(o);
}

uint16_t FloatToBfloat16(float value) {
  uint32_t x = BitsOf(value);
  if ((x & 0x7fffffffu) > 0x7f800000u) {
    return static_cast<uint16_t>((x >> 16) | 0x40);  // quiet NaN
  }
  x += 0x7fffu + ((x >> 16) & 1u);
  return static_cast<uint16_t>(x >> 16);
}

float Bfloat16ToFloat(uint16_t bf16) {
  return FloatOf(static_cast<uint32_t>(bf16) << 16);
}

CodecOptions CodecOptionsOf(const v1::CompressionSpec& spec) {
  CodecOptions options;
  if (spec.topk_ratio() > 0) options.topk_ratio = spec.topk_ratio();
  if (spec.int8_block() > 0) options.int8_block = spec.int8_block();
  return options;
}

bool UsesErrorFeedback(const v1::CompressionSpec& spec) {
  if (spec.push() == v1::FLOAT32) return false;
  if (spec.has_error_feedback()) return spec.error_feedback();
  return spec.push() == v1::TOPK || spec.push() == v1::INT8;
}

std::string CodecName(v1::ValueCodec codec) {
  return v1::ValueCodec_IsValid(codec) ? v1::ValueCodec_Name(codec)
                                       : absl::StrCat("codec ", codec);
}

absl::Status ValidateCompression(const v1::CompressionSpec& spec) {
  const std::string all = "FLOAT32, FLOAT16, BFLOAT16, INT8, TOPK";
  if (!v1::ValueCodec_IsValid(spec.push())) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.compression.push: ", spec.push(), "; allowed: ", all));
  }
  if (!v1::ValueCodec_IsValid(spec.sparse_push()) ||
      spec.sparse_push() == v1::TOPK) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.compression.sparsePush: ", CodecName(spec.sparse_push()),
        "; allowed: FLOAT32, FLOAT16, BFLOAT16, INT8 (sparse rows are sent "
        "only for the keys a batch touched already)"));
  }
  if (FixedValueBytes(spec.pull()) == 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("training.compression.pull: ", CodecName(spec.pull()),
                     "; allowed: FLOAT32, FLOAT16, BFLOAT16"));
  }
  if (!(spec.topk_ratio() >= 0 && spec.topk_ratio() <= 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("training.compression.topkRatio: ", spec.topk_ratio(),
                     "; allowed: (0, 1], or 0 for 0.01"));
  }
  if (spec.int8_block() != 0 &&
      (spec.int8_block() < 16 || spec.int8_block() > 65536)) {
    return absl::InvalidArgumentError(
        absl::StrCat("training.compression.int8Block: ", spec.int8_block(),
                     "; allowed: [16, 65536], or 0 for 256"));
  }
  if (spec.has_error_feedback() && spec.error_feedback() &&
      spec.push() == v1::FLOAT32) {
    return absl::InvalidArgumentError(
        "training.compression.errorFeedback: true with push FLOAT32, which "
        "loses "
        "nothing; allowed only with a lossy push codec");
  }
  return absl::OkStatus();
}

int64_t FixedValueBytes(v1::ValueCodec codec) {
  switch (codec) {
    case v1::FLOAT32:
      return 4;
    case v1::FLOAT16:
    case v1::BFLOAT16:
      return 2;
    default:
      return 0;
  }
}

void EncodeValues(v1::ValueCodec codec, const CodecOptions& options,
                  const float* values, int64_t count, std::string* out) {
  switch (codec) {
    case v1::FLOAT16:
    case v1::BFLOAT16: {
      std::vector<uint16_t> h(count);
      if (codec == v1::FLOAT16) {
        for (int64_t i = 0; i < count; ++i) h[i] = FloatToHalf(values[i]);
      } else {
        for (int64_t i = 0; i < count; ++i) h[i] = FloatToBfloat16(values[i]);
      }
      PutU16s(h.data(), count, out);
      return;
    }
    case v1::INT8:
      EncodeInt8(options, values, count, out);
      return;
    case v1::TOPK:
      EncodeTopK(options, values, count, out);
      return;
    default:
      if (count > 0) {
        out->append(reinterpret_cast<const char*>(values), count * 4);
      }
      return;
  }
}

void EncodeValuesWithLoss(v1::ValueCodec codec, const CodecOptions& options,
                          const float* values, int64_t count, float* lost,
                          std::string* out) {
  const size_t at = out->size();
  EncodeValues(codec, options, values, count, out);
  // Decoding what was just encoded cannot fail.
  (void)DecodeValues(codec, absl::string_view(*out).substr(at), lost, count);
  for (int64_t i = 0; i < count; ++i) lost[i] = values[i] - lost[i];
}

absl::StatusOr<int64_t> EncodedCount(v1::ValueCodec codec,
                                     absl::string_view encoded,
                                     int64_t max_count) {
  const int64_t bytes = static_cast<int64_t>(encoded.size());
  int64_t count = 0;
  if (const int64_t width = FixedValueBytes(codec); width > 0) {
    if (bytes % width != 0) {
      return Malformed(
          codec, absl::StrCat(bytes, " bytes, not a multiple of ", width));
    }
    count = bytes / width;
  } else if (codec == v1::INT8 || codec == v1::TOPK) {
    if (bytes < kHeaderBytes) {
      return Malformed(codec, absl::StrCat(bytes, " bytes, shorter than its ",
                                           kHeaderBytes, "-byte header"));
    }
    count = GetU32(encoded.data());
    const int64_t second = GetU32(encoded.data() + 4);
    int64_t expected = 0;
    if (codec == v1::INT8) {
      if (second < 1) return Malformed(codec, "block size 0");
      expected = kHeaderBytes + Blocks(count, second) * 4 + count;
    } else {
      if (second > count) {
        return Malformed(
            codec, absl::StrCat("k = ", second, " of ", count, " values"));
      }
      expected = kHeaderBytes + second * 8;
    }
    if (bytes != expected) {
      return Malformed(
          codec, absl::StrCat(bytes, " bytes where its header (", count, ", ",
                              second, ") needs ", expected));
    }
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("codec: ", CodecName(codec),
                     "; allowed: FLOAT32, FLOAT16, BFLOAT16, INT8, TOPK"));
  }
  if (count > max_count) {
    return Malformed(
        codec, absl::StrCat("holds ", count,
                            " values; the request has room for ", max_count));
  }
  return count;
}

absl::Status DecodeValues(v1::ValueCodec codec, absl::string_view encoded,
                          float* out, int64_t count) {
  const char* p = encoded.data();
  switch (codec) {
    case v1::FLOAT32:
      if (count > 0) std::memcpy(out, p, count * 4);
      return absl::OkStatus();
    case v1::FLOAT16:
    case v1::BFLOAT16:
      for (int64_t i = 0; i < count; ++i) {
        uint16_t h;
        std::memcpy(&h, p + i * 2, 2);
        out[i] = codec == v1::FLOAT16 ? HalfToFloat(h) : Bfloat16ToFloat(h);
      }
      return absl::OkStatus();
    case v1::INT8: {
      const int64_t block = GetU32(p + 4);
      const char* scales = p + kHeaderBytes;
      const auto* q =
          reinterpret_cast<const int8_t*>(scales + Blocks(count, block) * 4);
      for (int64_t i = 0; i < count; ++i) {
        float scale;
        std::memcpy(&scale, scales + (i / block) * 4, 4);
        out[i] = static_cast<float>(q[i]) * scale;
      }
      return absl::OkStatus();
    }
    case v1::TOPK: {
      const int64_t k = GetU32(p + 4);
      const char* index = p + kHeaderBytes;
      const char* value = index + k * 4;
      std::fill(out, out + count, 0.0f);
      int64_t last = -1;
      for (int64_t i = 0; i < k; ++i) {
        const int64_t at = GetU32(index + i * 4);
        if (at <= last || at >= count) {
          return Malformed(
              codec, absl::StrCat("index ", i, " is ", at, " after ", last,
                                  "; allowed: "
                                  "ascending, below ",
                                  count));
        }
        std::memcpy(&out[at], value + i * 4, 4);
        last = at;
      }
      return absl::OkStatus();
    }
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("codec: ", CodecName(codec), " is unknown"));
  }
}

absl::StatusOr<std::vector<float>> DecodeToVector(v1::ValueCodec codec,
                                                  absl::string_view encoded,
                                                  int64_t max_count) {
  absl::StatusOr<int64_t> count = EncodedCount(codec, encoded, max_count);
  if (!count.ok()) return count.status();
  std::vector<float> out(*count);
  if (absl::Status s = DecodeValues(codec, encoded, out.data(), *count);
      !s.ok()) {
    return s;
  }
  return out;
}

}  // namespace ps
