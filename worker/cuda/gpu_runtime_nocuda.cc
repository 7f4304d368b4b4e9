// gpu_runtime.h in a build without the CUDA toolkit (worker/cuda/cuda.bzl):
// there is never a device, so every call answers FAILED_PRECONDITION saying
// so, and the worker runs on the CPU (--device=cuda is refused with this
// message). Objects are never created, so the destructors have nothing to
// free.
#include "worker/cuda/gpu_runtime.h"

namespace ps::worker::gpu {

namespace {

absl::Status NoCuda() {
  return absl::FailedPreconditionError(
      "this ps_worker was built without CUDA (no nvcc at build time); "
      "rebuild on a machine with the CUDA toolkit, or with --config=cuda, "
      "to use a GPU");
}

}  // namespace

bool BuiltWithCuda() { return false; }

absl::StatusOr<int> DeviceCount() { return NoCuda(); }
absl::Status SetDevice(int) { return NoCuda(); }
absl::StatusOr<DeviceInfo> UseDevice(int) { return NoCuda(); }

absl::StatusOr<DeviceMemory> DeviceMemory::Allocate(int64_t) {
  return NoCuda();
}
DeviceMemory::~DeviceMemory() = default;
absl::StatusOr<PinnedMemory> PinnedMemory::Allocate(int64_t) {
  return NoCuda();
}
PinnedMemory::~PinnedMemory() = default;

absl::StatusOr<Event> Event::Create(Timing) { return NoCuda(); }
Event::~Event() = default;
absl::Status Event::Synchronize() const { return NoCuda(); }
absl::Status CreateEvents(int, std::vector<Event>*) { return NoCuda(); }
absl::StatusOr<float> ElapsedMilliseconds(const Event&, const Event&) {
  return NoCuda();
}

absl::StatusOr<Stream> Stream::Create() { return NoCuda(); }
Stream::~Stream() = default;
absl::Status Stream::CopyToDevice(void*, const void*, int64_t) const {
  return NoCuda();
}
absl::Status Stream::CopyToHost(void*, const void*, int64_t) const {
  return NoCuda();
}
absl::Status Stream::Zero(void*, int64_t) const { return NoCuda(); }
absl::Status Stream::Record(const Event&) const { return NoCuda(); }
absl::Status Stream::Wait(const Event&) const { return NoCuda(); }
absl::Status Stream::Synchronize() const { return NoCuda(); }

absl::StatusOr<Blas> Blas::Create(const Stream&) { return NoCuda(); }
Blas::~Blas() = default;
template <typename T>
absl::Status Blas::Gemm(Transpose, Transpose, int64_t, int64_t, int64_t,
                        const T*, const T*, T, T*) const {
  return NoCuda();
}
template absl::Status Blas::Gemm<float>(Transpose, Transpose, int64_t, int64_t,
                                        int64_t, const float*, const float*,
                                        float, float*) const;
template absl::Status Blas::Gemm<double>(Transpose, Transpose, int64_t, int64_t,
                                         int64_t, const double*, const double*,
                                         double, double*) const;

}  // namespace ps::worker::gpu
