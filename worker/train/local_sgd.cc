#include "worker/train/local_sgd.h"

#include <algorithm>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ps::worker {

LocalSteps::LocalSteps(const Examples& train, Model* model, int batch_size,
                       float lr)
    : train_(train),
      model_(model),
      lr_(lr),
      params_(model->num_params()),
      grads_(model->num_params()),
      sum_(model->num_params()),
      x_(static_cast<size_t>(batch_size) * train.dim),
      y_(batch_size) {}

void LocalSteps::Start(const float* params) {
  std::copy_n(params, params_.size(), params_.begin());
  std::fill(sum_.begin(), sum_.end(), 0.0f);
  steps_ = 0;
}

absl::Status LocalSteps::Step(const std::vector<int64_t>& order, int64_t first,
                              int64_t rows, BatchStats* window) {
  Batch b = GatherBatch(train_, order, first, rows, &x_, &y_);
  absl::Status s =
      model_->ForwardBackward(params_.data(), b, grads_.data(), window);
  if (!s.ok()) return s;
  if (steps_ == 0) {
    std::copy(grads_.begin(), grads_.end(), sum_.begin());
  } else {
    for (size_t i = 0; i < sum_.size(); ++i) sum_[i] += grads_[i];
  }
  for (size_t i = 0; i < params_.size(); ++i) params_[i] -= lr_ * grads_[i];
  ++steps_;
  return absl::OkStatus();
}

absl::Status RunRoundLoop(const TrainerOptions& options, int64_t rounds,
                          ProgressSink* sink,
                          const std::atomic<bool>* cancelled,
                          TrainingRound round) {
  if (options.report_every_steps < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "report_every_steps: ", options.report_every_steps, "; allowed: >= 1"));
  }
  if (absl::Status s = CheckFirstStep(options, rounds); !s.ok()) return s;
  Progress progress;
  progress.total_steps = rounds;
  progress.step = options.first_step;
  BatchStats window;
  absl::Time window_start = absl::Now();
  for (int64_t r = options.first_step; r < rounds; ++r) {
    if (cancelled != nullptr && cancelled->load()) {
      return absl::CancelledError("task cancelled");
    }
    absl::StatusOr<int64_t> staleness = round(r, &window, &progress.epoch);
    if (!staleness.ok()) return staleness.status();
    progress.max_staleness = std::max(progress.max_staleness, *staleness);
    ++progress.step;
    if (progress.step % options.report_every_steps != 0 &&
        progress.step != rounds) {
      continue;
    }
    if (window.count == 0) {
      progress = Progress{.step = progress.step,
                          .total_steps = rounds,
                          .epoch = progress.epoch,
                          .max_staleness = progress.max_staleness};
      window_start = absl::Now();
    } else {
      CloseWindow(&window, &window_start, &progress);
    }
    if (absl::Status s = sink->Report(progress); !s.ok()) return s;
  }
  return absl::OkStatus();
}

int64_t LocalSgdRounds(const TrainerOptions& options,
                       const LocalSgdOptions& local, int64_t shard_count) {
  const int64_t steps = TotalSteps(options, shard_count);
  return (steps + local.local_steps - 1) / local.local_steps;
}

namespace {

// Sets `theta` to sum_j w[rank][j] * copy_j of the `n` pulled copies.
void Mix(const std::vector<float>& w, int rank, int n, const float* copies,
         size_t size, float* theta) {
  std::fill_n(theta, size, 0.0f);
  for (int j = 0; j < n; ++j) {
    const float wij = w[static_cast<size_t>(rank) * n + j];
    if (wij == 0) continue;
    const float* c = copies + j * size;
    for (size_t i = 0; i < size; ++i) theta[i] += wij * c[i];
  }
}

}  // namespace

absl::Status TrainLocalSgd(const TrainerOptions& options,
                           const LocalSgdOptions& local, const Examples& train,
                           Model* model, ParamStore* store, ProgressSink* sink,
                           const std::atomic<bool>* cancelled) {
  absl::StatusOr<int64_t> epoch_steps = StepsPerEpoch(options, train.count);
  if (!epoch_steps.ok()) return epoch_steps.status();
  const int64_t spe = *epoch_steps;
  const int64_t used = ExamplesPerEpoch(options, train.count);
  const int64_t total = TotalSteps(options, train.count);
  const bool mixing = !local.mixing.empty();
  const int copies = mixing ? local.num_workers : 1;
  const size_t size = model->num_params();
  std::vector<float> pulled(size * copies), push(size * copies, 0.0f);
  std::vector<float> mixed(mixing ? size : 0);
  LocalSteps steps(train, model, options.batch_size, local.learning_rate);
  std::vector<int64_t> order;
  int order_epoch = 0;
  return RunRoundLoop(
      options, LocalSgdRounds(options, local, train.count), sink, cancelled,
      [&](int64_t r, BatchStats* window,
          int* epoch) -> absl::StatusOr<int64_t> {
        absl::StatusOr<int64_t> staleness = store->Pull(pulled.data(), r);
        if (!staleness.ok()) return staleness.status();
        const float* own = pulled.data() + size * (mixing ? options.rank : 0);
        if (mixing) {
          Mix(local.mixing, options.rank, copies, pulled.data(), size,
              mixed.data());
          steps.Start(mixed.data());
        } else {
          steps.Start(own);
        }
        const int64_t end = std::min(total, (r + 1) * local.local_steps);
        for (int64_t g = r * local.local_steps; g < end; ++g) {
          *epoch = static_cast<int>(g / spe) + 1;
          if (order_epoch != *epoch) {
            order = EpochOrder(options.seed, options.rank, *epoch, train.count);
            order_epoch = *epoch;
          }
          const int64_t s = g % spe;
          const int64_t rows = std::min<int64_t>(options.batch_size,
                                                 used - s * options.batch_size);
          absl::Status st =
              steps.Step(order, s * options.batch_size, rows, window);
          if (!st.ok()) return st;
        }
        if (!mixing) {
          absl::Status st = store->Push(steps.gradient_sum().data(), r);
          if (!st.ok()) return st;
          return staleness;
        }
        // Only this rank's slot is non-zero: the others' copies are theirs.
        float* mine = push.data() + size * options.rank;
        const float scale = copies / local.learning_rate;
        for (size_t i = 0; i < size; ++i) {
          mine[i] = scale * (own[i] - steps.params()[i]);
        }
        absl::Status st = store->Push(push.data(), r);
        std::fill_n(mine, size, 0.0f);
        if (!st.ok()) return st;
        return staleness;
      });
}

absl::Status PullModel(ParamStore* store, int64_t clock, int copies,
                       int64_t num_params, float* params) {
  if (copies <= 1) return store->Pull(params, clock).status();
  std::vector<float> all(static_cast<size_t>(num_params) * copies);
  absl::Status s = store->Pull(all.data(), clock).status();
  if (!s.ok()) return s;
  std::fill_n(params, num_params, 0.0f);
  for (int j = 0; j < copies; ++j) {
    for (int64_t i = 0; i < num_params; ++i) {
      params[i] += all[j * num_params + i];
    }
  }
  for (int64_t i = 0; i < num_params; ++i) params[i] /= copies;
  return absl::OkStatus();
}

}  // namespace ps::worker
