#include "worker/train/sparse_trainer.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <utility>

#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "worker/cpu/cpu_kernels.h"
#include "worker/data/batch_keys.h"

namespace ps::worker {
namespace {

// One step's buffers, allocated once for the largest batch: the dedup
// table, the batch's row indices and labels, the dense parameters and
// gradients, the blocks, and a gradient buffer per block that is swapped
// into the block for the push (and back out by the next Load), so that
// steps reuse the same memory.
class SparseStep {
 public:
  SparseStep(FlightsModel* model, int64_t max_batch)
      : model_(model),
        slots_(model->spec().slots),
        keys_(max_batch * slots_),
        row_index_(max_batch * slots_),
        labels_(max_batch),
        dense_(model->num_dense()),
        dense_grads_(model->num_dense()) {
    const int64_t max_keys = max_batch * slots_;
    const char* const names[] = {kWideTable, kEmbedTable};
    const std::vector<int64_t> dims = model->table_dims();
    for (size_t t = 0; t < dims.size(); ++t) {
      SparseBlock& block = blocks_.emplace_back();
      block.table = names[t];
      block.dim = static_cast<int>(dims[t]);
      block.keys.reserve(max_keys);
      block.values.reserve(max_keys * dims[t]);
      grads_.emplace_back().reserve(max_keys * dims[t]);
    }
  }

  // Dedups the keys of examples rows[0, n) of `data` and sizes the blocks.
  // Shuffled rows are random accesses into the whole shard, each a cache
  // miss; prefetching kPrefetchRows ahead overlaps them, which makes the
  // SPARSE_LR step about twice as fast.
  void Load(const FlightFeatures& data, const int64_t* rows, int64_t n) {
    constexpr int64_t kPrefetchRows = 16;
    keys_.Clear();
    int32_t* index = row_index_.data();
    for (int64_t i = 0; i < n; ++i) {
      if (i + kPrefetchRows < n) {
        const int64_t ahead = rows[i + kPrefetchRows];
        const uint64_t* ahead_keys = data.keys.data() + ahead * slots_;
        __builtin_prefetch(ahead_keys);
        __builtin_prefetch(ahead_keys + slots_ - 1);  // May be the next line.
        __builtin_prefetch(data.labels.data() + ahead);
      }
      const uint64_t* row_keys = data.keys.data() + rows[i] * slots_;
      for (int64_t f = 0; f < slots_; ++f) *index++ = keys_.Insert(row_keys[f]);
      labels_[i] = data.labels[rows[i]] > 0.5f ? 1 : 0;
    }
    examples_ = n;
    for (SparseBlock& block : blocks_) {
      block.keys.assign(keys_.keys().begin(), keys_.keys().end());
      block.values.resize(keys_.size() * block.dim);
    }
  }

  absl::StatusOr<int64_t> Pull(SparseParamStore* store, int64_t clock) {
    return store->Pull(dense_.data(), &blocks_, clock);
  }

  // Computes the gradients and leaves them in the blocks, ready to push.
  absl::Status ComputeGradients(BatchStats* stats) {
    for (size_t t = 0; t < blocks_.size(); ++t) {
      grads_[t].resize(blocks_[t].values.size());
    }
    FlightsGrads grads{dense_grads_.data(), grads_[0].data(),
                       grads_.size() > 1 ? grads_[1].data() : nullptr};
    if (absl::Status s =
            model_->ForwardBackward(Params(), Batch(), grads, stats);
        !s.ok()) {
      return s;
    }
    for (size_t t = 0; t < blocks_.size(); ++t) {
      std::swap(blocks_[t].values, grads_[t]);
    }
    return absl::OkStatus();
  }

  absl::Status Push(SparseParamStore* store, int64_t clock) {
    return store->Push(dense_grads_.data(), blocks_, clock);
  }

  // Pushes this step's gradients as `clock` and pulls `next`'s parameters
  // (already Loaded) as clock + 1, together.
  absl::StatusOr<int64_t> PushAndPull(SparseParamStore* store, int64_t clock,
                                      SparseStep* next) {
    return store->PushAndPull(dense_grads_.data(), blocks_, clock,
                              next->dense_.data(), &next->blocks_, clock + 1);
  }

  absl::Status Logits(float* logits) {
    return model_->Logits(Params(), Batch(), logits);
  }

  const int32_t* labels() const { return labels_.data(); }

 private:
  FlightsParams Params() const {
    return {dense_.data(), blocks_[0].values.data(),
            blocks_.size() > 1 ? blocks_[1].values.data() : nullptr};
  }
  FlightsBatch Batch() const {
    return {row_index_.data(), labels_.data(), examples_, keys_.size()};
  }

  FlightsModel* model_;
  int64_t slots_;
  BatchKeys keys_;
  std::vector<int32_t> row_index_;
  std::vector<int32_t> labels_;
  int64_t examples_ = 0;
  std::vector<float> dense_;
  std::vector<float> dense_grads_;
  std::vector<SparseBlock> blocks_;
  std::vector<std::vector<float>> grads_;
};

absl::Status CheckData(const FlightFeatures& data, int batch_size,
                       const FlightsModel& model) {
  const FlightsModelSpec& spec = model.spec();
  if (data.slots != spec.slots) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the features have %d slots per example, the model expects %d",
        data.slots, spec.slots));
  }
  if (data.count < 0 ||
      data.keys.size() != static_cast<size_t>(data.count * data.slots) ||
      data.labels.size() != static_cast<size_t>(data.count)) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "features of %d examples with %d slots hold %d keys and %d labels, "
        "expected %d and %d",
        data.count, data.slots, data.keys.size(), data.labels.size(),
        data.count * data.slots, data.count));
  }
  if (batch_size < 1 || batch_size > spec.max_batch) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batch_size is %d, expected 1..%d (the model's max_batch)", batch_size,
        spec.max_batch));
  }
  return absl::OkStatus();
}

