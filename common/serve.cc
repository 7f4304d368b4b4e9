#include "common/serve.h"

#include "common/daemon.h"
#include "common/logging.h"

namespace ps {

int ServeUntilSignalled(const std::string& daemon, RunningServer* server,
                        const std::string& port_file,
                        absl::FunctionRef<void()> stop) {
  auto log = Logger(daemon);
  int code = 0;
  if (absl::Status s = WriteFileAtomically(port_file, server->address);
      !s.ok()) {
    log->error("{}", s.ToString());
    code = 1;
  } else {
    const int sig = WaitForTerminationSignal();
    log->info("signal {}: shutting down", sig);
  }
  server->StopServing();
  stop();
  server->server->Shutdown(DeadlineIn(absl::Seconds(2)));
  return code;
}

}  // namespace ps
