// The dense layers and loss head that the CUDA models share (the device twin
// of cpu_dense_stack.h), plus the device context they run in.
//
// What overlaps with what, per step:
//   - parameters go to the device layer by layer: the host stages layer l+1
//     into pinned memory while layer l is copied (copy stream) and computed
//     (compute stream), which waits for its own layer's copy only;
//   - gradients come back layer by layer: as soon as backward has produced
//     layer l's gradient its copy to pinned memory starts on the copy stream,
//     and the host unpacks it while the device works on layer l-1;
//   - the models copy the batch ahead (BasicModel::Prefetch) so its upload
//     overlaps the trainer's parameter pull.
// Every public model call returns only once the device is done with its
// buffers, so the next call may overwrite them.

#ifndef PS_WORKER_CUDA_CUDA_DENSE_STACK_H_
#define PS_WORKER_CUDA_CUDA_DENSE_STACK_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/cuda/gpu_runtime.h"
#include "worker/model/mlp_spec.h"
#include "worker/model/model.h"

namespace ps::worker {

// One GPU as a model uses it: the device index, a stream for compute, one
// for copies, and a cuBLAS handle on the compute stream.
struct GpuContext {
  int device = 0;
  gpu::Stream compute;
  gpu::Stream copy;
  gpu::Blas blas;

  // Makes `device` current for the calling thread and creates the streams
  // and the handle on it.
  static absl::StatusOr<std::unique_ptr<GpuContext>> Create(int device);

  // Waits for both streams, ignoring errors: used after a failed call so
  // that nothing in flight still touches buffers the next call rewrites.
  void Drain() const;
};

// Bytes of GPU memory that spares room for cuBLAS's workspace and kernels
// beyond what a model allocates itself.
inline constexpr int64_t kGpuReserveBytes = int64_t{64} << 20;

// ResourceExhausted naming both figures when `needed` bytes (described by
// `what`) plus kGpuReserveBytes exceed what device `info` has free.
absl::Status CheckFitsGpu(const gpu::DeviceInfo& info, int device,
                          int64_t needed, absl::string_view what);

// Not thread-safe. No method checks its arguments: callers validate the
// shape before Create and each batch before using it. Device pointers passed
// in must stay valid until the model call that uses them returns.
template <typename T>
class CudaDenseStack {
 public:
  // Device bytes Create allocates for this shape.
  static int64_t DeviceBytes(const std::vector<int64_t>& layer_sizes,
                             int64_t max_rows);

  // Allocates device and pinned memory for batches of up to max_rows rows
  // on ctx (not owned, must outlive the stack).
  static absl::StatusOr<std::unique_ptr<CudaDenseStack>> Create(
      const GpuContext* ctx, std::vector<int64_t> layer_sizes, Head head,
      int64_t max_rows);

  const std::vector<int64_t>& layer_sizes() const { return sizes_; }
  int64_t num_params() const { return num_params_; }
  int64_t outputs() const { return sizes_.back(); }

  // Uploads host_params (num_params() values, any host memory) and queues
  // every layer on x (device, rows x layer_sizes[0], ready for the compute
  // stream). Leaves the logits in device_logits().
  absl::Status Forward(const T* host_params, const T* x, int64_t rows);
  const T* device_logits() const { return activations_.back().data(); }
  // The same, writable: a caller may shift the logits before Loss or
  // LossAndGradient (Backward never reads the output layer's values).
  T* mutable_device_logits() { return activations_.back().data(); }

  // Queues the head's per-row loss (and, for LossAndGradient, the logit
  // gradient Backward starts from) and its copy back to the host.
  absl::Status Loss(const int32_t* labels, int64_t rows);
  absl::Status LossAndGradient(const int32_t* labels, int64_t rows);

  // Queues backward through the last Forward, with each layer's gradient
  // copied back as soon as it is ready; dx (device, may be null) receives
  // d(mean loss)/d(x).
  absl::Status Backward(const T* x, int64_t rows, T* dx);

  // Waits for the gradients layer by layer and writes them to host_grads.
  absl::Status DownloadGrads(T* host_grads);

  // Waits for the loss and adds the rows' loss, correct count and count to
  // *stats.
  absl::Status AddStats(int64_t rows, BatchStats* stats);

 private:
  CudaDenseStack(const GpuContext* ctx, std::vector<int64_t> sizes, Head head);
  absl::Status Allocate(int64_t max_rows);
  absl::Status QueueLoss(const int32_t* labels, int64_t rows, T* dlogits);
  absl::Status UploadLayer(const T* host_params, int l);
  absl::Status BackwardLayer(int l, const T* in, int64_t rows, const T* dy);
  int num_layers() const { return static_cast<int>(sizes_.size()) - 1; }
  int64_t layer_params(int l) const {
    return sizes_[l] * sizes_[l + 1] + sizes_[l + 1];
  }

  const GpuContext* ctx_;
  std::vector<int64_t> sizes_;
  Head head_;
  int64_t num_params_;
  std::vector<int64_t> offsets_;
  gpu::DeviceArray<T> params_, grads_;
  std::vector<gpu::DeviceArray<T>> activations_;
  gpu::DeviceArray<T> delta_, next_delta_;
  gpu::DeviceArray<T> row_loss_;
  gpu::DeviceArray<int32_t> row_correct_;
  gpu::PinnedArray<T> host_params_, host_grads_, host_row_loss_;
  gpu::PinnedArray<int32_t> host_row_correct_;
  std::vector<gpu::Event> params_uploaded_;  // Per layer, copy stream.
  std::vector<gpu::Event> grads_ready_;      // Per layer, compute stream.
  std::vector<gpu::Event> grads_copied_;     // Per layer, copy stream.
  gpu::Event stats_copied_;                  // Compute stream.
};

extern template class CudaDenseStack<float>;
extern template class CudaDenseStack<double>;

}  // namespace ps::worker

#endif  // PS_WORKER_CUDA_CUDA_DENSE_STACK_H_
