#include "common/metrics.h"

#include <string>

#include "gtest/gtest.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"

namespace ps {
namespace {

bool Has(const std::string& text, const std::string& line) {
  return text.find(line) != std::string::npos;
}

TEST(MetricsTest, TextHasRegistryFamiliesThenCollectors) {
  Metrics metrics;
  prometheus::BuildCounter()
      .Name("ps_test_things_total")
      .Help("things")
      .Register(metrics.registry())
      .Add({{"kind", "a"}})
      .Increment(3);
  auto collector = metrics.AddCollector([](auto* out) {
    prometheus::MetricFamily level =
        MakeFamily("ps_test_level", "a level", prometheus::MetricType::Gauge);
    AddSample(&level, {{"job", "job-1"}}, 2.5);
    out->push_back(std::move(level));
  });
  const std::string text = metrics.Text();
  EXPECT_TRUE(Has(text, "# TYPE ps_test_things_total counter")) << text;
  EXPECT_TRUE(Has(text, "ps_test_things_total{kind=\"a\"} 3")) << text;
  EXPECT_TRUE(Has(text, "# TYPE ps_test_level gauge")) << text;
  EXPECT_TRUE(Has(text, "ps_test_level{job=\"job-1\"} 2.5")) << text;
}

TEST(MetricsTest, RemovedCollectorIsNoLongerCalled) {
  Metrics metrics;
  int calls = 0;
  auto collector = metrics.AddCollector([&calls](auto*) { ++calls; });
  metrics.Collect();
  collector.reset();
  metrics.Collect();
  EXPECT_EQ(calls, 1);
}

TEST(MetricsTest, CollectorOutlivingMetricsIsHarmless) {
  auto metrics = std::make_unique<Metrics>();
  auto collector = metrics->AddCollector([](auto*) {});
  metrics.reset();
  collector.reset();  // nothing to unregister from
}

TEST(MetricsTest, HistogramUsesTheGivenBuckets) {
  Metrics metrics;
  prometheus::BuildHistogram()
      .Name("ps_test_wait_seconds")
      .Help("waits")
      .Register(metrics.registry())
      .Add({}, WaitBuckets())
      .Observe(0);
  const std::string text = metrics.Text();
  EXPECT_TRUE(Has(text, "ps_test_wait_seconds_bucket{le=\"0.0001\"} 1"))
      << text;
  EXPECT_TRUE(Has(text, "ps_test_wait_seconds_bucket{le=\"+Inf\"} 1")) << text;
}

}  // namespace
}  // namespace ps
