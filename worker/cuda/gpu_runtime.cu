// Built by nvcc (see worker/BUILD); everything else includes only the header.
#include <cublas_v2.h>
#include <cuda_runtime.h>

#include <atomic>

#include "absl/strings/str_cat.h"
#include "worker/cuda/device_wait.h"
#include "worker/cuda/gpu_runtime.h"
#include "worker/cuda/gpu_status.h"

namespace ps::worker::gpu {
namespace {

cudaStream_t AsStream(void* handle) {
  return static_cast<cudaStream_t>(handle);
}
cudaEvent_t AsEvent(void* handle) { return static_cast<cudaEvent_t>(handle); }
cublasHandle_t AsBlas(void* handle) {
  return static_cast<cublasHandle_t>(handle);
}

cublasOperation_t ToCublas(Transpose t) {
  return t == Transpose::kNo ? CUBLAS_OP_N : CUBLAS_OP_T;
}

absl::Status FromCublas(cublasStatus_t status, const char* what) {
  if (status == CUBLAS_STATUS_SUCCESS) return absl::OkStatus();
  const std::string message =
      absl::StrCat(what, ": ", cublasGetStatusName(status), " (",
                   cublasGetStatusString(status), ")");
  switch (status) {
    case CUBLAS_STATUS_ALLOC_FAILED:
      return absl::ResourceExhaustedError(message);
    case CUBLAS_STATUS_NOT_INITIALIZED:
    case CUBLAS_STATUS_ARCH_MISMATCH:
      return absl::FailedPreconditionError(message);
    default:
      return absl::InternalError(message);
  }
}

// Set once a wait gave up on the device. From then on nothing is freed or
// destroyed: cudaFree, cudaFreeHost and the destroy calls synchronise with
// the device, so on a hung GPU they would block the task before it could
// report its failure (and heartbeats would keep the job alive). The memory
// is leaked; a worker whose GPU hung needs a restart anyway.
std::atomic<bool> device_hung{false};

// WaitForDevice, remembering a timeout in device_hung.
template <typename Poll, typename Describe>
absl::Status WaitOrMarkHung(Poll poll, Describe describe) {
  absl::Status s = WaitForDevice(poll, kDeviceWaitLimit, describe);
  if (absl::IsDeadlineExceeded(s)) device_hung = true;
  return s;
}

// A query of queued work: true when it finished, false while it runs.
absl::StatusOr<bool> Done(cudaError_t error, const char* what) {
  if (error == cudaErrorNotReady) return false;
  absl::Status s = FromCuda(error, what);
  if (!s.ok()) return s;
  return true;
}

// "GPU <index> (<name>)" for the calling thread's current device.
std::string CurrentDevice() {
  int index = -1;
  if (cudaGetDevice(&index) != cudaSuccess) return "the current GPU";
  cudaDeviceProp prop;
  if (cudaGetDeviceProperties(&prop, index) != cudaSuccess) {
    return absl::StrCat("GPU ", index);
  }
  return absl::StrCat("GPU ", index, " (", prop.name, ")");
}

// cuBLAS is column-major; a row-major matrix is its transpose in column-major
// terms, so row-major C = op(A) op(B) is column-major C^T = op(B)^T op(A)^T:
// swap the operands and keep each one's flag and leading dimension.
cublasStatus_t GemmCall(cublasHandle_t h, cublasOperation_t ta,
                        cublasOperation_t tb, int m, int n, int k,
                        const float* a, int lda, const float* b, int ldb,
                        float beta, float* c) {
  const float one = 1.0f;
  return cublasSgemm(h, tb, ta, n, m, k, &one, b, ldb, a, lda, &beta, c, n);
}

cublasStatus_t GemmCall(cublasHandle_t h, cublasOperation_t ta,
                        cublasOperation_t tb, int m, int n, int k,
                        const double* a, int lda, const double* b, int ldb,
                        double beta, double* c) {
  const double one = 1.0;
  return cublasDgemm(h, tb, ta, n, m, k, &one, b, ldb, a, lda, &beta, c, n);
}

}  // namespace

bool BuiltWithCuda() { return true; }

absl::StatusOr<int> DeviceCount() {
  int count = 0;
  if (absl::Status s =
          FromCuda(cudaGetDeviceCount(&count), "cudaGetDeviceCount");
      !s.ok()) {
    return s;
  }
  return count;
}

absl::Status SetDevice(int index) {
  return FromCuda(cudaSetDevice(index), "cudaSetDevice");
}

absl::StatusOr<DeviceInfo> UseDevice(int index) {
  if (absl::Status s = SetDevice(index); !s.ok()) return s;
  cudaDeviceProp prop;
  if (absl::Status s = FromCuda(cudaGetDeviceProperties(&prop, index),
                                "cudaGetDeviceProperties");
      !s.ok()) {
    return s;
  }
  size_t free_bytes = 0, total_bytes = 0;
  if (absl::Status s =
          FromCuda(cudaMemGetInfo(&free_bytes, &total_bytes), "cudaMemGetInfo");
      !s.ok()) {
    return s;
  }
  DeviceInfo info;
  info.name = prop.name;
  info.compute_major = prop.major;
  info.compute_minor = prop.minor;
  info.total_bytes = static_cast<int64_t>(total_bytes);
  info.free_bytes = static_cast<int64_t>(free_bytes);
  return info;
}

absl::StatusOr<DeviceMemory> DeviceMemory::Allocate(int64_t bytes) {
  DeviceMemory memory;
  if (bytes <= 0) return memory;
  if (absl::Status s =
          FromCuda(cudaMalloc(&memory.data_, bytes),
                   absl::StrCat("cudaMalloc of ", bytes, " bytes"));
      !s.ok()) {
    return s;
  }
  memory.bytes_ = bytes;
  return memory;
}

DeviceMemory::~DeviceMemory() {
  if (data_ != nullptr && !device_hung) cudaFree(data_);
}

absl::StatusOr<PinnedMemory> PinnedMemory::Allocate(int64_t bytes) {
  PinnedMemory memory;
  if (bytes <= 0) return memory;
  if (absl::Status s =
          FromCuda(cudaHostAlloc(&memory.data_, bytes, cudaHostAllocDefault),
                   absl::StrCat("cudaHostAlloc of ", bytes, " bytes"));
      !s.ok()) {
    return s;
  }
  memory.bytes_ = bytes;
  return memory;
}

PinnedMemory::~PinnedMemory() {
  if (data_ != nullptr && !device_hung) cudaFreeHost(data_);
}

absl::StatusOr<Event> Event::Create(Timing timing) {
  Event event;
  cudaEvent_t e = nullptr;
  const unsigned flags =
      timing == Timing::kEnabled ? cudaEventDefault : cudaEventDisableTiming;
  if (absl::Status s =
          FromCuda(cudaEventCreateWithFlags(&e, flags), "cudaEventCreate");
      !s.ok()) {
    return s;
  }
  event.event_ = e;
  return event;
}

Event::~Event() {
  if (event_ != nullptr && !device_hung) cudaEventDestroy(AsEvent(event_));
}

absl::Status Event::Synchronize() const {
  return WaitOrMarkHung(
      [this]() -> absl::StatusOr<bool> {
        return Done(cudaEventQuery(AsEvent(event_)), "cudaEventQuery");
      },
      [] { return absl::StrCat("an event on ", CurrentDevice()); });
}

absl::Status CreateEvents(int count, std::vector<Event>* events) {
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<Event> event = Event::Create();
    if (!event.ok()) return event.status();
    events->push_back(*std::move(event));
  }
  return absl::OkStatus();
}

