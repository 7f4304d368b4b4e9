#include "common/metrics_endpoint.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <string>

#include "absl/time/clock.h"
#include "common/http_get.h"
#include "gtest/gtest.h"
#include "prometheus/counter.h"

namespace ps {
namespace {

bool Has(const std::string& text, const std::string& part) {
  return text.find(part) != std::string::npos;
}

class MetricsEndpointTest : public ::testing::Test {
 protected:
  void SetUp() override {
    prometheus::BuildCounter()
        .Name("ps_test_served_total")
        .Help("served")
        .Register(metrics_.registry())
        .Add({})
        .Increment();
  }
  Metrics metrics_;
};

TEST_F(MetricsEndpointTest, ServesTheTextOverHttpOnAnyFreePort) {
  auto endpoint = MetricsEndpoint::Start("127.0.0.1", 0, &metrics_);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  EXPECT_GT((*endpoint)->port(), 0);
  EXPECT_EQ((*endpoint)->address(),
            "127.0.0.1:" + std::to_string((*endpoint)->port()));
  for (int i = 0; i < 3; ++i) {  // one connection each
    absl::StatusOr<HttpResponse> got =
        HttpGet((*endpoint)->address(), "/metrics");
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(got->status, 200);
    EXPECT_TRUE(Has(got->body, "ps_test_served_total 1")) << got->body;
  }
}

TEST_F(MetricsEndpointTest, OtherPathsAreNotFound) {
  auto endpoint = MetricsEndpoint::Start("127.0.0.1", 0, &metrics_);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  absl::StatusOr<HttpResponse> got = HttpGet((*endpoint)->address(), "/");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status, 404);
  EXPECT_EQ(got->body, "metrics are at /metrics\n");
  got = HttpGet((*endpoint)->address(), "/metrics?x=1");
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status, 200);
}

TEST_F(MetricsEndpointTest, PortInUseIsUnavailableNamingTheAddress) {
  auto first = MetricsEndpoint::Start("127.0.0.1", 0, &metrics_);
  ASSERT_TRUE(first.ok()) << first.status();
  auto second =
      MetricsEndpoint::Start("127.0.0.1", (*first)->port(), &metrics_);
  ASSERT_FALSE(second.ok());
  EXPECT_EQ(second.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Has(std::string(second.status().message()),
                  "cannot serve metrics on " + (*first)->address() +
                      ": Address already in use"))
      << second.status();
}

TEST_F(MetricsEndpointTest, AddressNotOfThisMachineIsUnavailable) {
  auto endpoint = MetricsEndpoint::Start("192.0.2.1", 0, &metrics_);
  ASSERT_FALSE(endpoint.ok());
  EXPECT_EQ(endpoint.status().code(), absl::StatusCode::kUnavailable);
  EXPECT_TRUE(Has(std::string(endpoint.status().message()), "192.0.2.1:0"))
      << endpoint.status();
}

// A connection to `endpoint` that sends nothing; closed when destroyed.
class SilentClient {
 public:
  explicit SilentClient(int port) : fd_(socket(AF_INET, SOCK_STREAM, 0)) {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(static_cast<uint16_t>(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    connected_ =
        connect(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
  }
  ~SilentClient() { close(fd_); }
  bool connected() const { return connected_; }

 private:
  int fd_;
  bool connected_ = false;
};

TEST_F(MetricsEndpointTest, SilentClientHoldsOthersUpOnlyUntilItsTimeout) {
  auto endpoint = MetricsEndpoint::Start("127.0.0.1", 0, &metrics_);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  SilentClient silent((*endpoint)->port());
  ASSERT_TRUE(silent.connected());
  absl::StatusOr<HttpResponse> got =
      HttpGet((*endpoint)->address(), "/metrics",
              MetricsEndpoint::kRequestTimeout + absl::Seconds(5));
  ASSERT_TRUE(got.ok()) << got.status();
  EXPECT_EQ(got->status, 200);
}

TEST_F(MetricsEndpointTest, StoppingDoesNotWaitForASilentClient) {
  auto endpoint = MetricsEndpoint::Start("127.0.0.1", 0, &metrics_);
  ASSERT_TRUE(endpoint.ok()) << endpoint.status();
  SilentClient silent((*endpoint)->port());
  ASSERT_TRUE(silent.connected());
  const absl::Time start = absl::Now();
  endpoint->reset();
  EXPECT_LT(absl::Now() - start, absl::Seconds(1));
}

}  // namespace
}  // namespace ps
