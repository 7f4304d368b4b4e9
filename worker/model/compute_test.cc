#include "worker/model/compute.h"

#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/cuda/gpu_runtime.h"

namespace ps::worker {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;
using ::testing::StartsWith;

bool GpuVisible() {
  absl::StatusOr<int> count = gpu::DeviceCount();
  return count.ok() && *count > 0;
}

TEST(ComputeTest, ParsesDeviceNames) {
  EXPECT_EQ(*ParseDevice("auto"), Device::kAuto);
  EXPECT_EQ(*ParseDevice("cpu"), Device::kCpu);
  EXPECT_EQ(*ParseDevice("cuda"), Device::kCuda);
  for (Device d : {Device::kAuto, Device::kCpu, Device::kCuda}) {
    EXPECT_EQ(*ParseDevice(DeviceName(d)), d);
  }
}

TEST(ComputeTest, RejectsUnknownDeviceNamingAllowedValues) {
  const absl::Status status = ParseDevice("gpu").status();
  EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr("\"gpu\""), HasSubstr("auto, cuda, cpu")));
}

TEST(ComputeTest, CpuIsAlwaysAvailable) {
  absl::StatusOr<Placement> placement =
      ResolveDevice({.device = Device::kCpu, .gpu_index = 7});
  ASSERT_TRUE(placement.ok()) << placement.status();
  EXPECT_EQ(placement->device, Device::kCpu);
  EXPECT_EQ(placement->description, "cpu");
}

// A binary linked with the CUDA runtime must start and choose the CPU on a
// machine without a GPU or driver.
TEST(ComputeTest, AutoFallsBackToCpuWithoutGpu) {
  if (GpuVisible()) GTEST_SKIP() << "a GPU is visible";
  absl::StatusOr<Placement> placement = ResolveDevice({});
  ASSERT_TRUE(placement.ok()) << placement.status();
  EXPECT_EQ(placement->device, Device::kCpu);
  EXPECT_THAT(placement->description, StartsWith("cpu (no CUDA device"));
}

TEST(ComputeTest, ExplicitCudaWithoutGpuIsAClearError) {
  if (GpuVisible()) GTEST_SKIP() << "a GPU is visible";
  for (const absl::Status& status :
       {ResolveDevice({.device = Device::kCuda}).status(),
        CreateModel({4, 3}, 8, {.device = Device::kCuda}).status()}) {
    EXPECT_EQ(status.code(), absl::StatusCode::kFailedPrecondition);
    if (gpu::BuiltWithCuda()) {
      EXPECT_THAT(std::string(status.message()),
                  StartsWith("--device=cuda but no CUDA device is visible "
                             "(cudaGetDeviceCount: "));
    } else {
      EXPECT_THAT(std::string(status.message()),
                  StartsWith("--device=cuda: this ps_worker was built without "
                             "CUDA"));
    }
  }
}

TEST(ComputeTest, GpuIndexOutOfRangeIsAClearError) {
  if (!GpuVisible()) GTEST_SKIP() << "no GPU visible";
  const int count = *gpu::DeviceCount();
  for (Device device : {Device::kAuto, Device::kCuda}) {
    const absl::Status status =
        ResolveDevice({.device = device, .gpu_index = count}).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("is out of range"));
  }
}

TEST(ComputeTest, AutoPicksTheGpuWhenOneIsVisible) {
  if (!GpuVisible()) GTEST_SKIP() << "no GPU visible";
  absl::StatusOr<Placement> placement = ResolveDevice({});
  ASSERT_TRUE(placement.ok()) << placement.status();
  EXPECT_EQ(placement->device, Device::kCuda);
  EXPECT_THAT(placement->description, StartsWith("cuda:0 ("));
}

TEST(ComputeTest, CreatesWorkingModelsOnTheDefaultDevice) {
  absl::StatusOr<std::unique_ptr<Model>> model = CreateModel({4, 3}, 8, {});
  ASSERT_TRUE(model.ok()) << model.status();
  const std::vector<float> params((*model)->num_params(), 0.1f);
  const std::vector<float> x(2 * 4, 1.0f);
  const std::vector<int32_t> y = {0, 2};
  std::vector<float> grads(params.size());
  BatchStats stats;
  ASSERT_TRUE((*model)
                  ->ForwardBackward(params.data(), {x.data(), y.data(), 2, 4},
                                    grads.data(), &stats)
                  .ok());
  EXPECT_EQ(stats.count, 2);

  EmbeddingModelSpec spec;
  spec.slots = 2;
  spec.dim = 3;
  spec.max_batch_rows = 4;
  absl::StatusOr<std::unique_ptr<EmbeddingModel>> embedding =
      CreateEmbeddingModel(spec, {});
  ASSERT_TRUE(embedding.ok()) << embedding.status();
  EXPECT_EQ((*embedding)->num_dense_params(), 2 * 3 + 1);
}

// Bad model shapes fail at creation with the sizes in the message, on
// every device choice, so the task fails with that reason.
TEST(ComputeTest, BadShapesNameTheSizes) {
  for (Device device : {Device::kAuto, Device::kCpu}) {
    const absl::Status status =
        CreateModel({784, 0, 10}, 8, {.device = device}).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(), HasSubstr("layer_sizes[1] is 0"));
  }
}

}  // namespace
}  // namespace ps::worker
