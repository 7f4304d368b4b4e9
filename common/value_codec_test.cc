#include "common/value_codec.h"

#include <cmath>
#include <cstring>
#include <limits>
#include <random>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ps {
namespace {

std::vector<float> Gaussian(int64_t n, uint64_t seed, float sigma = 1.0f) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<float> d(0.0f, sigma);
  std::vector<float> v(n);
  for (float& x : v) x = d(rng);
  return v;
}

std::vector<float> RoundTrip(v1::ValueCodec codec, const CodecOptions& options,
                             const std::vector<float>& values) {
  std::string bytes;
  EncodeValues(codec, options, values.data(), values.size(), &bytes);
  absl::StatusOr<std::vector<float>> out =
      DecodeToVector(codec, bytes, values.size());
  EXPECT_TRUE(out.ok()) << out.status();
  return out.ok() ? *out : std::vector<float>();
}

TEST(ValueCodecTest, Float32IsExact) {
  const std::vector<float> v = Gaussian(1000, 1);
  EXPECT_EQ(RoundTrip(v1::FLOAT32, {}, v), v);
}

TEST(ValueCodecTest, Float16ErrorWithinHalfAnUlp) {
  std::vector<float> v = Gaussian(100000, 2, 10.0f);
  v.push_back(1e-6f);   // subnormal in binary16
  v.push_back(-3e-8f);  // below half the smallest subnormal: 0
  v.push_back(65504.0f);
  const std::vector<float> d = RoundTrip(v1::FLOAT16, {}, v);
  ASSERT_EQ(d.size(), v.size());
  for (size_t i = 0; i < v.size(); ++i) {
    // binary16 has 11 significant bits: relative error <= 2^-11 for normal
    // values, absolute <= 2^-25 (half the smallest subnormal) below 2^-14.
    const float bound = std::max(std::fabs(v[i]) * 0x1p-11f, 0x1p-25f);
    EXPECT_LE(std::fabs(d[i] - v[i]), bound) << i << ": " << v[i];
  }
  EXPECT_EQ(d[d.size() - 1], 65504.0f);
}

TEST(ValueCodecTest, Float16KnownValuesAndSaturation) {
  EXPECT_EQ(FloatToHalf(1.0f), 0x3c00);
  EXPECT_EQ(FloatToHalf(-2.0f), 0xc000);
  EXPECT_EQ(FloatToHalf(0.0f), 0x0000);
  EXPECT_EQ(FloatToHalf(0x1p-24f), 0x0001);         // the smallest subnormal
  EXPECT_EQ(FloatToHalf(1.0f + 0x1p-11f), 0x3c00);  // a tie: to even
  EXPECT_EQ(FloatToHalf(1.0f + 0x1p-10f + 0x1p-11f), 0x3c02);  // tie: even
  EXPECT_EQ(FloatToHalf(1e6f), 0x7bff);  // saturates at 65504
  EXPECT_EQ(FloatToHalf(-1e30f), 0xfbff);
  EXPECT_EQ(FloatToHalf(std::numeric_limits<float>::infinity()), 0x7c00);
  EXPECT_TRUE(std::isnan(HalfToFloat(FloatToHalf(std::nanf("")))));
  for (uint32_t h = 0; h < 0x7c00; ++h) {  // every finite half round-trips
    ASSERT_EQ(FloatToHalf(HalfToFloat(static_cast<uint16_t>(h))), h) << h;
  }
}

TEST(ValueCodecTest, Bfloat16ErrorWithinHalfAnUlp) {
  const std::vector<float> v = Gaussian(100000, 3, 1e3f);
  const std::vector<float> d = RoundTrip(v1::BFLOAT16, {}, v);
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_LE(std::fabs(d[i] - v[i]), std::fabs(v[i]) * 0x1p-8f) << i;
  }
  EXPECT_EQ(FloatToBfloat16(1.0f), 0x3f80);
  EXPECT_TRUE(std::isnan(Bfloat16ToFloat(FloatToBfloat16(std::nanf("")))));
}

TEST(ValueCodecTest, Int8ErrorWithinHalfAStepOfItsBlock) {
  for (int block : {16, 256, 1000}) {
    std::vector<float> v = Gaussian(10007, 4, 0.01f);
    for (int i = 0; i < 64; ++i) v[i] = 0.0f;  // an all-zero block
    const CodecOptions options{.int8_block = block};
    const std::vector<float> d = RoundTrip(v1::INT8, options, v);
    ASSERT_EQ(d.size(), v.size());
    for (size_t first = 0; first < v.size(); first += block) {
      const size_t last = std::min(v.size(), first + block);
      float max_abs = 0;
      for (size_t i = first; i < last; ++i) {
        max_abs = std::max(max_abs, std::fabs(v[i]));
      }
      const float step = max_abs / 127.0f;
      for (size_t i = first; i < last; ++i) {
        EXPECT_LE(std::fabs(d[i] - v[i]), step * 0.5001f + 1e-12f)
            << "block " << block << " value " << i;
      }
    }
  }
}

