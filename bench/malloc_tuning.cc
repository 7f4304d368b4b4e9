#include "bench/malloc_tuning.h"

#include <malloc.h>

#include "absl/strings/str_cat.h"

namespace ps::bench {

absl::Status TuneMallocForBulkTransfers() {
  if (mallopt(M_MMAP_THRESHOLD, static_cast<int>(kMmapThresholdBytes)) != 1 ||
      mallopt(M_TRIM_THRESHOLD, static_cast<int>(kTrimThresholdBytes)) != 1) {
    return absl::InternalError("mallopt rejected the bulk-transfer settings");
  }
  return absl::OkStatus();
}

std::string BulkTransferGlibcTunables() {
  return absl::StrCat("glibc.malloc.mmap_threshold=", kMmapThresholdBytes,
                      ":glibc.malloc.trim_threshold=", kTrimThresholdBytes);
}

}  // namespace ps::bench
