#include "client/format.h"

#include "gtest/gtest.h"

namespace ps::client {
namespace {

TEST(FormatTest, ClockFormatsMinutesAndHours) {
  EXPECT_EQ(Clock(0), "0:00");
  EXPECT_EQ(Clock(125), "2:05");
  EXPECT_EQ(Clock(3725), "1:02:05");
  EXPECT_EQ(Clock(-1), "-");
}

TEST(FormatTest, ProgressLineShowsStepLossAccuracyThroughputEta) {
  v1::Job job;
  job.set_id("job-3");
  job.set_state(v1::RUNNING);
  job.mutable_spec()->mutable_training()->set_epochs(5);
  v1::JobProgress* p = job.mutable_progress();
  p->set_epoch(2);
  p->set_step(1200);
  p->set_total_steps(4690);
  p->set_loss(0.41234);
  p->set_accuracy(0.852);
  p->set_examples_per_sec(12345);
  p->set_eta_seconds(72);
  EXPECT_EQ(ProgressLine(job),
            "job-3 RUNNING epoch 2/5 step 1200/4690 loss 0.4123 acc 85.2% "
            "12345 ex/s ETA 1:12");
}

TEST(FormatTest, PendingShowsWhatItWaitsFor) {
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::PENDING);
  job.set_reason("waiting for 2 idle workers (1 idle)");
  EXPECT_EQ(ProgressLine(job), "job-1 PENDING (waiting for 2 idle workers (1 idle))");
}

TEST(FormatTest, DetailsShowReasonAndResult) {
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::FAILED);
  job.set_reason("worker-3 lost its lease");
  EXPECT_NE(JobDetails(job).find("reason:   worker-3 lost its lease"), std::string::npos);
  job.mutable_spec()->mutable_training()->set_consistency(v1::SSP);
  job.mutable_spec()->mutable_training()->set_staleness(2);
  job.mutable_progress()->set_max_staleness(2);
  EXPECT_NE(JobDetails(job).find("sync:     SSP(2), max staleness 2"), std::string::npos)
      << JobDetails(job);
  job.set_state(v1::SUCCEEDED);
  job.mutable_result()->set_test_accuracy(0.8612);
  EXPECT_NE(JobDetails(job).find("test accuracy 86.12%"), std::string::npos);
}

}  // namespace
}  // namespace ps::client
