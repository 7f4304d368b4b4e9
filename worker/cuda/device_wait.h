// A bounded wait for work queued on a GPU. cudaEventSynchronize and
// cudaStreamSynchronize wait for as long as the device takes, so a hung
// device would block a task forever while the worker's heartbeats keep its
// lease alive; the CUDA backend waits through WaitForDevice instead, and a
// device that has not finished within kDeviceWaitLimit fails the task with
// DEADLINE_EXCEEDED naming the device and the wait.
//
// Header-only, with no CUDA types: gpu_runtime.cu (built by nvcc) uses it,
// and device_wait_test checks it without a GPU.
#ifndef PS_WORKER_CUDA_DEVICE_WAIT_H_
#define PS_WORKER_CUDA_DEVICE_WAIT_H_

#include <string>
#include <thread>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "absl/time/time.h"

namespace ps::worker {

// Longest a step's device work may take. Far above any step of the shipped
// models (milliseconds), yet a hung device fails its task within a minute.
inline constexpr absl::Duration kDeviceWaitLimit = absl::Seconds(60);

// Calls poll() (returning true once the work is done, false while it runs,
// or the device's error) until it is done, fails, or `limit` passes; then
// DEADLINE_EXCEEDED with describe()'s words. The first kDeviceSpin are
// polled with yields (as the CUDA runtime's own spin wait does: a step's
// copies finish in micro- to milliseconds), then every kDevicePause.
inline constexpr absl::Duration kDeviceSpin = absl::Milliseconds(20);
inline constexpr absl::Duration kDevicePause = absl::Microseconds(200);

template <typename Poll, typename Describe>
absl::Status WaitForDevice(Poll poll, absl::Duration limit, Describe describe) {
  const absl::Time start = absl::Now();
  while (true) {
    absl::StatusOr<bool> done = poll();
    if (!done.ok()) return done.status();
    if (*done) return absl::OkStatus();
    const absl::Duration waited = absl::Now() - start;
    if (waited >= limit) {
      return absl::DeadlineExceededError(absl::StrCat(
          describe(), " did not finish within ", absl::FormatDuration(limit),
          ": the device is presumed hung"));
    }
    if (waited < kDeviceSpin) {
      std::this_thread::yield();
    } else {
      absl::SleepFor(kDevicePause);
    }
  }
}

}  // namespace ps::worker

#endif  // PS_WORKER_CUDA_DEVICE_WAIT_H_
