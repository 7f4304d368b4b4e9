#include "common/subprocess.h"

#include <signal.h>

#include <cstdlib>

#include "gtest/gtest.h"

namespace ps {
namespace {

std::string TmpPath(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

TEST(SubprocessTest, ReportsExitCode) {
  auto p = Subprocess::Start({"/bin/sh", "-c", "exit 3"}, TmpPath("a.log"));
  ASSERT_TRUE(p.ok()) << p.status();
  while ((*p)->Running()) absl::SleepFor(absl::Milliseconds(5));
  EXPECT_EQ((*p)->exit_code(), 3);
}

TEST(SubprocessTest, StopTerminatesAndReaps) {
  auto p = Subprocess::Start({"/bin/sleep", "30"}, TmpPath("b.log"));
  ASSERT_TRUE(p.ok());
  pid_t pid = (*p)->pid();
  (*p)->Stop(absl::Seconds(2));
  EXPECT_FALSE((*p)->Running());
  EXPECT_EQ((*p)->exit_code(), 128 + SIGTERM);
  EXPECT_NE(kill(pid, 0), 0);  // gone, not a zombie of ours.
}

TEST(SubprocessTest, MissingProgramIsNotFound) {
  auto p = Subprocess::Start({"/nonexistent/prog"}, TmpPath("c.log"));
  EXPECT_EQ(p.status().code(), absl::StatusCode::kNotFound);
}

TEST(SubprocessTest, WaitForFileLineReadsLineOrReportsEarlyExit) {
  std::string file = TmpPath("port");
  auto p = Subprocess::Start(
      {"/bin/sh", "-c", "sleep 0.1; echo 127.0.0.1:99 > " + file + "; sleep 5"},
      TmpPath("d.log"));
  ASSERT_TRUE(p.ok());
  auto line = WaitForFileLine(file, absl::Seconds(5), p->get());
  ASSERT_TRUE(line.ok()) << line.status();
  EXPECT_EQ(*line, "127.0.0.1:99");

  auto q = Subprocess::Start({"/bin/sh", "-c", "exit 1"}, TmpPath("e.log"));
  ASSERT_TRUE(q.ok());
  auto missing = WaitForFileLine(TmpPath("never"), absl::Seconds(5), q->get());
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ps
