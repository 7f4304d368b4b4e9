#include "common/daemon.h"

#include <sched.h>

#include <cstdlib>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>

#include "gtest/gtest.h"

namespace ps {
namespace {

// In a thread of its own, so the test process keeps its policy.
TEST(UseBatchSchedulingTest, AppliesToTheCallerAndTheThreadsItStarts) {
  int own = -1;
  int started = -1;
  absl::Status status;
  std::thread([&] {
    EXPECT_NE(sched_getscheduler(0), SCHED_BATCH);
    status = UseBatchScheduling();
    own = sched_getscheduler(0);
    std::thread([&] { started = sched_getscheduler(0); }).join();
  }).join();
  ASSERT_TRUE(status.ok()) << status;
  EXPECT_EQ(own, SCHED_BATCH);
  EXPECT_EQ(started, SCHED_BATCH);
  EXPECT_NE(sched_getscheduler(0), SCHED_BATCH);
}

TEST(WriteFileAtomicallyTest, WritesTheLineAndLeavesNoTempFile) {
  const std::string path =
      std::string(std::getenv("TEST_TMPDIR")) + "/port_file";
  ASSERT_TRUE(WriteFileAtomically(path, "127.0.0.1:1234").ok());
  ASSERT_TRUE(WriteFileAtomically(path, "127.0.0.1:5678").ok());
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_EQ(text.str(), "127.0.0.1:5678\n");
  EXPECT_FALSE(std::ifstream(path + ".tmp").good());
  EXPECT_TRUE(WriteFileAtomically("", "ignored").ok());
}

}  // namespace
}  // namespace ps

namespace ps {
namespace {

TEST(CheckDurationFlagTest, NamesTheFlagValueAndRange) {
  EXPECT_TRUE(CheckDurationFlag("lease", absl::Seconds(3),
                                absl::Milliseconds(100), absl::Hours(1))
                  .ok());
  absl::Status s = CheckDurationFlag("lease", absl::Milliseconds(5),
                                     absl::Milliseconds(100), absl::Hours(1));
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "--lease=5ms is out of range; allowed: [100ms, 1h]");
}

}  // namespace
}  // namespace ps