absl::StatusOr<float> ElapsedMilliseconds(const Event& start,
                                          const Event& end) {
  float ms = 0;
  if (absl::Status s =
          FromCuda(cudaEventElapsedTime(&ms, AsEvent(start.handle()),
                                        AsEvent(end.handle())),
                   "cudaEventElapsedTime");
      !s.ok()) {
    return s;
  }
  return ms;
}

absl::StatusOr<Stream> Stream::Create() {
  Stream stream;
  cudaStream_t s = nullptr;
  // Non-blocking: no implicit waits on the legacy default stream, which
  // other code in the process (cuBLAS set-up, other models) may use.
  if (absl::Status st =
          FromCuda(cudaStreamCreateWithFlags(&s, cudaStreamNonBlocking),
                   "cudaStreamCreate");
      !st.ok()) {
    return st;
  }
  stream.stream_ = s;
  return stream;
}

Stream::~Stream() {
  if (stream_ != nullptr && !device_hung) {
    cudaStreamDestroy(AsStream(stream_));
  }
}

absl::Status Stream::CopyToDevice(void* device, const void* host,
                                  int64_t bytes) const {
  if (bytes <= 0) return absl::OkStatus();
  return FromCuda(cudaMemcpyAsync(device, host, bytes, cudaMemcpyHostToDevice,
                                  AsStream(stream_)),
                  "cudaMemcpyAsync to the device");
}

