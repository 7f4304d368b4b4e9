// The test bed itself: hosts reach each other at their addresses, a cut
// link lets nothing through until it is restored, and a rate limit slows a
// transfer to about the rate. Python's socket module carries the bytes.
#include "tests/netns_testbed.h"

#include <unistd.h>

#include <filesystem>

#include "absl/strings/str_cat.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"

namespace ps::testing {
namespace {

class TestbedTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "network namespaces need root";
    auto bed = Testbed::Create(2);
    ASSERT_TRUE(bed.ok()) << bed.status();
    bed_ = *std::move(bed);
  }

  // Host 1 listens on port 9000 and reads everything; host 0 sends `bytes`
  // to it. The sender's exit code (0: all sent and the receiver got it).
  int Transfer(int64_t bytes, absl::Duration timeout) {
    const std::string log = absl::StrCat(std::getenv("TEST_TMPDIR"), "/rx",
                                         ++transfers_, ".log");
    // A log of the same name from an earlier test of this process would
    // already hold "listening" (Subprocess appends): the sender would then
    // race the receiver's start and find no listener.
    std::filesystem::remove(log);
    auto receiver = Subprocess::Start(
        bed_->InHost(1, {"/usr/bin/python3", "-c",
                         "import socket\n"
                         "s = socket.create_server(('" + bed_->Address(1) +
                             "', 9000))\n"
                         "print('listening', flush=True)\n"
                         "c, _ = s.accept()\n"
                         "while c.recv(65536): pass\n"}),
        log);
    EXPECT_TRUE(receiver.ok());
    EXPECT_TRUE(WaitForFileLine(log, absl::Seconds(20), receiver->get()).ok());
    absl::StatusOr<int> code = RunCommand(
        bed_->InHost(0, {"/usr/bin/python3", "-c",
                         absl::StrCat("import socket\n"
                                      "c = socket.create_connection(('",
                                      bed_->Address(1), "', 9000), timeout=",
                                      absl::ToDoubleSeconds(timeout), ")\n"
                                      "c.sendall(b'x' * ", bytes, ")\n"
                                      "c.shutdown(socket.SHUT_WR)\n"
                                      "c.recv(1)\n")}),
        timeout + absl::Seconds(10));
    return code.ok() ? *code : -1;
  }

  std::unique_ptr<Testbed> bed_;
  int transfers_ = 0;
};

TEST_F(TestbedTest, HostsTalkUntilALinkIsCutAndAfterItIsRestored) {
  EXPECT_EQ(bed_->Address(0), "10.201.0.1");
  EXPECT_EQ(Transfer(1000, absl::Seconds(10)), 0);
  ASSERT_TRUE(bed_->CutLink(1).ok());
  EXPECT_NE(Transfer(1000, absl::Seconds(2)), 0);
  ASSERT_TRUE(bed_->RestoreLink(1).ok());
  EXPECT_EQ(Transfer(1000, absl::Seconds(10)), 0);
}

TEST_F(TestbedTest, ARateLimitSlowsATransferToAboutTheRate) {
  const absl::Time start = absl::Now();
  ASSERT_EQ(Transfer(1 << 20, absl::Seconds(10)), 0);
  const absl::Duration free = absl::Now() - start;
  ASSERT_TRUE(bed_->LimitRate(1, 4'000'000).ok());  // 1 MiB: about 2.1 s
  const absl::Time limited_start = absl::Now();
  ASSERT_EQ(Transfer(1 << 20, absl::Seconds(30)), 0);
  const absl::Duration limited = absl::Now() - limited_start;
  EXPECT_GT(limited, absl::Milliseconds(1500)) << "free: " << free;
  EXPECT_LT(limited, absl::Seconds(10));
  ASSERT_TRUE(bed_->LimitRate(1, 0).ok());
}

}  // namespace
}  // namespace ps::testing
