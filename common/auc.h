// ROC AUC of a binary classifier from score histograms, so that each worker
// summarises its part of the test set in a fixed-size message and the
// coordinator merges the parts and computes one AUC over the whole set.
//
// Scores are predicted probabilities p in [0, 1], binned into kAucBins equal
// bins. AUC is the probability that a random positive scores above a random
// negative; a positive and a negative in the same bin count as a tie (1/2).
// Binning costs accuracy only where pairs share a bin: against the exact
// rank-based AUC the error is at most half the fraction of positive-negative
// pairs that share a bin.

#ifndef PS_COMMON_AUC_H_
#define PS_COMMON_AUC_H_

#include <cstdint>
#include <vector>

#include "absl/types/span.h"

namespace ps {

inline constexpr int kAucBins = 8192;

// floor(p * kAucBins), clamped to [0, kAucBins - 1]: bin b holds
// [b / kAucBins, (b + 1) / kAucBins), the last bin also p = 1. p below 0
// and NaN go to bin 0, p above 1 to the last bin.
int AucBin(double p);

// Counts of positive and negative examples per bin. Not thread-safe; merge
// per-thread histograms instead.
struct ScoreHistogram {
  ScoreHistogram() : pos(kAucBins, 0), neg(kAucBins, 0) {}

  // Counts one example with predicted probability p.
  void Add(double p, bool positive) { ++(positive ? pos : neg)[AucBin(p)]; }

  // Adds other's counts to this one's.
  void Merge(const ScoreHistogram& other);

  std::vector<int64_t> pos;  // kAucBins counts.
  std::vector<int64_t> neg;  // kAucBins counts.
};

// The AUC of the examples counted in pos and neg, bins in increasing score
// order (any number of bins, e.g. a ScoreHistogram's or the same counts as
// received in a message). Returns NaN, never 0.5, when the AUC is undefined
// or the input is malformed, so that a missing class cannot pass for a
// random classifier:
//   - no positives or no negatives;
//   - pos and neg of different lengths, or a negative count.
double Auc(absl::Span<const int64_t> pos, absl::Span<const int64_t> neg);

inline double Auc(const ScoreHistogram& histogram) {
  return Auc(histogram.pos, histogram.neg);
}

}  // namespace ps

#endif  // PS_COMMON_AUC_H_
