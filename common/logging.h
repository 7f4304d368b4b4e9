// Logging set-up. Each daemon calls InitLogging once in main(); components
// then fetch their own named logger with Logger("name").
#ifndef PS_COMMON_LOGGING_H_
#define PS_COMMON_LOGGING_H_

#include <memory>
#include <string>

#include "absl/status/status.h"
#include "spdlog/spdlog.h"

namespace ps {

struct LoggingOptions {
  // Least severe level logged: trace, debug, info, warn, error, critical or
  // off.
  std::string level = "info";
  // "text": one readable line per record (the default), "json": one JSON
  // object per line, {"time", "level", "component", "message"}, for log
  // shippers. Time is UTC, ISO 8601 with milliseconds.
  std::string format = "text";
};

// Sets every logger's level and format. INVALID_ARGUMENT naming the flag
// and the allowed values for an unknown level or format (nothing changes
// then).
absl::Status InitLogging(const LoggingOptions& options);

// InitLogging for main(): on a bad level or format, prints the message to
// stderr and exits with status 2 (a flag error), before anything started.
void InitLoggingOrExit(const LoggingOptions& options);

// Returns the logger named `component`, creating it (stderr, colour-less) on
// first use. Thread-safe.
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

// One record as InitLogging's "json" format writes it (no newline).
std::string JsonLogLine(const spdlog::details::log_msg& msg);

}  // namespace ps

#endif  // PS_COMMON_LOGGING_H_
