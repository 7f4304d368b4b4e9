#include "common/auc.h"

#include <cmath>
#include <limits>

namespace ps {

int AucBin(double p) {
  if (!(p > 0)) return 0;  // Also NaN.
  if (p >= 1) return kAucBins - 1;
  const int bin = static_cast<int>(p * kAucBins);
  return bin < kAucBins ? bin : kAucBins - 1;
}

void ScoreHistogram::Merge(const ScoreHistogram& other) {
  for (int b = 0; b < kAucBins; ++b) {
    pos[b] += other.pos[b];
    neg[b] += other.neg[b];
  }
}

// Sweeps the bins from the lowest score up: each positive beats every
// negative in a lower bin and ties with those in its own.
double Auc(absl::Span<const int64_t> pos, absl::Span<const int64_t> neg) {
  constexpr double kUndefined = std::numeric_limits<double>::quiet_NaN();
  if (pos.size() != neg.size()) return kUndefined;
  double negatives_below = 0;
  double wins = 0;  // Positive-negative pairs ranked right, ties as 1/2.
  double positives = 0;
  for (size_t b = 0; b < pos.size(); ++b) {
    if (pos[b] < 0 || neg[b] < 0) return kUndefined;
    const double p = static_cast<double>(pos[b]);
    const double n = static_cast<double>(neg[b]);
    wins += p * (negatives_below + 0.5 * n);
    negatives_below += n;
    positives += p;
  }
  if (positives == 0 || negatives_below == 0) return kUndefined;
  return wins / (positives * negatives_below);
}

}  // namespace ps
