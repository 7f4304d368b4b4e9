#include "server/initializer.h"

#include <cmath>

#include "absl/strings/str_cat.h"

namespace ps::server {
namespace {

// splitmix64: a fast, well-mixed hash of (seed, index).
uint64_t Mix(uint64_t x) {
  x += 0x9e3779b97f4a7c15ULL;
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

}  // namespace

absl::Status ValidateInitializer(const v1::Initializer& init) {
  if (init.kind() != v1::Initializer::ZEROS &&
      init.kind() != v1::Initializer::UNIFORM) {
    return absl::InvalidArgumentError(
        absl::StrCat("init.kind: ", init.kind(), "; allowed: ZEROS, UNIFORM"));
  }
  if (!std::isfinite(init.scale()) || init.scale() < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "init.scale: ", init.scale(), "; allowed: finite and >= 0"));
  }
  return absl::OkStatus();
}

void FillInitial(const v1::Initializer& init, int64_t first, int64_t n,
                 float* out) {
  if (init.kind() != v1::Initializer::UNIFORM) {
    for (int64_t i = 0; i < n; ++i) out[i] = 0.0f;
    return;
  }
  const uint64_t seed = Mix(init.seed());
  const float scale = init.scale();
  for (int64_t i = 0; i < n; ++i) {
    // Top 24 bits -> [0, 1) exactly representable in float.
    const float u =
        static_cast<float>(Mix(seed ^ static_cast<uint64_t>(first + i)) >> 40) *
        (1.0f / 16777216.0f);
    out[i] = (2.0f * u - 1.0f) * scale;
  }
}

}  // namespace ps::server
