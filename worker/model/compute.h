// Picks the compute backend a worker trains on: CUDA when asked for (or, by
// default, when a GPU is visible), else the CPU. Everything above this file
// sees only the Model / EmbeddingModel interfaces.

#ifndef PS_WORKER_MODEL_COMPUTE_H_
#define PS_WORKER_MODEL_COMPUTE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "worker/model/embedding_model.h"
#include "worker/model/model.h"

namespace ps::worker {

enum class Device {
  kAuto,  // CUDA when at least one GPU is visible, else CPU.
  kCpu,
  kCuda,  // A GPU is required: its absence is an error, never a fallback.
};

// "auto", "cpu" or "cuda"; anything else is InvalidArgument naming the
// value and the allowed ones.
absl::StatusOr<Device> ParseDevice(absl::string_view name);
const char* DeviceName(Device device);

struct ComputeOptions {
  Device device = Device::kAuto;
  // Which visible GPU (CUDA's numbering, after CUDA_VISIBLE_DEVICES) the
  // CUDA backend uses; run one worker per GPU with --gpu=0, 1, ... Ignored
  // when the CPU backend is chosen.
  int gpu_index = 0;
};

// Where the models will run, and a line saying so for the logs.
struct Placement {
  Device device = Device::kCpu;  // kCpu or kCuda, never kAuto.
  int gpu_index = 0;
  std::string description;  // e.g. "cuda:0 (NVIDIA H100, ...)" or "cpu".
};

// Resolves kAuto and checks the GPU. Errors: FailedPrecondition for
// --device=cuda with no visible GPU (quoting cudaGetDeviceCount's error, e.g.
// no driver); InvalidArgument for a gpu_index outside the visible GPUs when
// the CUDA backend is chosen.
absl::StatusOr<Placement> ResolveDevice(const ComputeOptions& options);

// The dense MLP / softmax regression (see cpu_mlp.h) on the resolved
// backend. Errors: ResolveDevice's; InvalidArgument naming the sizes for a
// bad shape; ResourceExhausted naming bytes needed and available when the
// model does not fit the GPU (or the machine).
absl::StatusOr<std::unique_ptr<Model>> CreateModel(
    std::vector<int64_t> layer_sizes, int64_t max_batch_rows,
    const ComputeOptions& options);

// The embedding + MLP model (see embedding_model.h) on the resolved backend,
// with the same errors.
absl::StatusOr<std::unique_ptr<EmbeddingModel>> CreateEmbeddingModel(
    const EmbeddingModelSpec& spec, const ComputeOptions& options);

}  // namespace ps::worker

#endif  // PS_WORKER_MODEL_COMPUTE_H_
