// Small pieces every daemon's main() uses.
#ifndef PS_COMMON_DAEMON_H_
#define PS_COMMON_DAEMON_H_

#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"

namespace ps {

// Blocks SIGINT and SIGTERM in the calling thread and every thread it starts
// afterwards; call first thing in main(), then WaitForTerminationSignal().
void BlockTerminationSignals();

// Waits until SIGINT or SIGTERM arrives (or `timeout` passes; returns 0 then)
// and returns the signal number.
int WaitForTerminationSignal(absl::Duration timeout = absl::InfiniteDuration());

// Writes `line` to `path` atomically (write a temp file, rename), so a reader
// polling the path never sees a partial line. An empty path does nothing.
absl::Status WriteFileAtomically(const std::string& path,
                                 const std::string& line);

}  // namespace ps

#endif  // PS_COMMON_DAEMON_H_
