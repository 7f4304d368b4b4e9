#include "worker/model/ensemble_mix.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <utility>

namespace ps::worker {
namespace {

constexpr double kNegInf = -std::numeric_limits<double>::infinity();

// log sum_i exp(v[i]); -inf when every v[i] is.
double LogSumExp(const std::vector<double>& v) {
  const double top = *std::max_element(v.begin(), v.end());
  if (top == kNegInf) return kNegInf;
  double sum = 0;
  for (double x : v) sum += std::exp(x - top);
  return top + std::log(sum);
}

// Index of the largest of v[0, n), the first on ties.
int64_t ArgMax(const double* v, int64_t n) {
  return std::max_element(v, v + n) - v;
}

std::vector<double> Logs(const std::vector<double>& weights) {
  std::vector<double> logs;
  for (double w : weights) logs.push_back(w > 0 ? std::log(w) : kNegInf);
  return logs;
}

}  // namespace

void LogSoftmax(const float* logits, int64_t rows, int64_t classes,
                double* out) {
  for (int64_t r = 0; r < rows; ++r) {
    const float* z = logits + r * classes;
    const double top = *std::max_element(z, z + classes);
    double sum = 0;
    for (int64_t c = 0; c < classes; ++c) sum += std::exp(z[c] - top);
    const double log_sum = top + std::log(sum);
    for (int64_t c = 0; c < classes; ++c) out[r * classes + c] = z[c] - log_sum;
  }
}

std::vector<double> FitMixtureWeights(
    const std::vector<std::vector<double>>& label_log_probs, int iterations) {
  const size_t n = label_log_probs.size();
  std::vector<double> weights(n, n == 0 ? 0.0 : 1.0 / n);
  if (n == 0 || label_log_probs[0].empty()) return weights;
  const size_t examples = label_log_probs[0].size();
  std::vector<double> joint(n), responsibility(n);
  for (int it = 0; it < iterations; ++it) {
    const std::vector<double> log_w = Logs(weights);
    std::fill(responsibility.begin(), responsibility.end(), 0.0);
    for (size_t k = 0; k < examples; ++k) {
      for (size_t i = 0; i < n; ++i)
        joint[i] = log_w[i] + label_log_probs[i][k];
      const double log_mix = LogSumExp(joint);
      if (log_mix == kNegInf) continue;  // no member gives the label any mass
      for (size_t i = 0; i < n; ++i) {
        responsibility[i] += std::exp(joint[i] - log_mix);
      }
    }
    double total = 0;
    for (double r : responsibility) total += r;
    if (total <= 0) break;
    for (size_t i = 0; i < n; ++i) weights[i] = responsibility[i] / total;
  }
  return weights;
}

EnsembleScorer::EnsembleScorer(std::vector<double> weights, int64_t classes)
    : weights_(std::move(weights)),
      log_weights_(Logs(weights_)),
      classes_(classes),
      members_(weights_.size()) {}

void EnsembleScorer::Add(
    const std::vector<std::vector<double>>& member_log_probs,
    const int32_t* labels, int64_t rows) {
  const size_t n = weights_.size();
  std::vector<double> mix(classes_), joint(n);
  for (int64_t r = 0; r < rows; ++r) {
    const int32_t y = labels[r];
    for (size_t i = 0; i < n; ++i) {
      const double* lp = member_log_probs[i].data() + r * classes_;
      members_[i].loss_sum -= lp[y];
      members_[i].correct += ArgMax(lp, classes_) == y;
      ++members_[i].count;
    }
    for (int64_t c = 0; c < classes_; ++c) {
      for (size_t i = 0; i < n; ++i) {
        joint[i] = log_weights_[i] + member_log_probs[i][r * classes_ + c];
      }
      mix[c] = LogSumExp(joint);
    }
    ensemble_.loss_sum -= mix[y];
    ensemble_.correct += ArgMax(mix.data(), classes_) == y;
    ++ensemble_.count;
  }
}

}  // namespace ps::worker
