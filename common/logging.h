// Logging set-up. Each daemon calls InitLogging once in main(); components
// then fetch their own named logger with Logger("name").
#ifndef PS_COMMON_LOGGING_H_
#define PS_COMMON_LOGGING_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "spdlog/spdlog.h"

namespace ps {

struct LoggingOptions {
  // Least severe level logged: trace, debug, info, warn, error, critical or
  // off.
  std::string level = "info";
  // "text": one readable line per record (the default), "json": one JSON
  // object per line, {"time", "level", "component", "message"} and
  // "member" and "job" where known (SetLogMember, ScopedLogJob), for log
  // shippers. Time is UTC, ISO 8601 with milliseconds.
  std::string format = "text";
};

// Sets every logger's level and format, and sends protobuf's own log
// messages to the "protobuf" logger, at most one a second (protobuf logs
// an error for every message with invalid UTF-8 in a string field, which a
// peer could send by the thousand). INVALID_ARGUMENT naming the flag and
// the allowed values for an unknown level or format (nothing changes
// then).
absl::Status InitLogging(const LoggingOptions& options);

// InitLogging for main(): on a bad level or format, prints the message to
// stderr and exits with status 2 (a flag error), before anything started.
void InitLoggingOrExit(const LoggingOptions& options);

// Returns the logger named `component`, creating it (stderr, colour-less) on
// first use. Thread-safe.
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

// Lets one message through per `every`, and counts the ones held back
// since. Thread-safe.
class LogRateLimiter {
 public:
  explicit LogRateLimiter(absl::Duration every) : every_(every) {}
  // True when a message at `now` may be logged; `*suppressed` is then how
  // many were held back since the last one that was.
  bool Allow(absl::Time now, int64_t* suppressed);

 private:
  const absl::Duration every_;
  absl::Mutex mu_;
  absl::Time last_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
  int64_t held_ ABSL_GUARDED_BY(mu_) = 0;
};

// Ids the "json" format adds to each record where known:
//   "member": this process's member id (SetLogMember, once registered);
//   "job": the job the logging thread works for (a ScopedLogJob on its
//          stack; innermost wins).
// The text format leaves them out (its messages name what they concern).
void SetLogMember(const std::string& member_id);  // thread-safe

class ScopedLogJob {
 public:
  // `job_id` must outlive the scope (a request's field, a task's).
  explicit ScopedLogJob(absl::string_view job_id);
  ~ScopedLogJob();
  ScopedLogJob(const ScopedLogJob&) = delete;
  ScopedLogJob& operator=(const ScopedLogJob&) = delete;

 private:
  absl::string_view previous_;
};

// One record as InitLogging's "json" format writes it (no newline).
std::string JsonLogLine(const spdlog::details::log_msg& msg);

}  // namespace ps

#endif  // PS_COMMON_LOGGING_H_
