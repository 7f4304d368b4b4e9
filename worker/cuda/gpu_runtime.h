// A thin C++ face on the CUDA runtime and cuBLAS for the CUDA backend: device
// discovery, device and pinned host memory, streams, events and GEMM, every
// call returning absl::Status. This header has no CUDA types, so the
// backend's model code builds with the ordinary C++ toolchain; only
// gpu_runtime.cu and gpu_kernels.cu go through nvcc.
//
// Errors: ResourceExhausted when memory runs out, FailedPrecondition when
// there is no usable device or driver, Internal for anything else the
// runtime reports (a launch failure, a lost device); messages name the call
// and the runtime's error. A binary linked with this library starts on a
// machine without a GPU or driver: DeviceCount then returns an error.
//
// The CUDA runtime's current device is per host thread: objects here belong
// to the device that was current when they were created, and callers make
// that device current (SetDevice) in every thread that uses them.

#ifndef PS_WORKER_CUDA_GPU_RUNTIME_H_
#define PS_WORKER_CUDA_GPU_RUNTIME_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"

namespace ps::worker::gpu {

// False in a build without the CUDA toolkit (worker/cuda/cuda.bzl), where
// every call here answers FAILED_PRECONDITION saying so.
bool BuiltWithCuda();

// CUDA devices this process can use (after CUDA_VISIBLE_DEVICES). An error
// (no driver, a driver older than the runtime) carries the runtime's words;
// callers treat it as "no GPU".
absl::StatusOr<int> DeviceCount();

struct DeviceInfo {
  std::string name;
  int compute_major = 0;  // Compute capability, e.g. 9.0 for an H100.
  int compute_minor = 0;
  int64_t total_bytes = 0;
  int64_t free_bytes = 0;  // At the time of the query.
};

// Makes device `index` current for the calling thread.
absl::Status SetDevice(int index);

// SetDevice, then describes the device (creating its context if needed).
absl::StatusOr<DeviceInfo> UseDevice(int index);

// Memory on the current device, freed on destruction. Move-only.
class DeviceMemory {
 public:
  // ResourceExhausted when `bytes` do not fit. Zero bytes give a null data().
  static absl::StatusOr<DeviceMemory> Allocate(int64_t bytes);

  DeviceMemory() = default;
  DeviceMemory(DeviceMemory&& other) noexcept { *this = std::move(other); }
  DeviceMemory& operator=(DeviceMemory&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    return *this;
  }
  ~DeviceMemory();

  void* data() const { return data_; }
  int64_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  int64_t bytes_ = 0;
};

// Page-locked host memory: copies from and to it run asynchronously on a
// stream (copies from pageable memory make the host wait). Move-only.
class PinnedMemory {
 public:
  static absl::StatusOr<PinnedMemory> Allocate(int64_t bytes);

  PinnedMemory() = default;
  PinnedMemory(PinnedMemory&& other) noexcept { *this = std::move(other); }
  PinnedMemory& operator=(PinnedMemory&& other) noexcept {
    std::swap(data_, other.data_);
    std::swap(bytes_, other.bytes_);
    return *this;
  }
  ~PinnedMemory();

  void* data() const { return data_; }
  int64_t bytes() const { return bytes_; }

 private:
  void* data_ = nullptr;
  int64_t bytes_ = 0;
};

// Typed views that own their memory: Memory is DeviceMemory or PinnedMemory.
template <typename T, typename Memory>
class TypedArray {
 public:
  static absl::StatusOr<TypedArray> Allocate(int64_t size) {
    absl::StatusOr<Memory> memory =
        Memory::Allocate(size * static_cast<int64_t>(sizeof(T)));
    if (!memory.ok()) return memory.status();
    TypedArray array;
    array.memory_ = *std::move(memory);
    array.size_ = size;
    return array;
  }
  T* data() const { return static_cast<T*>(memory_.data()); }
  int64_t size() const { return size_; }

