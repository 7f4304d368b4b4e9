#include "worker/cuda/cuda_mlp.h"

#include <cstring>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "worker/cuda/cuda_dense_stack.h"
#include "worker/cuda/gpu_runtime.h"
#include "worker/cuda/status_macros.h"
#include "worker/model/mlp_spec.h"

namespace ps::worker {
namespace {

template <typename T>
class CudaMlp final : public BasicModel<T> {
 public:
  // Allocates everything; the factory has checked the shape and the fit.
  static absl::StatusOr<std::unique_ptr<CudaMlp>> Create(
      std::vector<int64_t> sizes, int64_t max_rows, int gpu_index);

  // Frees the GPU's memory with that GPU current, whatever thread this is.
  ~CudaMlp() override { gpu::SetDevice(ctx_->device).IgnoreError(); }

  int64_t num_params() const override { return stack_->num_params(); }

  absl::Status Prefetch(const BasicBatch<T>& batch) override {
    PS_RETURN_IF_ERROR(CheckArgs(batch));
    PS_RETURN_IF_ERROR(gpu::SetDevice(ctx_->device));
    return Finish(StageBatch(batch));
  }

  absl::Status ForwardBackward(const T* params, const BasicBatch<T>& batch,
                               T* grads, BatchStats* stats) override {
    if (params == nullptr || grads == nullptr || stats == nullptr) {
      return absl::InvalidArgumentError(
          "params, grads and stats must all be non-null");
    }
    PS_RETURN_IF_ERROR(CheckArgs(batch));
    return Finish(RunForwardBackward(params, batch, grads, stats));
  }

  absl::Status Evaluate(const T* params, const BasicBatch<T>& batch,
                        BatchStats* stats) override {
    if (params == nullptr || stats == nullptr) {
      return absl::InvalidArgumentError("params and stats must be non-null");
    }
    PS_RETURN_IF_ERROR(CheckArgs(batch));
    return Finish(RunEvaluate(params, batch, stats));
  }

 private:
  // What identifies a prefetched batch; see BasicModel::Prefetch.
  struct Staged {
    const T* x = nullptr;
    const int32_t* y = nullptr;
    int64_t rows = 0;
    bool operator==(const Staged& o) const {
      return x == o.x && y == o.y && rows == o.rows;
    }
  };

  CudaMlp(std::unique_ptr<GpuContext> ctx, int64_t max_rows)
      : ctx_(std::move(ctx)), max_rows_(max_rows) {}

  absl::Status CheckArgs(const BasicBatch<T>& batch) const;
  absl::Status StageBatch(const BasicBatch<T>& batch);
  absl::Status UseBatch(const BasicBatch<T>& batch);
  absl::Status RunForwardBackward(const T* params, const BasicBatch<T>& batch,
                                  T* grads, BatchStats* stats);
  absl::Status RunEvaluate(const T* params, const BasicBatch<T>& batch,
                           BatchStats* stats);

  // After a failure, waits out the work in flight and forgets the staged
  // batch, so the next call starts clean.
  absl::Status Finish(absl::Status status) {
    if (!status.ok()) {
      ctx_->Drain();
      staged_ = Staged();
    }
    return status;
  }