TEST(ValueCodecTest, Int8BytesAreAQuarterPlusScales) {
  const std::vector<float> v = Gaussian(1 << 16, 5);
  std::string bytes;
  EncodeValues(v1::INT8, {.int8_block = 256}, v.data(), v.size(), &bytes);
  EXPECT_EQ(bytes.size(), 8 + 256 * 4 + (1 << 16));
}

TEST(ValueCodecTest, TopKKeepsTheLargestMagnitudes) {
  std::vector<float> v = Gaussian(1000, 6);
  const CodecOptions options{.topk_ratio = 0.05};
  const std::vector<float> d = RoundTrip(v1::TOPK, options, v);
  std::vector<float> magnitudes;
  for (float x : v) magnitudes.push_back(std::fabs(x));
  std::sort(magnitudes.begin(), magnitudes.end(), std::greater<float>());
  const float threshold = magnitudes[49];  // k = 50
  int kept = 0;
  for (size_t i = 0; i < v.size(); ++i) {
    if (d[i] != 0) {
      ++kept;
      EXPECT_EQ(d[i], v[i]);  // sent values are exact
      EXPECT_GE(std::fabs(v[i]), threshold);
    } else {
      EXPECT_LE(std::fabs(v[i]), threshold);
    }
  }
  EXPECT_EQ(kept, 50);
  std::string bytes;
  EncodeValues(v1::TOPK, options, v.data(), v.size(), &bytes);
  EXPECT_EQ(bytes.size(), 8 + 50 * 8);
}

TEST(ValueCodecTest, TopKIsDeterministicWithTies) {
  std::vector<float> v(100, 1.0f);
  std::string a, b;
  EncodeValues(v1::TOPK, {.topk_ratio = 0.1}, v.data(), v.size(), &a);
  EncodeValues(v1::TOPK, {.topk_ratio = 0.1}, v.data(), v.size(), &b);
  EXPECT_EQ(a, b);
  const std::vector<float> d = RoundTrip(v1::TOPK, {.topk_ratio = 0.1}, v);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(d[i], i < 10 ? 1.0f : 0.0f) << i;
}

TEST(ValueCodecTest, ErrorFeedbackCarriesTheResidualExactly) {
  // TOPK: the loss is exactly what was not sent, and sent + lost == values.
  const std::vector<float> v = Gaussian(5000, 7);
  std::vector<float> lost(v.size());
  std::string bytes;
  EncodeValuesWithLoss(v1::TOPK, {.topk_ratio = 0.01}, v.data(), v.size(),
                       lost.data(), &bytes);
  absl::StatusOr<std::vector<float>> sent =
      DecodeToVector(v1::TOPK, bytes, v.size());
  ASSERT_TRUE(sent.ok());
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_EQ((*sent)[i] + lost[i], v[i]) << i;
    EXPECT_TRUE((*sent)[i] == 0 || lost[i] == 0) << i;
  }
  // Over steps of the same gradient, everything is sent eventually: the
  // running total sent plus the residual is the total meant, to rounding.
  std::vector<float> residual(v.size(), 0.0f), total_sent(v.size(), 0.0f);
  const int steps = 200;
  for (int s = 0; s < steps; ++s) {
    std::vector<float> meant(v.size());
    for (size_t i = 0; i < v.size(); ++i) meant[i] = v[i] + residual[i];
    bytes.clear();
    EncodeValuesWithLoss(v1::TOPK, {.topk_ratio = 0.01}, meant.data(),
                         meant.size(), residual.data(), &bytes);
    sent = DecodeToVector(v1::TOPK, bytes, v.size());
    ASSERT_TRUE(sent.ok());
    for (size_t i = 0; i < v.size(); ++i) total_sent[i] += (*sent)[i];
  }
  for (size_t i = 0; i < v.size(); ++i) {
    EXPECT_NEAR(total_sent[i] + residual[i], steps * v[i],
                1e-3f * steps * std::fabs(v[i]) + 1e-3f)
        << i;
  }
}

