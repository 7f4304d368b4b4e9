// Encode and decode speed of the data plane's value codecs
// (common/value_codec.h) on gradient-like values (normal, sigma 0.01), per
// codec: microseconds a call and values per second, for requests of
// --values floats (the MLP example's requests hold about 100,000).
//
//   bazel build -c opt //bench:codec_bench && bazel-bin/bench/codec_bench
#include <chrono>
#include <functional>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "common/value_codec.h"

ABSL_FLAG(int64_t, values, 100000, "values per call");
ABSL_FLAG(int, repeats, 200, "calls timed per codec and direction");

namespace {

using Clock = std::chrono::steady_clock;

double MicrosPerCall(int repeats, const std::function<void()>& call) {
  call();  // warm up
  const Clock::time_point start = Clock::now();
  for (int i = 0; i < repeats; ++i) call();
  return std::chrono::duration<double, std::micro>(Clock::now() - start)
             .count() /
         repeats;
}

}  // namespace

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t n = absl::GetFlag(FLAGS_values);
  const int repeats = absl::GetFlag(FLAGS_repeats);
  std::mt19937_64 rng(1);
  std::normal_distribution<float> d(0.0f, 0.01f);
  std::vector<float> values(n), lost(n), out(n);
  for (float& v : values) v = d(rng);
  std::printf("| codec | bytes | encode us | encode+loss us | decode us | "
              "decode Mvalues/s |\n|---|--:|--:|--:|--:|--:|\n");
  for (ps::v1::ValueCodec codec :
       {ps::v1::FLOAT32, ps::v1::FLOAT16, ps::v1::BFLOAT16, ps::v1::INT8,
        ps::v1::TOPK}) {
    const ps::CodecOptions options;
    std::string bytes;
    const double encode = MicrosPerCall(repeats, [&] {
      bytes.clear();
      ps::EncodeValues(codec, options, values.data(), n, &bytes);
    });
    const double with_loss = MicrosPerCall(repeats, [&] {
      bytes.clear();
      ps::EncodeValuesWithLoss(codec, options, values.data(), n, lost.data(),
                               &bytes);
    });
    const double decode = MicrosPerCall(repeats, [&] {
      (void)ps::DecodeValues(codec, bytes, out.data(), n);
    });
    std::printf("| %s | %zu | %.1f | %.1f | %.1f | %.0f |\n",
                ps::CodecName(codec).c_str(), bytes.size(), encode, with_loss,
                decode, n / decode);
  }
  return 0;
}
