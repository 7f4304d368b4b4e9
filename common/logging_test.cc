#include "common/logging.h"

#include <thread>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ps {
namespace {

TEST(LoggingTest, UnknownLevelOrFormatIsRefusedNamingTheAllowedValues) {
  absl::Status s = InitLogging({.level = "verbose"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "--log_level=verbose; allowed: trace, debug, info, warn, error, "
            "critical, off");
  s = InitLogging({.level = "info", .format = "xml"});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "--log_format=xml; allowed: text, json");
  EXPECT_TRUE(InitLogging({.level = "warn", .format = "json"}).ok());
  EXPECT_EQ(spdlog::get_level(), spdlog::level::warn);
  EXPECT_TRUE(InitLogging({}).ok());
  EXPECT_EQ(spdlog::get_level(), spdlog::level::info);
}

TEST(LoggingTest, JsonLineIsOneObjectWithTimeLevelComponentAndMessage) {
  const std::string payload = "job-1 \"quoted\"\nline two \xff";
  spdlog::details::log_msg msg(
      spdlog::log_clock::time_point(std::chrono::milliseconds(1765000000123)),
      spdlog::source_loc{}, "server", spdlog::level::warn, payload);
  const std::string line = JsonLogLine(msg);
  EXPECT_EQ(line.find('\n'), std::string::npos) << line;
  const nlohmann::json record = nlohmann::json::parse(line);
  EXPECT_EQ(record["time"], "2025-12-06T05:46:40.123Z");
  EXPECT_EQ(record["level"], "warning");
  EXPECT_EQ(record["component"], "server");
  const std::string message = record["message"];
  EXPECT_EQ(message.rfind("job-1 \"quoted\"\nline two ", 0), 0u) << message;
  EXPECT_FALSE(record.contains("member"));
  EXPECT_FALSE(record.contains("job"));
}

TEST(LoggingTest, JsonLineNamesTheMemberAndTheJobWhereKnown) {
  spdlog::details::log_msg msg(spdlog::log_clock::now(), spdlog::source_loc{},
                               "worker", spdlog::level::info, "step");
  SetLogMember("worker-3");
  {
    const std::string outer = "job-1", inner = "job-2";
    ScopedLogJob job(outer);
    EXPECT_EQ(nlohmann::json::parse(JsonLogLine(msg))["job"], "job-1");
    {
      ScopedLogJob nested(inner);
      EXPECT_EQ(nlohmann::json::parse(JsonLogLine(msg))["job"], "job-2");
    }
    const nlohmann::json record = nlohmann::json::parse(JsonLogLine(msg));
    EXPECT_EQ(record["job"], "job-1");
    EXPECT_EQ(record["member"], "worker-3");
    // Another thread works for no job.
    std::thread([&] {
      EXPECT_FALSE(nlohmann::json::parse(JsonLogLine(msg)).contains("job"));
    }).join();
  }
  EXPECT_FALSE(nlohmann::json::parse(JsonLogLine(msg)).contains("job"));
  SetLogMember("");
}

}  // namespace
}  // namespace ps

namespace ps {
namespace {

TEST(LogRateLimiterTest, OneMessageASecondAndACountOfTheRest) {
  LogRateLimiter limiter(absl::Seconds(1));
  const absl::Time t0 = absl::FromUnixSeconds(1000);
  int64_t held = -1;
  EXPECT_TRUE(limiter.Allow(t0, &held));
  EXPECT_EQ(held, 0);
  for (int i = 0; i < 999; ++i) {
    EXPECT_FALSE(limiter.Allow(t0 + absl::Milliseconds(i), &held));
  }
  EXPECT_TRUE(limiter.Allow(t0 + absl::Seconds(1), &held));
  EXPECT_EQ(held, 999);
  EXPECT_FALSE(limiter.Allow(t0 + absl::Milliseconds(1500), &held));
}

}  // namespace
}  // namespace ps
