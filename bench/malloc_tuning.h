// glibc malloc settings for processes that move large messages.
//
// gRPC receives into freshly malloc'ed buffers of up to a few MB, and
// protobuf builds multi-MB strings. With glibc's defaults those blocks are
// mmap'ed or trimmed back to the kernel when freed, so every message pays
// page faults and zeroing on its receive path: measured on loopback, that
// costs a third to a half of the data-plane throughput. These settings keep
// freed blocks in the heap for reuse, at the price of a process keeping its
// peak heap (up to kTrimThresholdBytes of free memory) instead of returning
// it.
#ifndef PS_BENCH_MALLOC_TUNING_H_
#define PS_BENCH_MALLOC_TUNING_H_

#include <cstdint>
#include <string>

#include "absl/status/status.h"

namespace ps::bench {

// Blocks at least this big are still mmap'ed (glibc's maximum).
inline constexpr int64_t kMmapThresholdBytes = int64_t{32} << 20;
// Free memory at the top of a heap is returned to the kernel only beyond
// this.
inline constexpr int64_t kTrimThresholdBytes = int64_t{512} << 20;

// Applies the settings to this process with mallopt(). Call first thing in
// main(), before any thread starts.
absl::Status TuneMallocForBulkTransfers();

// The same settings as a GLIBC_TUNABLES value, for a child process.
std::string BulkTransferGlibcTunables();

}  // namespace ps::bench

#endif  // PS_BENCH_MALLOC_TUNING_H_
