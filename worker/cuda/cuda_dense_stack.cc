#include "worker/cuda/cuda_dense_stack.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_format.h"
#include "worker/cuda/gpu_kernels.h"
#include "worker/cuda/status_macros.h"

namespace ps::worker {

using gpu::Transpose;

absl::StatusOr<std::unique_ptr<GpuContext>> GpuContext::Create(int device) {
  auto ctx = std::make_unique<GpuContext>();
  ctx->device = device;
  PS_RETURN_IF_ERROR(gpu::SetDevice(device));
  absl::StatusOr<gpu::Stream> compute = gpu::Stream::Create();
  if (!compute.ok()) return compute.status();
  ctx->compute = *std::move(compute);
  absl::StatusOr<gpu::Stream> copy = gpu::Stream::Create();
  if (!copy.ok()) return copy.status();
  ctx->copy = *std::move(copy);
  absl::StatusOr<gpu::Blas> blas = gpu::Blas::Create(ctx->compute);
  if (!blas.ok()) return blas.status();
  ctx->blas = *std::move(blas);
  return ctx;
}

void GpuContext::Drain() const {
  compute.Synchronize().IgnoreError();
  copy.Synchronize().IgnoreError();
}

absl::Status CheckFitsGpu(const gpu::DeviceInfo& info, int device,
                          int64_t needed, absl::string_view what) {
  if (needed + kGpuReserveBytes <= info.free_bytes) return absl::OkStatus();
  return absl::ResourceExhaustedError(absl::StrFormat(
      "%s needs %d bytes of GPU memory (plus %d reserved for cuBLAS) but "
      "GPU %d (%s) has %d bytes free of %d",
      what, needed, kGpuReserveBytes, device, info.name, info.free_bytes,
      info.total_bytes));
}

template <typename T>
int64_t CudaDenseStack<T>::DeviceBytes(const std::vector<int64_t>& layer_sizes,
                                       int64_t max_rows) {
  const int64_t values = 2 * MlpParamCount(layer_sizes) +
                         MlpScratchCount(layer_sizes, max_rows) + max_rows;
  return values * static_cast<int64_t>(sizeof(T)) +
         max_rows * static_cast<int64_t>(sizeof(int32_t));
}

template <typename T>
CudaDenseStack<T>::CudaDenseStack(const GpuContext* ctx,
                                  std::vector<int64_t> sizes, Head head)
    : ctx_(ctx),
      sizes_(std::move(sizes)),
      head_(head),
      num_params_(MlpParamCount(sizes_)),
      offsets_(MlpLayerOffsets(sizes_)) {}

template <typename T>
absl::StatusOr<std::unique_ptr<CudaDenseStack<T>>> CudaDenseStack<T>::Create(
    const GpuContext* ctx, std::vector<int64_t> layer_sizes, Head head,
    int64_t max_rows) {
  std::unique_ptr<CudaDenseStack> stack(
      new CudaDenseStack(ctx, std::move(layer_sizes), head));
  PS_RETURN_IF_ERROR(stack->Allocate(max_rows));
  return stack;
}

template <typename T>
absl::Status CudaDenseStack<T>::Allocate(int64_t max_rows) {
  int64_t widest = 0;
  for (int l = 0; l < num_layers(); ++l) {
    activations_.emplace_back();
    PS_RETURN_IF_ERROR(
        gpu::AllocateArray(max_rows * sizes_[l + 1], &activations_.back()));
    widest = std::max(widest, sizes_[l + 1]);
  }
  PS_RETURN_IF_ERROR(gpu::AllocateArray(num_params_, &params_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(num_params_, &grads_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(max_rows * widest, &delta_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(max_rows * widest, &next_delta_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(max_rows, &row_loss_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(max_rows, &row_correct_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(num_params_, &host_params_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(num_params_, &host_grads_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(max_rows, &host_row_loss_));
  PS_RETURN_IF_ERROR(gpu::AllocateArray(max_rows, &host_row_correct_));
  PS_RETURN_IF_ERROR(gpu::CreateEvents(num_layers(), &params_uploaded_));
  PS_RETURN_IF_ERROR(gpu::CreateEvents(num_layers(), &grads_ready_));
  PS_RETURN_IF_ERROR(gpu::CreateEvents(num_layers(), &grads_copied_));
  absl::StatusOr<gpu::Event> event = gpu::Event::Create();
  if (!event.ok()) return event.status();
  stats_copied_ = *std::move(event);
  return absl::OkStatus();
}

// Stages one layer's weight and bias through pinned memory and queues its
// copy; the compute stream waits for this layer only.
template <typename T>
absl::Status CudaDenseStack<T>::UploadLayer(const T* host_params, int l) {
  const int64_t offset = offsets_[l];
  const int64_t bytes = layer_params(l) * static_cast<int64_t>(sizeof(T));
  // The previous call's copy out of this staging area is long done (calls
  // end synchronised); waiting here keeps that true even after an error.
  PS_RETURN_IF_ERROR(params_uploaded_[l].Synchronize());
  std::memcpy(host_params_.data() + offset, host_params + offset, bytes);
  PS_RETURN_IF_ERROR(ctx_->copy.CopyToDevice(
      params_.data() + offset, host_params_.data() + offset, bytes));
  PS_RETURN_IF_ERROR(ctx_->copy.Record(params_uploaded_[l]));
  return ctx_->compute.Wait(params_uploaded_[l]);
}

template <typename T>
absl::Status CudaDenseStack<T>::Forward(const T* host_params, const T* x,
                                        int64_t rows) {
  const T* in = x;
  for (int l = 0; l < num_layers(); ++l) {
    const int64_t n_in = sizes_[l];
    const int64_t n_out = sizes_[l + 1];
    const T* weight = params_.data() + offsets_[l];
    T* out = activations_[l].data();
    PS_RETURN_IF_ERROR(UploadLayer(host_params, l));
    PS_RETURN_IF_ERROR(ctx_->blas.Gemm(Transpose::kNo, Transpose::kNo, rows,
                                       n_out, n_in, in, weight, T{0}, out));
    const gpu::Activation activation =
        l + 1 < num_layers() ? gpu::Activation::kRelu : gpu::Activation::kNone;
    PS_RETURN_IF_ERROR(gpu::AddBiasActivation(
        ctx_->compute, weight + n_in * n_out, rows, n_out, activation, out));
    in = out;
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status CudaDenseStack<T>::QueueLoss(const int32_t* labels, int64_t rows,
                                          T* dlogits) {
  if (head_ == Head::kLogistic) {
    PS_RETURN_IF_ERROR(gpu::LogisticLoss(ctx_->compute, device_logits(), labels,
                                         rows, dlogits, row_loss_.data(),
                                         row_correct_.data()));
  } else {
    PS_RETURN_IF_ERROR(gpu::SoftmaxCrossEntropy(
        ctx_->compute, device_logits(), labels, rows, outputs(), dlogits,
        row_loss_.data(), row_correct_.data()));
  }
  PS_RETURN_IF_ERROR(ctx_->compute.CopyToHost(
      host_row_loss_.data(), row_loss_.data(), rows * sizeof(T)));
  PS_RETURN_IF_ERROR(ctx_->compute.CopyToHost(
      host_row_correct_.data(), row_correct_.data(), rows * sizeof(int32_t)));
  return ctx_->compute.Record(stats_copied_);
}

template <typename T>
absl::Status CudaDenseStack<T>::Loss(const int32_t* labels, int64_t rows) {
  return QueueLoss(labels, rows, /*dlogits=*/nullptr);
}

template <typename T>
absl::Status CudaDenseStack<T>::LossAndGradient(const int32_t* labels,
                                                int64_t rows) {
  return QueueLoss(labels, rows, delta_.data());
}

// Queues layer l's weight and bias gradients and their copy to the host.
template <typename T>
absl::Status CudaDenseStack<T>::BackwardLayer(int l, const T* in, int64_t rows,
                                              const T* dy) {
  const int64_t n_in = sizes_[l];
  const int64_t n_out = sizes_[l + 1];
  T* grad_weight = grads_.data() + offsets_[l];
  PS_RETURN_IF_ERROR(ctx_->blas.Gemm(Transpose::kYes, Transpose::kNo, n_in,
                                     n_out, rows, in, dy, T{0}, grad_weight));
  PS_RETURN_IF_ERROR(gpu::ColumnSums(ctx_->compute, dy, rows, n_out,
                                     grad_weight + n_in * n_out));
  PS_RETURN_IF_ERROR(ctx_->compute.Record(grads_ready_[l]));
  PS_RETURN_IF_ERROR(ctx_->copy.Wait(grads_ready_[l]));
  PS_RETURN_IF_ERROR(ctx_->copy.CopyToHost(host_grads_.data() + offsets_[l],
                                           grad_weight,
                                           layer_params(l) * sizeof(T)));
  return ctx_->copy.Record(grads_copied_[l]);
}

template <typename T>
absl::Status CudaDenseStack<T>::Backward(const T* x, int64_t rows, T* dx) {
  T* dy = delta_.data();
  T* dz = next_delta_.data();
  for (int l = num_layers() - 1; l >= 0; --l) {
    const T* in = l == 0 ? x : activations_[l - 1].data();
    PS_RETURN_IF_ERROR(BackwardLayer(l, in, rows, dy));
    // Layer 0's input gradient is only wanted when x is itself trained.
    T* out = l > 0 ? dz : dx;
    if (out == nullptr) break;
    PS_RETURN_IF_ERROR(ctx_->blas.Gemm(
        Transpose::kNo, Transpose::kYes, rows, sizes_[l], sizes_[l + 1], dy,
        params_.data() + offsets_[l], T{0}, out));
    if (l == 0) break;
    PS_RETURN_IF_ERROR(
        gpu::ReluBackward(ctx_->compute, in, rows * sizes_[l], dz));
    std::swap(dy, dz);
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status CudaDenseStack<T>::DownloadGrads(T* host_grads) {
  for (int l = num_layers() - 1; l >= 0; --l) {
    PS_RETURN_IF_ERROR(grads_copied_[l].Synchronize());
    std::memcpy(host_grads + offsets_[l], host_grads_.data() + offsets_[l],
                layer_params(l) * sizeof(T));
  }
  return absl::OkStatus();
}

template <typename T>
absl::Status CudaDenseStack<T>::AddStats(int64_t rows, BatchStats* stats) {
  PS_RETURN_IF_ERROR(stats_copied_.Synchronize());
  for (int64_t r = 0; r < rows; ++r) {
    stats->loss_sum += host_row_loss_.data()[r];
    stats->correct += host_row_correct_.data()[r];
  }
  stats->count += rows;
  return absl::OkStatus();
}

template class CudaDenseStack<float>;
template class CudaDenseStack<double>;

}  // namespace ps::worker
