// Small pieces every daemon's main() uses.
#ifndef PS_COMMON_DAEMON_H_
#define PS_COMMON_DAEMON_H_

#include <cstdint>
#include <string>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace ps {

// glibc malloc settings for processes that move multi-MB messages. Every
// daemon and psctl applies them first thing in main(), as do the benchmarks.
//
// Why: gRPC receives each message into freshly malloc'ed buffers of up to a
// few MB, and the data plane builds multi-MB send buffers. With glibc's
// defaults a block that big is mmap'ed (or trimmed back to the kernel when
// freed), so every message pays page faults and kernel zeroing on its path:
// measured on loopback, a third to a half of the data-plane throughput.
// These settings keep freed blocks in the heap for reuse, at the price of a
// process keeping its peak heap (up to kTrimThresholdBytes of free memory)
// instead of returning it.
//
// Blocks at least this big are still mmap'ed (glibc's maximum), so one huge
// allocation still goes back to the kernel when freed.
inline constexpr int64_t kMmapThresholdBytes = int64_t{32} << 20;
// Free memory at the top of a heap is returned to the kernel only beyond
// this.
inline constexpr int64_t kTrimThresholdBytes = int64_t{512} << 20;

// Applies the settings above with mallopt(). Call first thing in main(),
// before any thread starts. INTERNAL when glibc rejects them; the process
// then works as before, only slower.
absl::Status TuneMallocForBulkTransfers();

// Runs `release` (which frees a large amount of memory, such as a job's
// tables) and gives the memory freed back to the kernel, not only to malloc.
//
// Why both steps: the settings above keep up to kTrimThresholdBytes free at
// the top of each heap. malloc_trim() returns free memory in the middle of
// every heap and at the top of the main one, but glibc shrinks the top of a
// thread's own arena (where gRPC's threads allocated the tables) only while
// freeing, and only beyond the trim threshold. So, in a process tuned by
// TuneMallocForBulkTransfers, the threshold is lowered while `release` runs
// and set back to kTrimThresholdBytes (an untuned process keeps glibc's own);
// then malloc_trim() runs, locking each arena in turn (a short pause for
// other threads' mallocs). Other threads that free meanwhile trim too, which
// costs them only time. For rare events (ps_server calls it when it drops a
// job's tables), not hot paths; calls are serialised.
void ReleaseMemory(absl::FunctionRef<void()> release);

// Turns off Abseil's mutex deadlock detection. Debian's Abseil is built
// without NDEBUG, so by default every absl::Mutex lock and unlock also
// updates a global lock-order graph (under a global lock); in ps_server that
// was most of the locking cost of a sparse pull or push. Call first thing in
// main(), before any mutex is used. Tests keep the detection on.
void DisableMutexDeadlockDetection();

// Puts the calling thread, and every thread it starts afterwards, under
// Linux's SCHED_BATCH policy; call in main() before any thread starts.
// Batch threads get the same CPU share as normal ones (nice still applies);
// what changes is that a batch thread woken up does not preempt the thread
// running on the CPU the kernel woke it on: it waits for that thread to
// block, for the scheduler tick, or for another CPU to take it.
//
// Why ps_server uses it: when a client on the same machine sends requests to
// several servers, its first send wakes that server's thread on the
// client's own CPU (the kernel expects the sender to go to sleep), which
// preempted the client until the server had read and applied the whole
// request; only then was the request to the next server sent. Traced on
// loopback with ftrace, a 1 MB push to two servers (512 KB each) lost
// ~150 us of its ~400 us that way. Unprivileged; INTERNAL when the kernel
// refuses it, and the process then runs as before.
absl::Status UseBatchScheduling();

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts
// afterwards; call first thing in main(), then WaitForTerminationSignal().
void BlockTerminationSignals();

// Waits until SIGINT or SIGTERM arrives (or `timeout` passes; returns 0 then)
// and returns the signal number.
int WaitForTerminationSignal(absl::Duration timeout = absl::InfiniteDuration());

// INVALID_ARGUMENT naming --`flag`, its value and the allowed range unless
// lo <= value <= hi; for checking duration flags in main().
absl::Status CheckDurationFlag(absl::string_view flag, absl::Duration value,
                               absl::Duration lo, absl::Duration hi);

// Writes `line` to `path` atomically (write a temp file, rename), so a reader
// polling the path never sees a partial line. An empty path does nothing.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& line);

}  // namespace ps

#endif  // PS_COMMON_DAEMON_H_
