#include "common/daemon.h"

#include <malloc.h>
#include <pthread.h>
#include <sched.h>
#include <signal.h>

#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"

namespace ps {
namespace {

sigset_t TerminationSignals() {
  sigset_t set;
  sigemptyset(&set);
  sigaddset(&set, SIGINT);
  sigaddset(&set, SIGTERM);
  return set;
}

}  // namespace

void DisableMutexDeadlockDetection() {
  absl::SetMutexDeadlockDetectionMode(absl::OnDeadlockCycle::kIgnore);
}

// Whether TuneMallocForBulkTransfers set the trim threshold, which
// ReleaseMemory then lowers and restores.
static std::atomic<bool> trim_threshold_tuned{false};

absl::Status TuneMallocForBulkTransfers() {
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes)) != 1 ||
      mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThresholdBytes)) != 1) {
    return absl::InternalError("mallopt rejected the bulk-transfer settings");
  }
  trim_threshold_tuned = true;
  return absl::OkStatus();
}

absl::Status CheckDurationFlag(absl::string_view flag, absl::Duration value,
                               absl::Duration lo, absl::Duration hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--", flag, "=", absl::FormatDuration(value),
                   " is out of range; allowed: [", absl::FormatDuration(lo),
                   ", ", absl::FormatDuration(hi), "]"));
}

void ReleaseMemory(absl::FunctionRef<void()> release) {
  static absl::Mutex mu(absl::kConstInit);
  absl::MutexLock lock(&mu);
  // Untuned, glibc's own threshold applies and is left alone.
  const bool tuned = trim_threshold_tuned;
  // A threshold of 0 would trim the top on every free; one page of slack.
  if (tuned) mallopt(M_TRIM_THRESHOLD, 4096);
  release();
  if (tuned) mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThresholdBytes));
  malloc_trim(0);
}

absl::Status UseBatchScheduling() {
  const sched_param param{};  // SCHED_BATCH takes priority 0
  if (sched_setscheduler(0, SCHED_BATCH, &param) != 0) {
    return absl::InternalError(absl::StrCat("sched_setscheduler(SCHED_BATCH): ",
                                            std::strerror(errno)));
  }
  return absl::OkStatus();
}

void BlockTerminationSignals() {
  sigset_t set = TerminationSignals();
  pthread_sigmask(SIG_BLOCK, &set, nullptr);
}

int WaitForTerminationSignal(absl::Duration timeout) {
  sigset_t set = TerminationSignals();
  if (timeout == absl::InfiniteDuration()) {
    int sig = 0;
    sigwait(&set, &sig);
    return sig;
  }
  timespec ts = absl::ToTimespec(timeout);
  int sig = sigtimedwait(&set, nullptr, &ts);
  return sig < 0 ? 0 : sig;
}

absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& line) {
  if (path.empty()) return absl::OkStatus();
  const std::string tmp = absl::StrCat(path, ".tmp");
  {
    std::ofstream out(tmp, std::ios::trunc);
    out << line << "\n";
    if (!out) {
      return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
    }
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

}  // namespace ps
