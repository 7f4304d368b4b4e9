#include "worker/model/ensemble_model.h"

#include <utility>

#include "absl/strings/str_cat.h"

namespace ps::worker {

absl::StatusOr<std::unique_ptr<EnsembleModel>> EnsembleModel::Create(
    std::vector<std::unique_ptr<Model>> members) {
  if (members.empty()) {
    return absl::InvalidArgumentError("an ensemble needs at least one member");
  }
  for (size_t i = 0; i < members.size(); ++i) {
    if (members[i] == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat("member ", i, " is null"));
    }
  }
  return std::unique_ptr<EnsembleModel>(new EnsembleModel(std::move(members)));
}

EnsembleModel::EnsembleModel(std::vector<std::unique_ptr<Model>> members)
    : members_(std::move(members)) {
  offsets_.push_back(0);
  for (const auto& m : members_) {
    offsets_.push_back(offsets_.back() + m->num_params());
  }
}

absl::Status EnsembleModel::Prefetch(const Batch& batch) {
  for (const auto& m : members_) {
    if (absl::Status s = m->Prefetch(batch); !s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::Status EnsembleModel::ForwardBackward(const float* params,
                                            const Batch& batch, float* grads,
                                            BatchStats* stats) {
  return ForwardBackwardEach(params, std::vector<Batch>(members_.size(), batch),
                             grads, stats);
}

absl::Status EnsembleModel::ForwardBackwardEach(
    const float* params, const std::vector<Batch>& batches, float* grads,
    BatchStats* stats) {
  if (params == nullptr || grads == nullptr || stats == nullptr) {
    return absl::InvalidArgumentError(
        "params, grads and stats must all be non-null");
  }
  if (batches.size() != members_.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat(batches.size(), " batches for ", members_.size(),
                     " members; expected one each"));
  }
  std::vector<BatchStats> per_member(members_.size());
  for (size_t i = 0; i < members_.size(); ++i) {
    if (absl::Status s =
            members_[i]->ForwardBackward(params + offsets_[i], batches[i],
                                         grads + offsets_[i], &per_member[i]);
        !s.ok()) {
      return s;
    }
  }
  AddMean(per_member, batches[0].rows, stats);
  return absl::OkStatus();
}

absl::Status EnsembleModel::Evaluate(const float* params, const Batch& batch,
                                     BatchStats* stats) {
  if (params == nullptr || stats == nullptr) {
    return absl::InvalidArgumentError("params and stats must be non-null");
  }
  std::vector<BatchStats> per_member(members_.size());
  for (size_t i = 0; i < members_.size(); ++i) {
    if (absl::Status s =
            members_[i]->Evaluate(params + offsets_[i], batch, &per_member[i]);
        !s.ok()) {
      return s;
    }
  }
  AddMean(per_member, batch.rows, stats);
  return absl::OkStatus();
}

void EnsembleModel::AddMean(const std::vector<BatchStats>& per_member,
                            int64_t rows, BatchStats* stats) const {
  double loss = 0;
  int64_t correct = 0;
  for (const BatchStats& s : per_member) {
    loss += s.loss_sum;
    correct += s.correct;
  }
  const int64_t n = static_cast<int64_t>(per_member.size());
  stats->loss_sum += loss / n;
  stats->correct += correct / n;
  stats->count += rows;
}

}  // namespace ps::worker
