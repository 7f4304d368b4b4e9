// An ensemble's members trained together as one Model: each member is a
// model of its own over its slice of one flat buffer (the members' tables
// in order, as common/model_layout.h lays them out), so the training loop
// pulls and pushes the ensemble like any dense model.

#ifndef PS_WORKER_MODEL_ENSEMBLE_MODEL_H_
#define PS_WORKER_MODEL_ENSEMBLE_MODEL_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/model/model.h"

namespace ps::worker {

// Not thread-safe (its members are not). Members train independently: each
// sees the whole batch, and its gradient depends only on its own slice of
// the parameters, exactly as if it were trained alone.
class EnsembleModel final : public Model {
 public:
  // InvalidArgument when there are no members or one is null.
  static absl::StatusOr<std::unique_ptr<EnsembleModel>> Create(
      std::vector<std::unique_ptr<Model>> members);

  // The sum of the members' parameter counts.
  int64_t num_params() const override { return offsets_.back(); }
  int num_members() const { return static_cast<int>(members_.size()); }
  // Where member i's parameters start in the flat buffer.
  int64_t member_offset(int i) const { return offsets_[i]; }

  absl::Status Prefetch(const Batch& batch) override;

  // Runs every member on the batch, each writing its gradient to its slice
  // of grads. *stats gets the members' mean: the mean of their loss sums,
  // and of their correct counts rounded down; count is the batch's rows.
  absl::Status ForwardBackward(const float* params, const Batch& batch,
                               float* grads, BatchStats* stats) override;
  // ForwardBackward with member i on batches[i] (one batch per member, of
  // any sizes): how members train on data orders of their own. *stats gets
  // the members' mean as above, counting the first batch's rows.
  absl::Status ForwardBackwardEach(const float* params,
                                   const std::vector<Batch>& batches,
                                   float* grads, BatchStats* stats);
  // The members' mean as ForwardBackward gives it.
  absl::Status Evaluate(const float* params, const Batch& batch,
                        BatchStats* stats) override;

 private:
  explicit EnsembleModel(std::vector<std::unique_ptr<Model>> members);

  // Adds the members' mean of `per_member` to *stats.
  void AddMean(const std::vector<BatchStats>& per_member, int64_t rows,
               BatchStats* stats) const;

  std::vector<std::unique_ptr<Model>> members_;
  std::vector<int64_t> offsets_;  // members + 1 entries; the last is the total
};

}  // namespace ps::worker

#endif  // PS_WORKER_MODEL_ENSEMBLE_MODEL_H_