  std::unique_ptr<GpuContext> ctx_;
  int64_t max_rows_;
  std::unique_ptr<CudaDenseStack<T>> stack_;
  gpu::DeviceArray<T> x_;
  gpu::DeviceArray<int32_t> y_;
  gpu::PinnedArray<T> host_x_;
  gpu::PinnedArray<int32_t> host_y_;
  gpu::Event batch_uploaded_;  // Copy stream.
  Staged staged_;              // The batch in x_ and y_, until used.
};

template <typename T>
absl::StatusOr<std::unique_ptr<CudaMlp<T>>> CudaMlp<T>::Create(
    std::vector<int64_t> sizes, int64_t max_rows, int gpu_index) {
  absl::StatusOr<std::unique_ptr<GpuContext>> ctx =
      GpuContext::Create(gpu_index);
  if (!ctx.ok()) return ctx.status();
  const int64_t inputs = sizes.front();
  std::unique_ptr<CudaMlp> model(new CudaMlp(*std::move(ctx), max_rows));
  absl::StatusOr<std::unique_ptr<CudaDenseStack<T>>> stack =
      CudaDenseStack<T>::Create(model->ctx_.get(), std::move(sizes),
                                Head::kSoftmax, max_rows);
  if (!stack.ok()) return stack.status();
  model->stack_ = *std::move(stack);
  PS_RETURN_IF_ERROR(gpu::AllocateArray(max_rows * inputs, &model->x_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(max_rows, &model->y_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(max_rows * inputs, &model->host_x_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(max_rows, &model->host_y_));
  absl::StatusOr<gpu::Event> event = gpu::Event::Create();
  if (!event.ok()) return event.status();
  model->batch_uploaded_ = *std::move(event);
  return model;
}

template <typename T>
absl::Status CudaMlp<T>::CheckArgs(const BasicBatch<T>& batch) const {
  if (batch.x == nullptr || batch.y == nullptr) {
    return absl::InvalidArgumentError("batch.x and batch.y must be non-null");
  }
  const int64_t inputs = stack_->layer_sizes().front();
  if (batch.dim != inputs) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "batch.dim is %d, expected layer_sizes[0] = %d", batch.dim, inputs));
  }
  PS_RETURN_IF_ERROR(CheckBatchRows("batch.rows", batch.rows, max_rows_));
  return CheckLabels("batch.y", batch.y, batch.rows, Head::kSoftmax,
                     stack_->outputs());
}

// Copies the batch into pinned memory on the host, then to the device on
// the copy stream; the compute stream waits for batch_uploaded_.
template <typename T>
absl::Status CudaMlp<T>::StageBatch(const BasicBatch<T>& batch) {
  PS_RETURN_IF_ERROR(batch_uploaded_.Synchronize());  // Staging area free.
  const int64_t x_bytes = batch.rows * batch.dim * sizeof(T);
  const int64_t y_bytes = batch.rows * sizeof(int32_t);
  std::memcpy(host_x_.data(), batch.x, x_bytes);
  std::memcpy(host_y_.data(), batch.y, y_bytes);
  PS_RETURN_IF_ERROR(
      ctx_->copy.CopyToDevice(x_.data(), host_x_.data(), x_bytes));
  PS_RETURN_IF_ERROR(
      ctx_->copy.CopyToDevice(y_.data(), host_y_.data(), y_bytes));
  PS_RETURN_IF_ERROR(ctx_->copy.Record(batch_uploaded_));
  staged_ = Staged{batch.x, batch.y, batch.rows};
  return absl::OkStatus();
}

// Makes `batch` the one in x_ and y_ (reusing a prefetched copy when it is
// this batch) and has the compute stream wait for it.
template <typename T>
absl::Status CudaMlp<T>::UseBatch(const BasicBatch<T>& batch) {
  PS_RETURN_IF_ERROR(gpu::SetDevice(ctx_->device));
  if (!(staged_ == Staged{batch.x, batch.y, batch.rows})) {
    PS_RETURN_IF_ERROR(StageBatch(batch));
  }
  staged_ = Staged();  // A copy serves one call: the caller may reuse memory.
  return ctx_->compute.Wait(batch_uploaded_);
}

template <typename T>
absl::Status CudaMlp<T>::RunForwardBackward(const T* params,
                                            const BasicBatch<T>& batch,
                                            T* grads, BatchStats* stats) {
  PS_RETURN_IF_ERROR(UseBatch(batch));
  PS_RETURN_IF_ERROR(stack_->Forward(params, x_.data(), batch.rows));
  PS_RETURN_IF_ERROR(stack_->LossAndGradient(y_.data(), batch.rows));
  PS_RETURN_IF_ERROR(stack_->Backward(x_.data(), batch.rows, /*dx=*/nullptr));
  PS_RETURN_IF_ERROR(stack_->DownloadGrads(grads));
  return stack_->AddStats(batch.rows, stats);
}

template <typename T>
absl::Status CudaMlp<T>::RunEvaluate(const T* params,
                                     const BasicBatch<T>& batch,
                                     BatchStats* stats) {
  PS_RETURN_IF_ERROR(UseBatch(batch));
  PS_RETURN_IF_ERROR(stack_->Forward(params, x_.data(), batch.rows));
  PS_RETURN_IF_ERROR(stack_->Loss(y_.data(), batch.rows));
  return stack_->AddStats(batch.rows, stats);
}

}  // namespace

template <typename T>
absl::StatusOr<std::unique_ptr<BasicModel<T>>> CreateCudaMlp(
    std::vector<int64_t> layer_sizes, int64_t max_batch_rows, int gpu_index) {
  PS_RETURN_IF_ERROR(
      ValidateMlpShape(layer_sizes, Head::kSoftmax, max_batch_rows));
  absl::StatusOr<gpu::DeviceInfo> info = gpu::UseDevice(gpu_index);
  if (!info.ok()) return info.status();
  const int64_t batch_bytes =
      max_batch_rows * (layer_sizes.front() * sizeof(T) + sizeof(int32_t));
  const int64_t needed =
      CudaDenseStack<T>::DeviceBytes(layer_sizes, max_batch_rows) + batch_bytes;
  PS_RETURN_IF_ERROR(CheckFitsGpu(
      *info, gpu_index, needed,
      absl::StrFormat("an MLP with %d parameters and batches of %d",
                      MlpParamCount(layer_sizes), max_batch_rows)));
  // Pinned staging for parameters and gradients mirrors their device copies.
  PS_RETURN_IF_ERROR(CheckFitsHostMemory(static_cast<double>(needed),
                                         "the MLP's pinned staging buffers"));
  absl::StatusOr<std::unique_ptr<CudaMlp<T>>> model =
      CudaMlp<T>::Create(std::move(layer_sizes), max_batch_rows, gpu_index);
  if (!model.ok()) return model.status();
  return std::unique_ptr<BasicModel<T>>(*std::move(model));
}

template absl::StatusOr<std::unique_ptr<BasicModel<float>>>
CreateCudaMlp<float>(std::vector<int64_t>, int64_t, int);
template absl::StatusOr<std::unique_ptr<BasicModel<double>>>
CreateCudaMlp<double>(std::vector<int64_t>, int64_t, int);

}  // namespace ps::worker