absl::Status Stream::CopyToHost(void* host, const void* device,
                                int64_t bytes) const {
  if (bytes <= 0) return absl::OkStatus();
  return FromCuda(cudaMemcpyAsync(host, device, bytes, cudaMemcpyDeviceToHost,
                                  AsStream(stream_)),
                  "cudaMemcpyAsync to the host");
}

absl::Status Stream::Zero(void* device, int64_t bytes) const {
  if (bytes <= 0) return absl::OkStatus();
  return FromCuda(cudaMemsetAsync(device, 0, bytes, AsStream(stream_)),
                  "cudaMemsetAsync");
}

absl::Status Stream::Record(const Event& event) const {
  return FromCuda(cudaEventRecord(AsEvent(event.handle()), AsStream(stream_)),
                  "cudaEventRecord");
}

absl::Status Stream::Wait(const Event& event) const {
  return FromCuda(
      cudaStreamWaitEvent(AsStream(stream_), AsEvent(event.handle()), 0),
      "cudaStreamWaitEvent");
}

absl::Status Stream::Synchronize() const {
  return WaitOrMarkHung(
      [this]() -> absl::StatusOr<bool> {
        return Done(cudaStreamQuery(AsStream(stream_)), "cudaStreamQuery");
      },
      [] { return absl::StrCat("a stream's work on ", CurrentDevice()); });
}

absl::StatusOr<Blas> Blas::Create(const Stream& stream) {
  Blas blas;
  cublasHandle_t h = nullptr;
  if (absl::Status s = FromCublas(cublasCreate(&h), "cublasCreate"); !s.ok()) {
    return s;
  }
  blas.handle_ = h;  // Owned from here: destroyed with `blas` on error.
  if (absl::Status s = FromCublas(cublasSetStream(h, AsStream(stream.handle())),
                                  "cublasSetStream");
      !s.ok()) {
    return s;
  }
  return blas;
}

Blas::~Blas() {
  if (handle_ != nullptr && !device_hung) cublasDestroy(AsBlas(handle_));
}

template <typename T>
absl::Status Blas::Gemm(Transpose trans_a, Transpose trans_b, int64_t m,
                        int64_t n, int64_t k, const T* a, const T* b, T beta,
                        T* c) const {
  const int64_t lda = trans_a == Transpose::kNo ? k : m;
  const int64_t ldb = trans_b == Transpose::kNo ? n : k;
  return FromCublas(
      GemmCall(AsBlas(handle_), ToCublas(trans_a), ToCublas(trans_b), m, n, k,
               a, lda, b, ldb, beta, c),
      "cublas gemm");
}

template absl::Status Blas::Gemm<float>(Transpose, Transpose, int64_t, int64_t,
                                        int64_t, const float*, const float*,
                                        float, float*) const;
template absl::Status Blas::Gemm<double>(Transpose, Transpose, int64_t, int64_t,
                                         int64_t, const double*, const double*,
                                         double, double*) const;

}  // namespace ps::worker::gpu
