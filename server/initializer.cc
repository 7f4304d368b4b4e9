#include "server/initializer.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "common/hash.h"

namespace ps::server {
namespace {

// A hash's top 24 bits as a float in [-scale, scale): [0, 1) exactly
// representable in float, then stretched.
float Uniform(uint64_t hash, float scale) {
  const float u = static_cast<float>(hash >> 40) * (1.0f / 16777216.0f);
  return (2.0f * u - 1.0f) * scale;
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
    std::fill(out, out + n, 0.0f);
    return;
  }
  const uint64_t seed = SplitMix64(init.seed());
  for (int64_t i = 0; i < n; ++i) {
    out[i] = Uniform(SplitMix64(seed ^ static_cast<uint64_t>(first + i)),
                     init.scale());
  }
}

void FillInitialRow(const v1::Initializer& init, uint64_t key, int dim,
                    float* out) {
  if (init.kind() != v1::Initializer::UNIFORM) {
    std::fill(out, out + dim, 0.0f);
    return;
  }
  // Mixing the key on its own first keeps (seed, key) pairs that differ in
  // the same bits from landing on the same stream.
  const uint64_t base =
      SplitMix64(SplitMix64(init.seed()) ^ SplitMix64(key));
  for (int j = 0; j < dim; ++j) {
    out[j] = Uniform(SplitMix64(base + static_cast<uint64_t>(j)), init.scale());
  }
}

}  // namespace ps::server
