// Logging set-up. Each daemon calls InitLogging once in main(); components
// then fetch their own named logger with Logger("name").
#ifndef PS_COMMON_LOGGING_H_
#define PS_COMMON_LOGGING_H_

#include <memory>
#include <string>

#include "spdlog/spdlog.h"

namespace ps {

// Sets the default pattern and level ("trace".."off"; unknown names mean info).
void InitLogging(const std::string& level);

// Returns the logger named `component`, creating it (stderr, colour-less) on
// first use. Thread-safe.
std::shared_ptr<spdlog::logger> Logger(const std::string& component);

}  // namespace ps

#endif  // PS_COMMON_LOGGING_H_
