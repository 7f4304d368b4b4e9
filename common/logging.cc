#include "common/logging.h"

#include <array>
#include <cstdlib>
#include <iostream>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "google/protobuf/stubs/logging.h"
#include "nlohmann/json.hpp"
#include "spdlog/pattern_formatter.h"
#include "spdlog/sinks/stdout_sinks.h"

namespace ps {
namespace {

constexpr std::array<const char*, 7> kLevels = {
    "trace", "debug", "info", "warn", "error", "critical", "off"};

class JsonFormatter final : public spdlog::formatter {
 public:
  void format(const spdlog::details::log_msg& msg,
              spdlog::memory_buf_t& dest) override {
    const std::string line = JsonLogLine(msg) + "\n";
    dest.append(line.data(), line.data() + line.size());
  }
  std::unique_ptr<spdlog::formatter> clone() const override {
    return std::make_unique<JsonFormatter>();
  }
};

absl::Mutex member_mu;
std::string* member_id ABSL_GUARDED_BY(member_mu) = new std::string();
thread_local absl::string_view log_job;

}  // namespace

void SetLogMember(const std::string& id) {
  absl::MutexLock lock(&member_mu);
  *member_id = id;
}

ScopedLogJob::ScopedLogJob(absl::string_view job_id) : previous_(log_job) {
  log_job = job_id;
}

ScopedLogJob::~ScopedLogJob() { log_job = previous_; }

std::string JsonLogLine(const spdlog::details::log_msg& msg) {
  nlohmann::ordered_json record;
  record["time"] = absl::FormatTime(
      "%Y-%m-%dT%H:%M:%E3SZ", absl::FromChrono(msg.time), absl::UTCTimeZone());
  const spdlog::string_view_t level = spdlog::level::to_string_view(msg.level);
  record["level"] = std::string(level.data(), level.size());
  record["component"] =
      std::string(msg.logger_name.data(), msg.logger_name.size());
  record["message"] = std::string(msg.payload.data(), msg.payload.size());
  {
    absl::MutexLock lock(&member_mu);
    if (!member_id->empty()) record["member"] = *member_id;
  }
  if (!log_job.empty()) record["job"] = std::string(log_job);
  // Messages can carry bytes a peer sent: invalid UTF-8 is replaced, never
  // thrown.
  return record.dump(-1, ' ', false,
                     nlohmann::ordered_json::error_handler_t::replace);
}

bool LogRateLimiter::Allow(absl::Time now, int64_t* suppressed) {
  absl::MutexLock lock(&mu_);
  if (now - last_ < every_) {
    ++held_;
    return false;
  }
  last_ = now;
  *suppressed = held_;
  held_ = 0;
  return true;
}

namespace {

void ProtobufLog(google::protobuf::LogLevel level, const char* filename,
                 int line, const std::string& message) {
  static auto* limiter = new LogRateLimiter(absl::Seconds(1));
  int64_t suppressed = 0;
  if (!limiter->Allow(absl::Now(), &suppressed)) return;
  const spdlog::level::level_enum spd =
      level >= google::protobuf::LOGLEVEL_ERROR ? spdlog::level::err
                                                : spdlog::level::warn;
  Logger("protobuf")->log(spd, "{}:{}: {}{}", filename, line, message,
                          suppressed > 0
                              ? absl::StrCat(" (", suppressed,
                                             " more held back)")
                              : "");
}

}  // namespace

absl::Status InitLogging(const LoggingOptions& options) {
  int level = -1;
  for (size_t i = 0; i < kLevels.size(); ++i) {
    if (options.level == kLevels[i]) level = static_cast<int>(i);
  }
  if (level < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_level=", options.level,
                     "; allowed: ", absl::StrJoin(kLevels, ", ")));
  }
  if (options.format == "text") {
    spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%l%$ [%n] %v");
  } else if (options.format == "json") {
    spdlog::set_formatter(std::make_unique<JsonFormatter>());
  } else {
    return absl::InvalidArgumentError(
        absl::StrCat("--log_format=", options.format, "; allowed: text, json"));
  }
  // kLevels is spdlog's own order, trace (0) to off (6).
  spdlog::set_level(static_cast<spdlog::level::level_enum>(level));
  google::protobuf::SetLogHandler(&ProtobufLog);
  return absl::OkStatus();
}

void InitLoggingOrExit(const LoggingOptions& options) {
  if (absl::Status s = InitLogging(options); !s.ok()) {
    std::cerr << s.message() << "\n";
    std::exit(2);
  }
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
