// A child process owned by a C++ object: started with fork/exec, output sent
// to a log file, stopped (TERM, then KILL after a grace period) and reaped by
// the destructor. The child also gets SIGKILL if its parent dies, so a crashed
// psctl or test never leaves daemons behind; "parent" is the thread that
// called Start (PR_SET_PDEATHSIG): a child started from a short-lived thread
// dies with that thread.
//
// Not thread-safe; one owner.
#ifndef PS_COMMON_SUBPROCESS_H_
#define PS_COMMON_SUBPROCESS_H_

#include <sys/types.h>

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/time/time.h"

namespace ps {

class Subprocess {
 public:
  // argv[0] is a path to the program. stdout and stderr go to `log_path`.
  static absl::StatusOr<std::unique_ptr<Subprocess>> Start(
      const std::vector<std::string>& argv, const std::string& log_path);

  ~Subprocess();
  Subprocess(const Subprocess&) = delete;
  Subprocess& operator=(const Subprocess&) = delete;

  pid_t pid() const { return pid_; }
  const std::string& log_path() const { return log_path_; }

  // True while the child has not exited. Reaps it when it has.
  bool Running();

  // Exit status as the shell shows it (128+signal when killed); empty while
  // running.
  std::optional<int> exit_code() const { return exit_code_; }

  // SIGTERM, then SIGKILL if it has not exited after `grace`. Idempotent.
  void Stop(absl::Duration grace = absl::Seconds(5));

  // SIGKILL now (simulates a crash), and reap.
  void Kill();

 private:
  Subprocess(pid_t pid, std::string log_path)
      : pid_(pid), log_path_(std::move(log_path)) {}
  bool WaitFor(absl::Duration timeout);

  pid_t pid_;
  std::string log_path_;
  std::optional<int> exit_code_;
};

// Polls `path` until it holds one non-empty line, and returns that line.
// Daemons started with --port_file write their address there once serving.
absl::StatusOr<std::string> WaitForFileLine(const std::string& path,
                                            absl::Duration timeout,
                                            Subprocess* writer);

}  // namespace ps

#endif  // PS_COMMON_SUBPROCESS_H_
