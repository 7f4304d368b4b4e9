#include "worker/task/worker_metrics.h"

#include <string>

#include "gtest/gtest.h"

namespace ps::worker {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(WorkerMetricsTest, ReportsAddUpStepsAndExamplesAndSetTheGauges) {
  Metrics metrics;
  WorkerMetrics m(&metrics);
  Progress p{.loss = 0.5,
             .accuracy = 0.8,
             .examples_per_sec = 250,
             .window_examples = 64};
  m.Reported("job-1", 2, p);
  p.loss = 0.25;
  m.Reported("job-1", 2, p);
  const std::string text = metrics.Text();
  EXPECT_TRUE(Has(text, "ps_worker_steps_total{job_id=\"job-1\"} 4")) << text;
  EXPECT_TRUE(Has(text, "ps_worker_examples_total{job_id=\"job-1\"} 128"))
      << text;
  EXPECT_TRUE(Has(text, "ps_worker_loss{job_id=\"job-1\"} 0.25")) << text;
  EXPECT_TRUE(Has(text, "ps_worker_accuracy{job_id=\"job-1\"} 0.8")) << text;
  EXPECT_TRUE(Has(text, "ps_worker_examples_per_second{job_id=\"job-1\"} 250"))
      << text;
}

TEST(WorkerMetricsTest, OnlyTheLatestJobsKeepTheirSeries) {
  Metrics metrics;
  WorkerMetrics m(&metrics);
  for (int i = 1; i <= WorkerMetrics::kKeptJobs + 1; ++i) {
    m.Reported("job-" + std::to_string(i), 1, {});
  }
  const std::string text = metrics.Text();
  EXPECT_FALSE(Has(text, "job_id=\"job-1\"")) << text;
  EXPECT_TRUE(Has(text, "job_id=\"job-2\"")) << text;
  EXPECT_TRUE(
      Has(text, "job_id=\"job-" + std::to_string(WorkerMetrics::kKeptJobs + 1)))
      << text;
}

TEST(WorkerMetricsTest, TasksAreCountedByResult) {
  Metrics metrics;
  WorkerMetrics m(&metrics);
  m.TaskEnded(absl::OkStatus());
  m.TaskEnded(absl::CancelledError("job cancelled"));
  m.TaskEnded(absl::InternalError("boom"));
  m.TaskEnded(absl::InternalError("boom"));
  const std::string text = metrics.Text();
  EXPECT_TRUE(Has(text, "ps_worker_tasks_total{result=\"ok\"} 1")) << text;
  EXPECT_TRUE(Has(text, "ps_worker_tasks_total{result=\"cancelled\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "ps_worker_tasks_total{result=\"failed\"} 2")) << text;
}

}  // namespace
}  // namespace ps::worker
