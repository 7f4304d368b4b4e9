#include "common/metrics.h"

#include <string>

#include "common/http_get.h"
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

TEST(MetricsEndpointTest, ServesTheTextOverHttpOnAnyFreePort) {
  Metrics metrics;
  prometheus::BuildCounter()
      .Name("ps_test_served_total")
      .Help("served")
      .Register(metrics.registry())
      .Add({})
      .Increment();
  auto endpoint = MetricsEndpoint::Start("127.0.0.1", 0, &metrics);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_GT((*endpoint)->port(), 0);
  EXPECT_EQ((*endpoint)->address(),
            "127.0.0.1:" + std::to_string((*endpoint)->port()));
  absl::StatusOr<HttpResponse> got = HttpGet((*endpoint)->address(), "/metrics");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status, 200);
  EXPECT_TRUE(Has(got->body, "ps_test_served_total 1")) << got->body;
}

TEST(MetricsEndpointTest, PortInUseIsUnavailableNamingTheAddress) {
  Metrics metrics;
  auto first = MetricsEndpoint::Start("127.0.0.1", 0, &metrics);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second =
      MetricsEndpoint::Start("127.0.0.1", (*first)->port(), &metrics);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Has(std::string(second.status().message()),
                  (*first)->address()))
      << second.status();
}

TEST(MetricsEndpointTest, EndpointOutlivingMetricsServesNothing) {
  auto metrics = std::make_unique<Metrics>();
  prometheus::BuildCounter()
      .Name("ps_test_gone_total")
      .Help("gone")
      .Register(metrics->registry())
      .Add({});
  auto endpoint = MetricsEndpoint::Start("127.0.0.1", 0, metrics.get());
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  metrics.reset();
  absl::StatusOr<HttpResponse> got = HttpGet((*endpoint)->address(), "/metrics");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_FALSE(Has(got->body, "ps_test_gone_total")) << got->body;
}

TEST(HttpGetTest, NothingListeningIsUnavailable) {
  Metrics metrics;
  int port = 0;
  {
    auto endpoint = MetricsEndpoint::Start("127.0.0.1", 0, &metrics);
    ASSERT_TRUE(endpoint.ok());
    port = (*endpoint)->port();
  }
  absl::StatusOr<HttpResponse> got =
      HttpGet("127.0.0.1:" + std::to_string(port), "/metrics");
  EXPECT_EQ(got.status().code(), absl::StatusCode::kUnavailable)
      << got.status();
}

TEST(HttpGetTest, BadAddressIsInvalidArgument) {
  EXPECT_EQ(HttpGet("localhost", "/").status().code(),
            absl::StatusCode::kInvalidArgument);
}

}  // namespace
}  // namespace ps
