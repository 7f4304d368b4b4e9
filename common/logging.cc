#include "common/logging.h"

#include "spdlog/sinks/stdout_sinks.h"

namespace ps {

void InitLogging(const std::string& level) {
  spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v");
  spdlog::set_level(spdlog::level::from_str(level));
}

std::shared_ptr<spdlog::logger> Logger(const std::string& component) {
  auto logger = spdlog::get(component);
  if (logger) return logger;
  try {
    return spdlog::stderr_logger_mt(component);
  } catch (const spdlog::spdlog_ex&) {
    // Another thread registered it between get() and here.
    return spdlog::get(component);
  }
}

}  // namespace ps
