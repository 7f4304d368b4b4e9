#include "coordinator/job_history.h"

#include "gtest/gtest.h"

namespace ps::coordinator {
namespace {

v1::JobProgress Progress(int64_t step, double loss) {
  v1::JobProgress p;
  p.set_step(step);
  p.set_loss(loss);
  p.set_accuracy(0.5);
  p.set_examples_per_sec(100);
  return p;
}

const absl::Time kStart = absl::FromUnixSeconds(1'800'000'000);

TEST(JobHistoryTest, KeepsOnePointPerIntervalAndTheLatest) {
  v1::JobHistory h;
  // Forty reports a second for 0.75 s.
  for (int i = 0; i <= 30; ++i) {
    RecordProgress(Progress(i, 1.0 / (i + 1)),
                   kStart + absl::Milliseconds(25 * i), &h);
  }
  // t=0, then one each 250 ms, the last being the latest report (t=0.75).
  ASSERT_EQ(h.points_size(), 4);
  EXPECT_EQ(h.points(0).step(), 0);
  EXPECT_EQ(h.points(1).step(), 10);
  EXPECT_EQ(h.points(2).step(), 20);
  EXPECT_EQ(h.points(3).step(), 30);
  EXPECT_DOUBLE_EQ(h.points(3).loss(), 1.0 / 31);
  EXPECT_EQ(h.points(3).time_unix_ms(), absl::ToUnixMillis(kStart) + 750);
  EXPECT_EQ(h.interval_ms(), 250);
}

TEST(JobHistoryTest, StaysBoundedOverAWeekAndSpansIt) {
  v1::JobHistory h;
  const int64_t seconds = 7 * 24 * 3600;
  for (int64_t t = 0; t <= seconds; t += 5) {
    RecordProgress(Progress(t, 1), kStart + absl::Seconds(t), &h, 64);
    ASSERT_LE(h.points_size(), 64);
  }
  EXPECT_GE(h.points_size(), 32);
  EXPECT_EQ(h.points(0).step(), 0);
  EXPECT_EQ(h.points(h.points_size() - 1).step(), seconds);
  // Evenly thinned: no gap between points is more than twice the interval.
  for (int i = 1; i < h.points_size(); ++i) {
    EXPECT_LE(h.points(i).time_unix_ms() - h.points(i - 1).time_unix_ms(),
              2 * h.interval_ms())
        << "between points " << i - 1 << " and " << i;
  }
}

TEST(JobHistoryTest, ThinKeepsFirstAndLastEvenly) {
  v1::JobHistory h;
  h.set_job_id("job-1");
  for (int i = 0; i < 101; ++i) h.add_points()->set_step(i);
  v1::JobHistory thin = Thin(h, 11);
  ASSERT_EQ(thin.points_size(), 11);
  EXPECT_EQ(thin.job_id(), "job-1");
  for (int i = 0; i < 11; ++i) EXPECT_EQ(thin.points(i).step(), 10 * i);
  EXPECT_EQ(Thin(h, 0).points_size(), 101);
  EXPECT_EQ(Thin(h, 500).points_size(), 101);
  ASSERT_EQ(Thin(h, 1).points_size(), 1);
  EXPECT_EQ(Thin(h, 1).points(0).step(), 100);
}

}  // namespace
}  // namespace ps::coordinator
