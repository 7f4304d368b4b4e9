// The end of every daemon's main(): announce the address, serve until told
// to stop, stop in order.
#ifndef PS_COMMON_SERVE_H_
#define PS_COMMON_SERVE_H_

#include <string>

#include "absl/functional/function_ref.h"
#include "common/rpc.h"

namespace ps {

// Writes `server`'s address to `port_file` (nothing when empty), waits for
// SIGTERM or SIGINT (BlockTerminationSignals must have been called), turns
// every health status NOT_SERVING, runs `stop` (the daemon's own teardown:
// its loops, tasks and membership), then shuts the server down with a 2 s
// grace. Returns main()'s exit code: 1 when the port file could not be
// written (the daemon then stops at once), else 0. Logs to `daemon`'s logger.
int ServeUntilSignalled(const std::string& daemon, RunningServer* server,
                        const std::string& port_file,
                        absl::FunctionRef<void()> stop);

}  // namespace ps

#endif  // PS_COMMON_SERVE_H_
