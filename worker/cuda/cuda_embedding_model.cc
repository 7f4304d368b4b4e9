#include "worker/cuda/cuda_embedding_model.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "worker/cuda/cuda_dense_stack.h"
#include "worker/cuda/gpu_kernels.h"
#include "worker/cuda/gpu_runtime.h"
#include "worker/cuda/status_macros.h"

namespace ps::worker {
namespace {

// Device buffers for one batch, with their pinned staging twins.
template <typename T>
struct EmbeddingBuffers {
  gpu::DeviceArray<T> rows, x, dx, row_grads, logit_offset;
  gpu::DeviceArray<int32_t> index, labels;
  gpu::PinnedArray<T> host_rows, host_row_grads, host_logits, host_offset;
  gpu::PinnedArray<int32_t> host_index, host_labels;

  // max_pairs = max examples * slots: also the most rows a block may hold.
  absl::Status Allocate(int64_t max_examples, int64_t max_pairs, int64_t dim,
                        int64_t outputs) {
    const int64_t values = max_pairs * dim;
    PS_RETURN_IF_ERROR(gpu::AllocateArray(values, &rows));
    PS_RETURN_IF_ERROR(gpu::AllocateArray(values, &x));
    PS_RETURN_IF_ERROR(gpu::AllocateArray(values, &dx));
    PS_RETURN_IF_ERROR(gpu::AllocateArray(values, &row_grads));
    PS_RETURN_IF_ERROR(gpu::AllocateArray(max_pairs, &index));
    PS_RETURN_IF_ERROR(gpu::AllocateArray(max_examples, &labels));
    PS_RETURN_IF_ERROR(gpu::AllocateArray(max_examples, &logit_offset));
    PS_RETURN_IF_ERROR(gpu::AllocateArray(max_examples, &host_offset));
    PS_RETURN_IF_ERROR(gpu::AllocateArray(values, &host_rows));
    PS_RETURN_IF_ERROR(gpu::AllocateArray(values, &host_row_grads));
    PS_RETURN_IF_ERROR(
        gpu::AllocateArray(max_examples * outputs, &host_logits));
    PS_RETURN_IF_ERROR(gpu::AllocateArray(max_pairs, &host_index));
    return gpu::AllocateArray(max_examples, &host_labels);
  }

  static int64_t DeviceBytes(int64_t max_examples, int64_t max_pairs,
                             int64_t dim) {
    return (4 * max_pairs * dim + max_examples) *
               static_cast<int64_t>(sizeof(T)) +
           (max_pairs + max_examples) * static_cast<int64_t>(sizeof(int32_t));
  }
};

template <typename T>
class CudaEmbeddingModel final : public BasicEmbeddingModel<T> {
 public:
  static absl::StatusOr<std::unique_ptr<CudaEmbeddingModel>> Create(
      const EmbeddingModelSpec& spec, int gpu_index);

  ~CudaEmbeddingModel() override { gpu::SetDevice(ctx_->device).IgnoreError(); }

  const EmbeddingModelSpec& spec() const override { return spec_; }
  int64_t num_dense_params() const override { return stack_->num_params(); }

  absl::Status ForwardBackward(const T* dense_params,
                               const BasicEmbeddingBatch<T>& batch,
                               T* dense_grads, T* row_grads,
                               BatchStats* stats) override {
    PS_RETURN_IF_ERROR(CheckEmbeddingTrainCall(spec_, dense_params, batch,
                                               dense_grads, row_grads, stats));
    return Finish(
        RunForwardBackward(dense_params, batch, dense_grads, row_grads, stats));
  }

  absl::Status Evaluate(const T* dense_params,
                        const BasicEmbeddingBatch<T>& batch, BatchStats* stats,
                        T* logits) override {
    PS_RETURN_IF_ERROR(CheckEmbeddingCall(spec_, dense_params, batch, stats));
    return Finish(RunEvaluate(dense_params, batch, stats, logits));
  }

 private:
  CudaEmbeddingModel(const EmbeddingModelSpec& spec,
                     std::unique_ptr<GpuContext> ctx)
      : spec_(spec), ctx_(std::move(ctx)) {}

  absl::Status Finish(absl::Status status) const {
    if (!status.ok()) ctx_->Drain();
    return status;
  }

  absl::Status UploadAndGather(const BasicEmbeddingBatch<T>& batch);
  absl::Status Forward(const T* dense_params,
                       const BasicEmbeddingBatch<T>& batch);
  absl::Status RunForwardBackward(const T* dense_params,
                                  const BasicEmbeddingBatch<T>& batch,
                                  T* dense_grads, T* row_grads,
                                  BatchStats* stats);
  absl::Status RunEvaluate(const T* dense_params,
                           const BasicEmbeddingBatch<T>& batch,
                           BatchStats* stats, T* logits);

