#include "worker/model/compute.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "worker/cpu/cpu_embedding_model.h"
#include "worker/cpu/cpu_mlp.h"
#include "worker/cuda/cuda_embedding_model.h"
#include "worker/cuda/cuda_mlp.h"
#include "worker/cuda/gpu_runtime.h"

namespace ps::worker {
namespace {

std::string DescribeGpu(int index) {
  absl::StatusOr<gpu::DeviceInfo> info = gpu::UseDevice(index);
  if (!info.ok()) return absl::StrFormat("cuda:%d", index);
  return absl::StrFormat("cuda:%d (%s, compute %d.%d, %.1f GiB)", index,
                         info->name, info->compute_major, info->compute_minor,
                         info->total_bytes / double{1 << 30});
}

Placement OnGpu(int index) {
  return Placement{Device::kCuda, index, DescribeGpu(index)};
}

absl::StatusOr<Placement> ResolveCuda(const ComputeOptions& options,
                                      const absl::StatusOr<int>& count) {
  if (!gpu::BuiltWithCuda()) {
    return absl::FailedPreconditionError(
        absl::StrCat("--device=cuda: ", count.status().message()));
  }
  if (!count.ok() || *count == 0) {
    return absl::FailedPreconditionError(
        absl::StrFormat("--device=cuda but no CUDA device is visible (%s)",
                        count.ok() ? "cudaGetDeviceCount: 0 devices"
                                   : count.status().message()));
  }
  if (options.gpu_index < 0 || options.gpu_index >= *count) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "--gpu=%d is out of range: %d CUDA device(s) visible, expected 0..%d",
        options.gpu_index, *count, *count - 1));
  }
  return OnGpu(options.gpu_index);
}

}  // namespace

absl::StatusOr<Device> ParseDevice(absl::string_view name) {
  if (name == "auto") return Device::kAuto;
  if (name == "cpu") return Device::kCpu;
  if (name == "cuda") return Device::kCuda;
  return absl::InvalidArgumentError(absl::StrFormat(
      "device \"%s\" is not known; allowed: auto, cuda, cpu", name));
}

const char* DeviceName(Device device) {
  switch (device) {
    case Device::kAuto:
      return "auto";
    case Device::kCpu:
      return "cpu";
    case Device::kCuda:
      return "cuda";
  }
  return "unknown";
}

absl::StatusOr<Placement> ResolveDevice(const ComputeOptions& options) {
  if (options.device == Device::kCpu) return Placement{Device::kCpu, 0, "cpu"};
  const absl::StatusOr<int> count = gpu::DeviceCount();
  if (options.device == Device::kCuda) return ResolveCuda(options, count);
  if (!count.ok() || *count == 0) {
    return Placement{
        Device::kCpu, 0,
        absl::StrFormat("cpu (no CUDA device: %s)",
                        count.ok() ? "0 visible" : count.status().message())};
  }
  // A GPU is there: an explicit --gpu must then name one of them.
  return ResolveCuda(options, count);
}

absl::StatusOr<std::unique_ptr<Model>> CreateModel(
    std::vector<int64_t> layer_sizes, int64_t max_batch_rows,
    const ComputeOptions& options) {
  absl::StatusOr<Placement> placement = ResolveDevice(options);
  if (!placement.ok()) return placement.status();
  if (placement->device == Device::kCuda) {
    return CreateCudaMlp(std::move(layer_sizes), max_batch_rows,
                         placement->gpu_index);
  }
  return CreateCpuMlp(std::move(layer_sizes), max_batch_rows);
}

absl::StatusOr<std::unique_ptr<EmbeddingModel>> CreateEmbeddingModel(
    const EmbeddingModelSpec& spec, const ComputeOptions& options) {
  absl::StatusOr<Placement> placement = ResolveDevice(options);
  if (!placement.ok()) return placement.status();
  if (placement->device == Device::kCuda) {
    return CreateCudaEmbeddingModel(spec, placement->gpu_index);
  }
  return CreateCpuEmbeddingModel(spec);
}

}  // namespace ps::worker