 private:
  Memory memory_;
  int64_t size_ = 0;
};

template <typename T>
using DeviceArray = TypedArray<T, DeviceMemory>;
template <typename T>
using PinnedArray = TypedArray<T, PinnedMemory>;

// Allocates `size` elements into *array, replacing (and freeing) what it
// held; on error *array is unchanged.
template <typename Array>
absl::Status AllocateArray(int64_t size, Array* array) {
  absl::StatusOr<Array> allocated = Array::Allocate(size);
  if (!allocated.ok()) return allocated.status();
  *array = *std::move(allocated);
  return absl::OkStatus();
}

// A point in a stream's work that the host or another stream can wait for.
// Synchronizing on an event never recorded returns at once. Move-only.
class Event {
 public:
  // Timed events can measure the time between two of them; untimed ones
  // are cheaper to record and wait on.
  enum class Timing { kDisabled, kEnabled };
  static absl::StatusOr<Event> Create(Timing timing = Timing::kDisabled);

  Event() = default;
  Event(Event&& other) noexcept { *this = std::move(other); }
  Event& operator=(Event&& other) noexcept {
    std::swap(event_, other.event_);
    return *this;
  }
  ~Event();

  // Blocks the calling thread until the work before the last Record is done,
  // for at most kDeviceWaitLimit (worker/cuda/device_wait.h):
  // DEADLINE_EXCEEDED naming the device after that. After such a timeout
  // this library frees and destroys nothing more (those calls synchronise
  // with the device, so they would block on a hung GPU before the task could
  // report its failure): the memory is leaked until the worker restarts.
  absl::Status Synchronize() const;
  void* handle() const { return event_; }  // A cudaEvent_t.

 private:
  void* event_ = nullptr;
};

// Appends `count` untimed events to *events.
absl::Status CreateEvents(int count, std::vector<Event>* events);

// Milliseconds between two recorded timed events.
absl::StatusOr<float> ElapsedMilliseconds(const Event& start, const Event& end);

// An in-order queue of device work, not synchronised with other streams.
// Copies are asynchronous and need pinned host memory to overlap anything.
// Move-only.
class Stream {
 public:
  static absl::StatusOr<Stream> Create();

  Stream() = default;
  Stream(Stream&& other) noexcept { *this = std::move(other); }
  Stream& operator=(Stream&& other) noexcept {
    std::swap(stream_, other.stream_);
    return *this;
  }
  ~Stream();

  absl::Status CopyToDevice(void* device, const void* host,
                            int64_t bytes) const;
  absl::Status CopyToHost(void* host, const void* device, int64_t bytes) const;
  absl::Status Zero(void* device, int64_t bytes) const;
  absl::Status Record(const Event& event) const;
  // Later work on this stream waits until `event`'s work is done.
  absl::Status Wait(const Event& event) const;
  // Blocks the calling thread until all work queued so far is done, bounded
  // as Event::Synchronize is.
  absl::Status Synchronize() const;
  void* handle() const { return stream_; }  // A cudaStream_t.

 private:
  void* stream_ = nullptr;
};

enum class Transpose { kNo, kYes };

// A cuBLAS handle that queues its work on one stream, which must outlive it.
// FP32 GEMMs use full FP32 arithmetic (no TF32), so results agree with the
// CPU backend's. Move-only.
class Blas {
 public:
  static absl::StatusOr<Blas> Create(const Stream& stream);

  Blas() = default;
  Blas(Blas&& other) noexcept { *this = std::move(other); }
  Blas& operator=(Blas&& other) noexcept {
    std::swap(handle_, other.handle_);
    return *this;
  }
  ~Blas();

  // Row-major C (m x n) = op(A) * op(B) + beta * C on device memory, where
  // op(A) is m x k and op(B) is k x n, A and B stored untransposed. T is
  // float or double; dimensions must fit in an int.
  template <typename T>
  absl::Status Gemm(Transpose trans_a, Transpose trans_b, int64_t m, int64_t n,
                    int64_t k, const T* a, const T* b, T beta, T* c) const;

 private:
  void* handle_ = nullptr;  // A cublasHandle_t.
};

}  // namespace ps::worker::gpu

#endif  // PS_WORKER_CUDA_GPU_RUNTIME_H_
