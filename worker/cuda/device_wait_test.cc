#include "worker/cuda/device_wait.h"

#include "gtest/gtest.h"

namespace ps::worker {
namespace {

TEST(DeviceWaitTest, ReturnsOnceThePollSaysDone) {
  int polls = 0;
  absl::Status s =
      WaitForDevice([&]() -> absl::StatusOr<bool> { return ++polls == 5; },
                    absl::Seconds(10), [] { return std::string("GPU 0"); });
  EXPECT_TRUE(s.ok()) << s;
  EXPECT_EQ(polls, 5);
}

TEST(DeviceWaitTest, HungDeviceIsDeadlineExceededNamingIt) {
  const absl::Time start = absl::Now();
  absl::Status s = WaitForDevice(
      []() -> absl::StatusOr<bool> { return false; }, absl::Milliseconds(150),
      [] { return std::string("cudaStreamSynchronize on GPU 1 (H100)"); });
  const absl::Duration took = absl::Now() - start;
  EXPECT_EQ(s.code(), absl::StatusCode::kDeadlineExceeded) << s;
  EXPECT_NE(s.message().find("GPU 1 (H100)"), std::string::npos) << s;
  EXPECT_NE(s.message().find("150ms"), std::string::npos) << s;
  EXPECT_GE(took, absl::Milliseconds(150));
  EXPECT_LT(took, absl::Seconds(2));
}

TEST(DeviceWaitTest, DeviceErrorIsReturnedAsIs) {
  absl::Status s = WaitForDevice(
      []() -> absl::StatusOr<bool> {
        return absl::InternalError("cudaEventQuery: cudaErrorLaunchFailure");
      },
      absl::Seconds(10), [] { return std::string("GPU 0"); });
  EXPECT_EQ(s.code(), absl::StatusCode::kInternal);
  EXPECT_NE(s.message().find("LaunchFailure"), std::string::npos);
}

}  // namespace
}  // namespace ps::worker
