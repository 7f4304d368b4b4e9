#include "coordinator/job_progress.h"

#include <algorithm>
#include <climits>
#include <map>

#include "common/auc.h"

namespace ps::coordinator {

v1::JobProgress AggregateProgress(
    const std::vector<v1::ReportProgressRequest>& by_rank, int batch_size) {
  v1::JobProgress p;
  int reported = 0;
  int epoch = INT_MAX;
  for (const v1::ReportProgressRequest& r : by_rank) {
    p.set_step(p.step() + r.step());
    p.set_total_steps(p.total_steps() + r.total_steps());
    p.set_examples_per_sec(p.examples_per_sec() + r.examples_per_sec());
    p.set_max_staleness(std::max(p.max_staleness(), r.max_staleness()));
    epoch = std::min(epoch, r.epoch());
    if (r.step() == 0) continue;
    ++reported;
    p.set_loss(p.loss() + r.loss());
    p.set_accuracy(p.accuracy() + r.accuracy());
  }
  p.set_epoch(by_rank.empty() ? 0 : epoch);
  if (reported > 0) {
    p.set_loss(p.loss() / reported);
    p.set_accuracy(p.accuracy() / reported);
  }
  const double steps_per_sec =
      batch_size > 0 ? p.examples_per_sec() / batch_size : 0;
  if (steps_per_sec > 0 && p.total_steps() >= p.step()) {
    p.set_eta_seconds((p.total_steps() - p.step()) / steps_per_sec);
  }
  return p;
}

namespace {

// The ranks' per-round evaluations of a federated job, summed by round
// (ascending); a round's clients are the first reporting rank's (every rank
// computes the same set).
void CombineRounds(const std::vector<v1::CompleteTaskRequest>& by_rank,
                   v1::JobResult* result) {
  std::map<int32_t, v1::RoundEvaluation> rounds;
  for (const v1::CompleteTaskRequest& r : by_rank) {
    for (const v1::RoundEvaluation& e : r.rounds()) {
      auto [it, fresh] = rounds.try_emplace(e.round(), e);
      if (fresh) continue;
      it->second.set_test_examples(it->second.test_examples() +
                                   e.test_examples());
      it->second.set_test_correct(it->second.test_correct() + e.test_correct());
      it->second.set_test_loss_sum(it->second.test_loss_sum() +
                                   e.test_loss_sum());
    }
  }
  for (const auto& [round, e] : rounds) {
    v1::RoundResult& out = *result->add_rounds();
    out.set_round(round);
    *out.mutable_clients() = e.clients();
    if (e.test_examples() == 0) continue;
    out.set_test_accuracy(static_cast<double>(e.test_correct()) /
                          e.test_examples());
    out.set_test_loss(e.test_loss_sum() / e.test_examples());
  }
}

// An ensemble's members over the union of the ranks' test shards: correct
// counts and loss sums add up; the weights are the first reporting rank's
// (every rank fits the same ones on the same held-out rows).
void CombineMembers(const std::vector<v1::CompleteTaskRequest>& by_rank,
                    v1::JobResult* result) {
  struct Sums {
    int64_t correct = 0;
    double loss = 0;
    double weight = -1;
  };
  std::vector<Sums> sums;
  for (const v1::CompleteTaskRequest& r : by_rank) {
    if (sums.size() < static_cast<size_t>(r.members_size())) {
      sums.resize(r.members_size());
    }
    for (int i = 0; i < r.members_size(); ++i) {
      sums[i].correct += r.members(i).test_correct();
      sums[i].loss += r.members(i).test_loss_sum();
      if (sums[i].weight < 0) sums[i].weight = r.members(i).weight();
    }
  }
  const int64_t examples = result->test_examples();
  for (size_t i = 0; i < sums.size(); ++i) {
    v1::MemberResult* m = result->add_members();
    m->set_index(static_cast<int>(i));
    m->set_weight(std::max(0.0, sums[i].weight));
    if (examples > 0) {
      m->set_test_accuracy(static_cast<double>(sums[i].correct) / examples);
      m->set_test_loss(sums[i].loss / examples);
    }
  }
}

}  // namespace

v1::JobResult CombineEvaluations(
    const std::vector<v1::CompleteTaskRequest>& by_rank) {
  v1::JobResult result;
  int64_t correct = 0;
  double loss = 0;
  std::vector<int64_t> pos, neg;
  int64_t trained = 0;
  double loop_seconds = 0;
  for (const v1::CompleteTaskRequest& r : by_rank) {
    trained += r.train_examples();
    loop_seconds = std::max(loop_seconds, r.train_loop_seconds());
    result.set_test_examples(result.test_examples() + r.test_examples());
    correct += r.test_correct();
    loss += r.test_loss_sum();
    if (r.score_hist_pos_size() == 0) continue;
    pos.resize(r.score_hist_pos_size(), 0);
    neg.resize(r.score_hist_neg_size(), 0);
    for (int b = 0; b < r.score_hist_pos_size() && b < r.score_hist_neg_size();
         ++b) {
      pos[b] += r.score_hist_pos(b);
      neg[b] += r.score_hist_neg(b);
    }
  }
  if (!pos.empty()) result.set_test_auc(Auc(pos, neg));
  if (loop_seconds > 0)
    result.set_train_examples_per_sec(trained / loop_seconds);
  if (result.test_examples() > 0) {
    result.set_test_accuracy(static_cast<double>(correct) /
                             result.test_examples());
    result.set_test_loss(loss / result.test_examples());
  }
  CombineRounds(by_rank, &result);
  CombineMembers(by_rank, &result);
  return result;
}

}  // namespace ps::coordinator