  EmbeddingModelSpec spec_;
  std::unique_ptr<GpuContext> ctx_;
  std::unique_ptr<CudaDenseStack<T>> stack_;
  EmbeddingBuffers<T> buf_;
  gpu::Event batch_uploaded_;  // Copy stream.
};

template <typename T>
absl::StatusOr<std::unique_ptr<CudaEmbeddingModel<T>>>
CudaEmbeddingModel<T>::Create(const EmbeddingModelSpec& spec, int gpu_index) {
  absl::StatusOr<std::unique_ptr<GpuContext>> ctx =
      GpuContext::Create(gpu_index);
  if (!ctx.ok()) return ctx.status();
  std::unique_ptr<CudaEmbeddingModel> model(
      new CudaEmbeddingModel(spec, *std::move(ctx)));
  absl::StatusOr<std::unique_ptr<CudaDenseStack<T>>> stack =
      CudaDenseStack<T>::Create(model->ctx_.get(), EmbeddingDenseSizes(spec),
                                spec.head, spec.max_batch_rows);
  if (!stack.ok()) return stack.status();
  model->stack_ = *std::move(stack);
  PS_RETURN_IF_ERROR(model->buf_.Allocate(spec.max_batch_rows,
                                          spec.max_batch_rows * spec.slots,
                                          spec.dim, spec.outputs));
  absl::StatusOr<gpu::Event> event = gpu::Event::Create();
  if (!event.ok()) return event.status();
  model->batch_uploaded_ = *std::move(event);
  return model;
}

// Uploads the block, indices, labels and any logit offset through pinned
// memory and queues the gather of each example's slot embeddings into x.
template <typename T>
absl::Status CudaEmbeddingModel<T>::UploadAndGather(
    const BasicEmbeddingBatch<T>& batch) {
  PS_RETURN_IF_ERROR(gpu::SetDevice(ctx_->device));
  const int64_t pairs = batch.examples * spec_.slots;
  const int64_t row_bytes = batch.num_rows * spec_.dim * sizeof(T);
  const int64_t index_bytes = pairs * sizeof(int32_t);
  const int64_t label_bytes = batch.examples * sizeof(int32_t);
  PS_RETURN_IF_ERROR(batch_uploaded_.Synchronize());  // Staging area free.
  std::memcpy(buf_.host_rows.data(), batch.rows, row_bytes);
  std::memcpy(buf_.host_index.data(), batch.row_index, index_bytes);
  std::memcpy(buf_.host_labels.data(), batch.labels, label_bytes);
  const gpu::Stream& copy = ctx_->copy;
  PS_RETURN_IF_ERROR(
      copy.CopyToDevice(buf_.rows.data(), buf_.host_rows.data(), row_bytes));
  PS_RETURN_IF_ERROR(copy.CopyToDevice(buf_.index.data(),
                                       buf_.host_index.data(), index_bytes));
  PS_RETURN_IF_ERROR(copy.CopyToDevice(buf_.labels.data(),
                                       buf_.host_labels.data(), label_bytes));
  if (batch.logit_offset != nullptr) {
    const int64_t offset_bytes = batch.examples * sizeof(T);
    std::memcpy(buf_.host_offset.data(), batch.logit_offset, offset_bytes);
    PS_RETURN_IF_ERROR(copy.CopyToDevice(
        buf_.logit_offset.data(), buf_.host_offset.data(), offset_bytes));
  }
  PS_RETURN_IF_ERROR(copy.Record(batch_uploaded_));
  PS_RETURN_IF_ERROR(ctx_->compute.Wait(batch_uploaded_));
  return gpu::GatherRows(ctx_->compute, buf_.rows.data(), buf_.index.data(),
                         pairs, spec_.dim, buf_.x.data());
}

// The stack on the gathered x, plus the batch's logit offset, added in place
// where the stack's loss reads the logits.
template <typename T>
absl::Status CudaEmbeddingModel<T>::Forward(
    const T* dense_params, const BasicEmbeddingBatch<T>& batch) {
  PS_RETURN_IF_ERROR(
      stack_->Forward(dense_params, buf_.x.data(), batch.examples));
  if (batch.logit_offset == nullptr) return absl::OkStatus();
  return gpu::AddTo(ctx_->compute, buf_.logit_offset.data(), batch.examples,
                    stack_->mutable_device_logits());
}

template <typename T>
absl::Status CudaEmbeddingModel<T>::RunForwardBackward(
    const T* dense_params, const BasicEmbeddingBatch<T>& batch, T* dense_grads,
    T* row_grads, BatchStats* stats) {
  const gpu::Stream& compute = ctx_->compute;
  const int64_t rows = batch.examples;
  const int64_t row_values = batch.num_rows * spec_.dim;
  PS_RETURN_IF_ERROR(UploadAndGather(batch));
  PS_RETURN_IF_ERROR(Forward(dense_params, batch));
  PS_RETURN_IF_ERROR(stack_->LossAndGradient(buf_.labels.data(), rows));
  // The logit gradients are computed on the host from the final logits.
  if (batch.logit_grads != nullptr) {
    PS_RETURN_IF_ERROR(compute.CopyToHost(
        buf_.host_logits.data(), stack_->device_logits(), rows * sizeof(T)));
  }
  PS_RETURN_IF_ERROR(stack_->Backward(buf_.x.data(), rows, buf_.dx.data()));
  PS_RETURN_IF_ERROR(
      compute.Zero(buf_.row_grads.data(), row_values * sizeof(T)));
  PS_RETURN_IF_ERROR(gpu::ScatterAddRows(compute, buf_.dx.data(),
                                         buf_.index.data(), rows * spec_.slots,
                                         spec_.dim, buf_.row_grads.data()));
  PS_RETURN_IF_ERROR(compute.CopyToHost(buf_.host_row_grads.data(),
                                        buf_.row_grads.data(),
                                        row_values * sizeof(T)));
  // The dense gradients come back while the scatter-add runs.
  PS_RETURN_IF_ERROR(stack_->DownloadGrads(dense_grads));
  PS_RETURN_IF_ERROR(compute.Synchronize());
  std::memcpy(row_grads, buf_.host_row_grads.data(), row_values * sizeof(T));
  if (batch.logit_grads != nullptr) {
    LogisticLogitGradients<T>(buf_.host_logits.data(), batch.labels, rows,
                              batch.logit_grads);
  }
  return stack_->AddStats(rows, stats);
}

template <typename T>
absl::Status CudaEmbeddingModel<T>::RunEvaluate(
    const T* dense_params, const BasicEmbeddingBatch<T>& batch,
    BatchStats* stats, T* logits) {
  const int64_t rows = batch.examples;
  const int64_t logit_bytes = rows * stack_->outputs() * sizeof(T);
  PS_RETURN_IF_ERROR(UploadAndGather(batch));
  PS_RETURN_IF_ERROR(Forward(dense_params, batch));
  PS_RETURN_IF_ERROR(stack_->Loss(buf_.labels.data(), rows));
  if (logits != nullptr) {
    PS_RETURN_IF_ERROR(ctx_->compute.CopyToHost(
        buf_.host_logits.data(), stack_->device_logits(), logit_bytes));
  }
  PS_RETURN_IF_ERROR(ctx_->compute.Synchronize());
  if (logits != nullptr) {
    std::memcpy(logits, buf_.host_logits.data(), logit_bytes);
  }
  return stack_->AddStats(rows, stats);
}

}  // namespace

template <typename T>
absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<T>>>
CreateCudaEmbeddingModel(const EmbeddingModelSpec& spec, int gpu_index) {
  PS_RETURN_IF_ERROR(ValidateEmbeddingSpec(spec));
  absl::StatusOr<gpu::DeviceInfo> info = gpu::UseDevice(gpu_index);
  if (!info.ok()) return info.status();
  const std::vector<int64_t> sizes = EmbeddingDenseSizes(spec);
  const int64_t max_pairs = spec.max_batch_rows * spec.slots;
  const int64_t needed =
      CudaDenseStack<T>::DeviceBytes(sizes, spec.max_batch_rows) +
      EmbeddingBuffers<T>::DeviceBytes(spec.max_batch_rows, max_pairs,
                                       spec.dim);
  PS_RETURN_IF_ERROR(CheckFitsGpu(
      *info, gpu_index, needed,
      absl::StrFormat("an embedding model with %d dense parameters, %d slots "
                      "of dim %d and batches of %d",
                      MlpParamCount(sizes), spec.slots, spec.dim,
                      spec.max_batch_rows)));
  PS_RETURN_IF_ERROR(CheckFitsHostMemory(
      static_cast<double>(needed), "the embedding model's pinned buffers"));
  absl::StatusOr<std::unique_ptr<CudaEmbeddingModel<T>>> model =
      CudaEmbeddingModel<T>::Create(spec, gpu_index);
  if (!model.ok()) return model.status();
  return std::unique_ptr<BasicEmbeddingModel<T>>(*std::move(model));
}

template absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<float>>>
CreateCudaEmbeddingModel<float>(const EmbeddingModelSpec&, int);
template absl::StatusOr<std::unique_ptr<BasicEmbeddingModel<double>>>
CreateCudaEmbeddingModel<double>(const EmbeddingModelSpec&, int);

}  // namespace ps::worker
