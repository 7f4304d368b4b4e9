// The arithmetic of an ensemble's output Y = sum_i w_i f_i(X), where f_i is
// member i's class probabilities: fitting the weights w on held-out
// examples and scoring the members and their mixture on labelled ones.
// Backend-free and deterministic: every rank that fits on the same
// examples gets the same weights, bit for bit.

#ifndef PS_WORKER_MODEL_ENSEMBLE_MIX_H_
#define PS_WORKER_MODEL_ENSEMBLE_MIX_H_

#include <cstdint>
#include <vector>

#include "worker/model/model.h"

namespace ps::worker {

// out[r * classes + c] = log softmax(logits row r)[c], computed stably.
void LogSoftmax(const float* logits, int64_t rows, int64_t classes,
                double* out);

// The weights (>= 0, summing to 1) that minimise the mixture's mean
// log-loss -1/K sum_k log sum_i w_i exp(label_log_probs[i][k]), where
// label_log_probs[i][k] is member i's log-probability of example k's label.
// Expectation-maximisation for mixture proportions from uniform weights:
// each iteration sets w_i to member i's mean responsibility for the
// examples, never increases the log-loss and stays on the simplex (the
// problem is convex, so it approaches the optimum; a member that is worse
// everywhere decays geometrically). No examples: uniform weights.
std::vector<double> FitMixtureWeights(
    const std::vector<std::vector<double>>& label_log_probs,
    int iterations = 300);

// Accumulates, over batches, each member's and the mixture's loss sum
// (cross-entropy; the mixture's is -log sum_i w_i f_i(x)[y]), correct count
// (largest probability, the first on ties, is the label's) and count.
class EnsembleScorer {
 public:
  // weights: one per member, summing to 1.
  EnsembleScorer(std::vector<double> weights, int64_t classes);

  // member_log_probs[i]: member i's rows x classes log-probabilities (as
  // LogSoftmax gives them); labels: rows classes in [0, classes).
  void Add(const std::vector<std::vector<double>>& member_log_probs,
           const int32_t* labels, int64_t rows);

  const std::vector<double>& weights() const { return weights_; }
  const std::vector<BatchStats>& members() const { return members_; }
  const BatchStats& ensemble() const { return ensemble_; }

 private:
  std::vector<double> weights_;
  std::vector<double> log_weights_;
  int64_t classes_;
  std::vector<BatchStats> members_;
  BatchStats ensemble_;
};

}  // namespace ps::worker

#endif  // PS_WORKER_MODEL_ENSEMBLE_MIX_H_
