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

// One rank's rounds of local SGD over its store.
class RoundTrainer {
 public:
  RoundTrainer(const TrainerOptions& options, const LocalSgdOptions& local,
               const Examples& train, int64_t steps_per_epoch, Model* model,
               ParamStore* store)
      : options_(options),
        local_(local),
        train_(train),
        spe_(steps_per_epoch),
        used_(ExamplesPerEpoch(options, train.count)),
        total_(TotalSteps(options, train.count)),
        copies_(local.mixing.empty() ? 1 : local.num_workers),
        size_(model->num_params()),
        store_(store),
        steps_(train, model, options.batch_size, local.learning_rate),
        pulled_(size_ * copies_),
        push_(copies_ > 1 ? size_ * copies_ : 0, 0.0f),
        mixed_(copies_ > 1 ? size_ : 0) {}

  absl::StatusOr<int64_t> Run(int64_t r, BatchStats* window, int* epoch) {
    absl::StatusOr<int64_t> staleness = store_->Pull(pulled_.data(), r);
    if (!staleness.ok()) return staleness.status();
    if (copies_ > 1) {
      Mix(local_.mixing, options_.rank, copies_, pulled_.data(), size_,
          mixed_.data());
      steps_.Start(mixed_.data());
    } else {
      steps_.Start(pulled_.data());
    }
    absl::Status s = TrainSteps(r, window, epoch);
    if (s.ok()) s = PushRound(r);
    if (!s.ok()) return s;
    return staleness;
  }

 private:
  // Global steps [r*K, (r+1)*K) in Train()'s data order.
  absl::Status TrainSteps(int64_t r, BatchStats* window, int* epoch) {
    const int64_t b = options_.batch_size;
    const int64_t end = std::min(total_, (r + 1) * local_.local_steps);
    for (int64_t g = r * local_.local_steps; g < end; ++g) {
      *epoch = static_cast<int>(g / spe_) + 1;
      if (order_epoch_ != *epoch) {
        order_ = EpochOrder(options_.seed, options_.rank, *epoch, train_.count);
        order_epoch_ = *epoch;
      }
      const int64_t first = (g % spe_) * b;
      absl::Status s =
          steps_.Step(order_, first, std::min(b, used_ - first), window);
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  }

  // Averaging: the gradient sum. Mixing: into this rank's copy only, what
  // turns the copy into the local model under server SGD; zeros elsewhere.
  absl::Status PushRound(int64_t r) {
    if (copies_ == 1) return store_->Push(steps_.gradient_sum().data(), r);
    const float* own = pulled_.data() + size_ * options_.rank;
    float* mine = push_.data() + size_ * options_.rank;
    const float scale = copies_ / local_.learning_rate;
    for (size_t i = 0; i < size_; ++i) {
      mine[i] = scale * (own[i] - steps_.params()[i]);
    }
    absl::Status s = store_->Push(push_.data(), r);
    std::fill_n(mine, size_, 0.0f);
    return s;
  }

  const TrainerOptions& options_;
  const LocalSgdOptions& local_;
  const Examples& train_;
  const int64_t spe_, used_, total_;
  const int copies_;
  const size_t size_;
  ParamStore* const store_;
  LocalSteps steps_;
  std::vector<float> pulled_, push_, mixed_;
  std::vector<int64_t> order_;
  int order_epoch_ = 0;
};

}  // namespace

absl::Status TrainLocalSgd(const TrainerOptions& options,
                           const LocalSgdOptions& local, const Examples& train,
                           Model* model, ParamStore* store, ProgressSink* sink,
                           const std::atomic<bool>* cancelled) {
  absl::StatusOr<int64_t> epoch_steps = StepsPerEpoch(options, train.count);
  if (!epoch_steps.ok()) return epoch_steps.status();
  RoundTrainer rounds(options, local, train, *epoch_steps, model, store);
  return RunRoundLoop(options, LocalSgdRounds(options, local, train.count),
                      sink, cancelled,
                      [&rounds](int64_t r, BatchStats* window, int* epoch) {
                        return rounds.Run(r, window, epoch);
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
