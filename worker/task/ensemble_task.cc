#include "worker/task/ensemble_task.h"

#include <algorithm>
#include <cmath>
#include <utility>
#include <vector>

#include "common/model_layout.h"
#include "worker/cpu/cpu_mlp.h"
#include "worker/model/ensemble_mix.h"
#include "worker/model/ensemble_model.h"

namespace ps::worker {
namespace {

// Rows [begin, end) of `all`, with split_count `split_count`.
Examples Rows(const Examples& all, int64_t begin, int64_t end,
              int64_t split_count) {
  Examples out;
  out.count = end - begin;
  out.split_count = split_count;
  out.dim = all.dim;
  out.x.assign(all.x.begin() + begin * all.dim, all.x.begin() + end * all.dim);
  out.y.assign(all.y.begin() + begin, all.y.begin() + end);
  return out;
}

// The members' CPU models, which return logits, and where each one's
// parameters start.
struct Members {
  std::vector<std::unique_ptr<Model>> models;
  std::vector<int64_t> offsets;
  int64_t classes = 0;
};

absl::StatusOr<Members> CpuMembers(const v1::JobSpec& spec, int batch_rows) {
  absl::StatusOr<std::vector<std::vector<int64_t>>> sizes =
      MemberLayerSizes(spec);
  if (!sizes.ok()) return sizes.status();
  Members m;
  int64_t offset = 0;
  for (const std::vector<int64_t>& s : *sizes) {
    absl::StatusOr<std::unique_ptr<Model>> model = CreateCpuMlp(s, batch_rows);
    if (!model.ok()) return model.status();
    m.offsets.push_back(offset);
    offset += (*model)->num_params();
    m.classes = s.back();
    m.models.push_back(*std::move(model));
  }
  return m;
}

// Calls visit(log_probs, first, rows) for each batch of `data`, where
// log_probs[i] is member i's rows x classes log-probabilities.
template <typename Visit>
absl::Status ForEachBatch(Members& m, const float* params, const Examples& data,
                          int batch_rows, Visit visit) {
  std::vector<float> logits(int64_t{batch_rows} * m.classes);
  std::vector<std::vector<double>> log_probs(
      m.models.size(), std::vector<double>(logits.size()));
  for (int64_t first = 0; first < data.count; first += batch_rows) {
    const int64_t rows = std::min<int64_t>(batch_rows, data.count - first);
    const Batch batch{data.x.data() + first * data.dim, nullptr, rows,
                      data.dim};
    for (size_t i = 0; i < m.models.size(); ++i) {
      absl::Status s =
          m.models[i]->Logits(params + m.offsets[i], batch, logits.data());
      if (!s.ok()) return s;
      LogSoftmax(logits.data(), rows, m.classes, log_probs[i].data());
    }
    visit(log_probs, first, rows);
  }
  return absl::OkStatus();
}

// The weights fitted on `holdout`: each member's log-probability of every
// held-out label, then FitMixtureWeights.
absl::StatusOr<std::vector<double>> FitWeights(Members& m, const float* params,
                                               const Examples& holdout,
                                               int batch_rows) {
  std::vector<std::vector<double>> label_log_probs(m.models.size());
  absl::Status s =
      ForEachBatch(m, params, holdout, batch_rows,
                   [&](const std::vector<std::vector<double>>& lp,
                       int64_t first, int64_t rows) {
                     for (size_t i = 0; i < lp.size(); ++i) {
                       for (int64_t r = 0; r < rows; ++r) {
                         label_log_probs[i].push_back(
                             lp[i][r * m.classes + holdout.y[first + r]]);
                       }
                     }
                   });
  if (!s.ok()) return s;
  return FitMixtureWeights(label_log_probs);
}

// Each member's epoch order and batch buffers.
struct MemberData {
  uint64_t seed = 0;
  std::vector<int64_t> order;
  std::vector<float> x;
  std::vector<int32_t> y;
};

}  // namespace

int64_t HoldoutRows(const v1::JobSpec& spec, int64_t split_rows) {
  // The fraction is a float: 0.35f is 0.3499999940..., whose product with
  // 200 must still be 70.
  return static_cast<int64_t>(
      std::floor(HoldoutFraction(spec) * split_rows + 1e-4));
}

absl::StatusOr<TrainingShard> LoadTrainingShard(const std::string& dir,
                                                const v1::JobSpec& spec,
                                                int rank, int num_ranks) {
  if (HoldoutFraction(spec) == 0) {
    absl::StatusOr<Examples> train =
        LoadFashionMnist(dir, Split::kTrain, rank, num_ranks);
    if (!train.ok()) return train.status();
    return TrainingShard{*std::move(train), Examples{}};
  }
  // Every rank needs the whole holdout, so each reads the whole split (the
  // loader inflates both files whole anyway) and keeps its rows of it.
  absl::StatusOr<Examples> all = LoadFashionMnist(dir, Split::kTrain, 0, 1);
  if (!all.ok()) return all.status();
  const int64_t trained = all->count - HoldoutRows(spec, all->count);
  const int64_t begin = trained * rank / num_ranks;
  const int64_t end = trained * (rank + 1) / num_ranks;
  TrainingShard shard;
  shard.train = Rows(*all, begin, end, trained);
  shard.holdout = Rows(*all, trained, all->count, all->count - trained);
  return shard;
}

absl::StatusOr<std::unique_ptr<Model>> CreateEnsemble(
    const v1::JobSpec& spec, int64_t max_batch_rows,
    const ComputeOptions& options) {
  absl::StatusOr<std::vector<std::vector<int64_t>>> sizes =
      MemberLayerSizes(spec);
  if (!sizes.ok()) return sizes.status();
  std::vector<std::unique_ptr<Model>> members;
  for (const std::vector<int64_t>& s : *sizes) {
    absl::StatusOr<std::unique_ptr<Model>> m =
        CreateModel(s, max_batch_rows, options);
    if (!m.ok()) return m.status();
    members.push_back(*std::move(m));
  }
  absl::StatusOr<std::unique_ptr<EnsembleModel>> ensemble =
      EnsembleModel::Create(std::move(members));
  if (!ensemble.ok()) return ensemble.status();
  return std::unique_ptr<Model>(*std::move(ensemble));
}

absl::Status TrainEnsemble(const TrainerOptions& options,
                           const v1::JobSpec& spec, const Examples& train,
                           Model* model, ParamStore* store, ProgressSink* sink,
                           const std::atomic<bool>* cancelled) {
  auto* ensemble = dynamic_cast<EnsembleModel*>(model);
  if (ensemble == nullptr) {
    return absl::InvalidArgumentError("TrainEnsemble needs an EnsembleModel");
  }
  absl::StatusOr<int64_t> epoch_steps = StepsPerEpoch(options, train.count);
  if (!epoch_steps.ok()) return epoch_steps.status();
  const int64_t steps_per_epoch = *epoch_steps;
  const int64_t used = ExamplesPerEpoch(options, train.count);
  const int64_t batch = options.batch_size;
  std::vector<MemberData> members(ensemble->num_members());
  for (int i = 0; i < ensemble->num_members(); ++i) {
    members[i].seed = MemberSeed(spec, i);
    members[i].x.resize(batch * train.dim);
    members[i].y.resize(batch);
  }
  std::vector<float> params(model->num_params()), grads(model->num_params());
  std::vector<Batch> batches(members.size());
  return RunTrainingLoop(
      options, train.count, sink, cancelled,
      [&](int64_t g, BatchStats* window) -> absl::StatusOr<int64_t> {
        const int64_t s = g % steps_per_epoch;
        const int epoch = static_cast<int>(g / steps_per_epoch) + 1;
        const int64_t rows = std::min(batch, used - s * batch);
        for (size_t i = 0; i < members.size(); ++i) {
          MemberData& m = members[i];
          if (s == 0 || m.order.empty()) {  // a new epoch, or a resumed one
            m.order = EpochOrder(m.seed, options.rank, epoch, train.count);
          }
          batches[i] = GatherBatch(train, m.order, s * batch, rows, &m.x, &m.y);
        }
        absl::StatusOr<int64_t> staleness = store->Pull(params.data(), g);
        if (!staleness.ok()) return staleness.status();
        absl::Status st = ensemble->ForwardBackwardEach(params.data(), batches,
                                                        grads.data(), window);
        if (st.ok()) st = store->Push(grads.data(), g);
        if (!st.ok()) return st;
        return staleness;
      });
}

absl::Status EvaluateEnsemble(const v1::JobSpec& spec, const float* params,
                              const Examples& holdout, const Examples& test,
                              int batch_rows, v1::CompleteTaskRequest* done) {
  absl::StatusOr<Members> m = CpuMembers(spec, batch_rows);
  if (!m.ok()) return m.status();
  std::vector<double> weights = FixedEnsembleWeights(spec);
  if (weights.empty()) {
    absl::StatusOr<std::vector<double>> fitted =
        FitWeights(*m, params, holdout, batch_rows);
    if (!fitted.ok()) return fitted.status();
    weights = *std::move(fitted);
  }
  EnsembleScorer scorer(weights, m->classes);
  absl::Status s = ForEachBatch(
      *m, params, test, batch_rows,
      [&](const std::vector<std::vector<double>>& lp, int64_t first,
          int64_t rows) { scorer.Add(lp, test.y.data() + first, rows); });
  if (!s.ok()) return s;
  done->set_test_examples(scorer.ensemble().count);
  done->set_test_correct(scorer.ensemble().correct);
  done->set_test_loss_sum(scorer.ensemble().loss_sum);
  done->clear_members();
  for (size_t i = 0; i < weights.size(); ++i) {
    v1::MemberEvaluation* e = done->add_members();
    e->set_test_correct(scorer.members()[i].correct);
    e->set_test_loss_sum(scorer.members()[i].loss_sum);
    e->set_weight(weights[i]);
  }
  return absl::OkStatus();
}

}  // namespace ps::worker