TEST(ValueCodecTest, Int8LossIsValueMinusDecoded) {
  const std::vector<float> v = Gaussian(3000, 8);
  std::vector<float> lost(v.size());
  std::string bytes;
  EncodeValuesWithLoss(v1::INT8, {}, v.data(), v.size(), lost.data(), &bytes);
  const std::vector<float> d = *DecodeToVector(v1::INT8, bytes, v.size());
  for (size_t i = 0; i < v.size(); ++i) EXPECT_EQ(lost[i], v[i] - d[i]);
}

TEST(ValueCodecTest, NonFiniteValuesStayNonFinite) {
  std::vector<float> v = Gaussian(600, 9);
  v[300] = std::numeric_limits<float>::quiet_NaN();
  for (v1::ValueCodec codec : {v1::FLOAT16, v1::BFLOAT16, v1::INT8, v1::TOPK}) {
    const std::vector<float> d = RoundTrip(codec, {.topk_ratio = 0.001}, v);
    bool any = false;
    for (float x : d) any = any || !std::isfinite(x);
    EXPECT_TRUE(any) << CodecName(codec);
  }
}

TEST(ValueCodecTest, MalformedEncodingsAreRefused) {
  const std::vector<float> v = Gaussian(100, 10);
  std::string topk, int8;
  EncodeValues(v1::TOPK, {.topk_ratio = 0.1}, v.data(), v.size(), &topk);
  EncodeValues(v1::INT8, {}, v.data(), v.size(), &int8);
  auto refused = [](v1::ValueCodec codec, const std::string& bytes, int64_t max,
                    const std::string& words) {
    absl::StatusOr<std::vector<float>> d = DecodeToVector(codec, bytes, max);
    ASSERT_FALSE(d.ok()) << words;
    EXPECT_EQ(d.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(d.status().message().find(words), std::string::npos)
        << d.status();
  };
  refused(v1::FLOAT16, "abc", 100, "not a multiple of 2");
  refused(v1::TOPK, topk.substr(0, 5), 100, "shorter than its 8-byte header");
  refused(v1::TOPK, topk.substr(0, topk.size() - 1), 100, "needs");
  refused(v1::TOPK, topk, 99, "room for 99");
  refused(v1::INT8, int8 + "x", 100, "needs");
  std::string swapped = topk;  // indexes 0 and 1 swapped: not ascending
  std::swap_ranges(swapped.begin() + 8, swapped.begin() + 12,
                   swapped.begin() + 12);
  refused(v1::TOPK, swapped, 100, "ascending");
  std::string huge = int8;
  const uint32_t count = 0xffffffffu;
  std::memcpy(huge.data(), &count, 4);
  refused(v1::INT8, huge, 1 << 20, "needs");
  std::string zero_block = int8;
  std::memset(zero_block.data() + 4, 0, 4);
  refused(v1::INT8, zero_block, 100, "block size 0");
  EXPECT_EQ(
      DecodeToVector(static_cast<v1::ValueCodec>(9), "", 1).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(ValueCodecTest, ValidateCompressionNamesTheField) {
  v1::CompressionSpec spec;
  EXPECT_TRUE(ValidateCompression(spec).ok());
  spec.set_push(v1::TOPK);
  spec.set_topk_ratio(0.001f);
  EXPECT_TRUE(ValidateCompression(spec).ok());
  EXPECT_TRUE(UsesErrorFeedback(spec));
  spec.set_error_feedback(false);
  EXPECT_FALSE(UsesErrorFeedback(spec));
  auto message = [](const v1::CompressionSpec& s) {
    return std::string(ValidateCompression(s).message());
  };
  v1::CompressionSpec bad;
  bad.set_pull(v1::TOPK);
  EXPECT_NE(message(bad).find("training.compression.pull: TOPK"),
            std::string::npos);
  bad = {};
  bad.set_sparse_push(v1::TOPK);
  EXPECT_NE(message(bad).find("training.compression.sparsePush"),
            std::string::npos);
  bad = {};
  bad.set_topk_ratio(1.5f);
  EXPECT_NE(message(bad).find("training.compression.topkRatio"),
            std::string::npos);
  bad = {};
  bad.set_int8_block(3);
  EXPECT_NE(message(bad).find("training.compression.int8Block"),
            std::string::npos);
  bad = {};
  bad.set_error_feedback(true);
  EXPECT_NE(message(bad).find("training.compression.errorFeedback"),
            std::string::npos);
  bad = {};
  bad.set_push(static_cast<v1::ValueCodec>(7));
  EXPECT_NE(message(bad).find("training.compression.push: 7"),
            std::string::npos);
}

}  // namespace
}  // namespace ps