// Loads global step g's examples into a SparseStep, in the shuffled order
// of g's epoch. Keeps two epochs' orders, the current step's and the next
// step's, each shuffled once.
class StepLoader {
 public:
  StepLoader(const TrainerOptions& options, const FlightFeatures& train,
             int64_t steps_per_epoch)
      : options_(options),
        train_(train),
        steps_per_epoch_(steps_per_epoch),
        used_(ExamplesPerEpoch(options, train.count)) {}

  void Load(int64_t g, SparseStep* step) {
    const int epoch = static_cast<int>(g / steps_per_epoch_) + 1;
    const int64_t first = g % steps_per_epoch_ * options_.batch_size;
    std::vector<int64_t>& order = orders_[epoch % 2];
    if (order_epoch_[epoch % 2] != epoch) {
      order = EpochOrder(options_.seed, options_.rank, epoch, train_.count);
      order_epoch_[epoch % 2] = epoch;
    }
    step->Load(train_, order.data() + first,
               std::min<int64_t>(options_.batch_size, used_ - first));
  }

 private:
  const TrainerOptions& options_;
  const FlightFeatures& train_;
  const int64_t steps_per_epoch_;
  const int64_t used_;
  std::vector<int64_t> orders_[2];
  int order_epoch_[2] = {0, 0};
};

absl::Status CheckTrainArgs(const TrainerOptions& options,
                            const FlightFeatures& train,
                            const FlightsModel& model) {
  if (absl::Status s = CheckData(train, options.batch_size, model); !s.ok()) {
    return s;
  }
  if (options.report_every_steps < 1) {
    return absl::InvalidArgumentError(
        absl::StrFormat("report_every_steps is %d, expected at least 1",
                        options.report_every_steps));
  }
  return StepsPerEpoch(options, train.count).status();
}

}  // namespace

absl::Status TrainSparse(const TrainerOptions& options,
                         const FlightFeatures& train, FlightsModel* model,
                         SparseParamStore* store, ProgressSink* sink,
                         const std::atomic<bool>* cancelled) {
  if (absl::Status s = CheckTrainArgs(options, train, *model); !s.ok()) {
    return s;
  }
  StepLoader loader(options, train, *StepsPerEpoch(options, train.count));
  const int64_t total_steps = TotalSteps(options, train.count);
  // Two steps' buffers: while step c's gradients are pushed, step c + 1's
  // parameters are pulled into the other.
  SparseStep steps[2] = {SparseStep(model, options.batch_size),
                         SparseStep(model, options.batch_size)};
  if (cancelled != nullptr && cancelled->load()) {
    return absl::CancelledError("task cancelled");
  }
  if (absl::Status s = CheckFirstStep(options, total_steps); !s.ok()) return s;
  const int64_t first = options.first_step;
  if (first == total_steps) return absl::OkStatus();  // resumed when done
  loader.Load(first, &steps[first % 2]);
  // The pull of the step about to run, sent with the previous step's push.
  absl::StatusOr<int64_t> pulled = steps[first % 2].Pull(store, first);
  return RunTrainingLoop(
      options, train.count, sink, cancelled,
      [&](int64_t g, BatchStats* window) -> absl::StatusOr<int64_t> {
        const absl::StatusOr<int64_t> staleness = pulled;
        if (!staleness.ok()) return staleness.status();
        SparseStep& step = steps[g % 2];
        if (absl::Status st = step.ComputeGradients(window); !st.ok()) {
          return st;
        }
        if (g + 1 < total_steps) {
          SparseStep& next = steps[(g + 1) % 2];
          loader.Load(g + 1, &next);
          pulled = step.PushAndPull(store, g, &next);
        } else if (absl::Status st = step.Push(store, g); !st.ok()) {
          return st;
        }
        return staleness;
      });
}

absl::StatusOr<SparseEvaluation> EvaluateSparse(const FlightFeatures& data,
                                                int batch_size, int64_t clock,
                                                FlightsModel* model,
                                                SparseParamStore* store) {
  if (absl::Status s = CheckData(data, batch_size, *model); !s.ok()) return s;
  SparseEvaluation out;
  SparseStep step(model, batch_size);
  std::vector<int64_t> rows(batch_size);
  std::vector<float> logits(batch_size);
  for (int64_t first = 0; first < data.count; first += batch_size) {
    const int64_t n = std::min<int64_t>(batch_size, data.count - first);
    std::iota(rows.begin(), rows.begin() + n, first);
    step.Load(data, rows.data(), n);
    if (absl::StatusOr<int64_t> pulled = step.Pull(store, clock);
        !pulled.ok()) {
      return pulled.status();
    }
    if (absl::Status s = step.Logits(logits.data()); !s.ok()) return s;
    cpu::LogisticLoss<float>(logits.data(), step.labels(), n,
                             /*dlogits=*/nullptr, &out.stats);
    for (int64_t i = 0; i < n; ++i) {
      const double z = logits[i];
      out.histogram.Add(1 / (1 + std::exp(-z)), step.labels()[i] == 1);
    }
  }
  return out;
}

}  // namespace ps::worker
