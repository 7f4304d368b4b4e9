#include "bench/bench_cluster.h"

#include "gtest/gtest.h"

namespace ps::bench {
namespace {

TEST(BenchClusterTest, ParsesIperfReceivedRateInBytes) {
  auto rate = ParseIperfReceivedBytesPerSecond(
      R"({"end": {"sum_sent": {"bits_per_second": 9},
                  "sum_received": {"bits_per_second": 8e9}}})");
  ASSERT_TRUE(rate.ok()) << rate.status();
  EXPECT_DOUBLE_EQ(*rate, 1e9);
}

TEST(BenchClusterTest, IperfErrorReportIsUnavailable) {
  EXPECT_EQ(ParseIperfReceivedBytesPerSecond(
                R"({"start": {}, "end": {}, "error": "unable to connect"})")
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
}

TEST(BenchClusterTest, IncompleteIperfReportIsDataLoss) {
  EXPECT_EQ(ParseIperfReceivedBytesPerSecond(R"({"end": {}})").status().code(),
            absl::StatusCode::kDataLoss);
  EXPECT_EQ(ParseIperfReceivedBytesPerSecond("not json").status().code(),
            absl::StatusCode::kDataLoss);
}

}  // namespace
}  // namespace ps::bench
