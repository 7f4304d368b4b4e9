// cudaError_t to absl::Status, for the nvcc-built sources only (it needs the
// CUDA headers, which the rest of the worker never includes).

#ifndef PS_WORKER_CUDA_GPU_STATUS_H_
#define PS_WORKER_CUDA_GPU_STATUS_H_

#include <cuda_runtime.h>

#include <string>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"

namespace ps::worker::gpu {

// OK for cudaSuccess; otherwise a status naming `what` and the runtime's
// error: ResourceExhausted for an allocation failure, FailedPrecondition
// when no device or driver is usable, Internal for the rest. Clears the
// runtime's last-error slot so a later launch check does not report this
// error again.
inline absl::Status FromCuda(cudaError_t error, absl::string_view what) {
  if (error == cudaSuccess) return absl::OkStatus();
  cudaGetLastError();
  const std::string message =
      absl::StrCat(what, ": ", cudaGetErrorName(error), " (",
                   cudaGetErrorString(error), ")");
  switch (error) {
    case cudaErrorMemoryAllocation:
      return absl::ResourceExhaustedError(message);
    case cudaErrorNoDevice:
    case cudaErrorInsufficientDriver:
    case cudaErrorInvalidDevice:
    case cudaErrorDevicesUnavailable:
    case cudaErrorInitializationError:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

}  // namespace ps::worker::gpu

#endif  // PS_WORKER_CUDA_GPU_STATUS_H_
