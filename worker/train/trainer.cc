#include "worker/train/trainer.h"

#include <algorithm>
#include <numeric>
#include <random>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"

namespace ps::worker {

Batch GatherBatch(const Examples& data, const std::vector<int64_t>& order,
                  int64_t first, int64_t rows, std::vector<float>* x,
                  std::vector<int32_t>* y) {
  for (int64_t i = 0; i < rows; ++i) {
    const int64_t row = order[first + i];
    std::copy_n(data.x.data() + row * data.dim, data.dim,
                x->data() + i * data.dim);
    (*y)[i] = data.y[row];
  }
  return Batch{x->data(), y->data(), rows, data.dim};
}

int64_t ExamplesPerEpoch(const TrainerOptions& options, int64_t shard_count) {
  return options.examples_per_epoch > 0
             ? std::min(options.examples_per_epoch, shard_count)
             : shard_count;
}

void CloseWindow(BatchStats* window, absl::Time* window_start,
                 Progress* progress) {
  const absl::Time now = absl::Now();
  const double secs = absl::ToDoubleSeconds(now - *window_start);
  progress->loss = window->loss_sum / window->count;
  progress->accuracy = static_cast<double>(window->correct) / window->count;
  progress->examples_per_sec = secs > 0 ? window->count / secs : 0;
  progress->window_examples = window->count;
  *window = BatchStats();
  *window_start = now;
}

std::vector<int64_t> EpochOrder(uint64_t seed, int rank, int epoch,
                                int64_t count) {
  std::vector<int64_t> order(count);
  std::iota(order.begin(), order.end(), 0);
  std::mt19937_64 rng(seed * 1000003 + rank * 7919 + epoch);
  std::shuffle(order.begin(), order.end(), rng);
  return order;
}

int64_t TotalSteps(const TrainerOptions& options, int64_t shard_count) {
  const int64_t used = ExamplesPerEpoch(options, shard_count);
  return options.epochs *
         ((used + options.batch_size - 1) / options.batch_size);
}

absl::StatusOr<int64_t> StepsPerEpoch(const TrainerOptions& options,
                                      int64_t shard_count) {
  const int64_t used = ExamplesPerEpoch(options, shard_count);
  if (used == 0) {
    return absl::FailedPreconditionError(
        "this worker's training shard is empty");
  }
  return (used + options.batch_size - 1) / options.batch_size;
}

absl::Status CheckFirstStep(const TrainerOptions& options,
                            int64_t total_steps) {
  if (options.first_step < 0 || options.first_step > total_steps) {
    return absl::InvalidArgumentError(
        absl::StrCat("first_step: ", options.first_step, "; allowed: [0, ",
                     total_steps, "]"));
  }
  return absl::OkStatus();
}

absl::Status RunTrainingLoop(const TrainerOptions& options, int64_t shard_count,
                             ProgressSink* sink,
                             const std::atomic<bool>* cancelled,
                             TrainingStep step) {
  if (options.report_every_steps < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "report_every_steps: ", options.report_every_steps, "; allowed: >= 1"));
  }
  absl::StatusOr<int64_t> steps_per_epoch = StepsPerEpoch(options, shard_count);
  if (!steps_per_epoch.ok()) return steps_per_epoch.status();
  Progress progress;
  progress.total_steps = TotalSteps(options, shard_count);
  if (absl::Status s = CheckFirstStep(options, progress.total_steps); !s.ok()) {
    return s;
  }
  progress.step = options.first_step;
  BatchStats window;
  absl::Time window_start = absl::Now();
  for (int64_t g = options.first_step; g < progress.total_steps; ++g) {
    if (cancelled != nullptr && cancelled->load()) {
      return absl::CancelledError("task cancelled");
    }
    progress.epoch = static_cast<int>(g / *steps_per_epoch) + 1;
    absl::StatusOr<int64_t> staleness = step(g, &window);
    if (!staleness.ok()) return staleness.status();
    progress.max_staleness = std::max(progress.max_staleness, *staleness);
    ++progress.step;
    if (progress.step % options.report_every_steps == 0 ||
        progress.step == progress.total_steps) {
      CloseWindow(&window, &window_start, &progress);
      if (absl::Status s = sink->Report(progress); !s.ok()) return s;
    }
  }
  return absl::OkStatus();
}

absl::Status Train(const TrainerOptions& options, const Examples& train,
                   Model* model, ParamStore* store, ProgressSink* sink,
                   const std::atomic<bool>* cancelled) {
  absl::StatusOr<int64_t> epoch_steps = StepsPerEpoch(options, train.count);
  if (!epoch_steps.ok()) return epoch_steps.status();
  const int64_t steps_per_epoch = *epoch_steps;
  const int64_t used = ExamplesPerEpoch(options, train.count);
  const int64_t batch = options.batch_size;
  std::vector<float> params(model->num_params()), grads(model->num_params());
  std::vector<float> x(batch * train.dim);
  std::vector<int32_t> y(batch);
  std::vector<int64_t> order;
  return RunTrainingLoop(
      options, train.count, sink, cancelled,
      [&](int64_t g, BatchStats* window) -> absl::StatusOr<int64_t> {
        const int64_t s = g % steps_per_epoch;
        if (s == 0 || order.empty()) {  // a new epoch, or a resumed one
          const int epoch = static_cast<int>(g / steps_per_epoch) + 1;
          order = EpochOrder(options.seed, options.rank, epoch, train.count);
        }
        const int64_t rows = std::min(batch, used - s * batch);
        Batch b = GatherBatch(train, order, s * batch, rows, &x, &y);
        // A device backend copies the batch over while the pull is in flight.
        if (absl::Status st = model->Prefetch(b); !st.ok()) return st;
        absl::StatusOr<int64_t> staleness = store->Pull(params.data(), g);
        if (!staleness.ok()) return staleness.status();
        absl::Status st =
            model->ForwardBackward(params.data(), b, grads.data(), window);
        if (st.ok()) st = store->Push(grads.data(), g);
        if (!st.ok()) return st;
        return staleness;
      });
}

absl::StatusOr<BatchStats> Evaluate(const Examples& data, int batch_size,
                                    const float* params, Model* model) {
  BatchStats stats;
  for (int64_t first = 0; first < data.count; first += batch_size) {
    const int64_t rows = std::min<int64_t>(batch_size, data.count - first);
    Batch b{data.x.data() + first * data.dim, data.y.data() + first, rows,
            data.dim};
    absl::Status s = model->Evaluate(params, b, &stats);
    if (!s.ok()) return s;
  }
  return stats;
}

}  // namespace ps::worker
