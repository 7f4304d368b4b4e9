// The fan-out helpers over a fake ServerControl: every server is called at
// once, and errors come back in server order.
#include "coordinator/server_control.h"

#include <set>

#include "gtest/gtest.h"

namespace ps::coordinator {
namespace {

// Each call waits until `expected` calls are in flight (or 10 s pass), so
// calls made one after the other would time out; fails the servers in
// `fail`.
class BarrierServerControl : public ServerControl {
 public:
  explicit BarrierServerControl(int expected) : expected_(expected) {}
  absl::Status CreateTables(const v1::ServerEndpoint& server,
                            const v1::CreateTablesRequest&) override {
    return Call(server);
  }
  absl::Status DropTables(const v1::ServerEndpoint& server,
                          const std::string&) override {
    return Call(server);
  }
  std::set<std::string> fail;
  bool all_at_once = true;

 private:
  absl::Status Call(const v1::ServerEndpoint& server) {
    absl::MutexLock lock(&mu_);
    ++entered_;
    auto all_in = [this]() ABSL_SHARED_LOCKS_REQUIRED(mu_) {
      return entered_ >= expected_;
    };
    if (!mu_.AwaitWithTimeout(absl::Condition(&all_in), absl::Seconds(10))) {
      all_at_once = false;
    }
    if (fail.count(server.member_id())) {
      return absl::UnavailableError(server.member_id());
    }
    return absl::OkStatus();
  }

  const int expected_;
  absl::Mutex mu_;
  int entered_ ABSL_GUARDED_BY(mu_) = 0;
};

std::vector<v1::ServerEndpoint> Endpoints(int n) {
  std::vector<v1::ServerEndpoint> out(n);
  for (int i = 0; i < n; ++i) out[i].set_member_id("s" + std::to_string(i));
  return out;
}

TEST(CreateTablesOnAllTest, CallsEveryServerAtOnceAndReturnsTheFirstError) {
  BarrierServerControl control(3);
  control.fail = {"s2", "s1"};
  absl::Status s = CreateTablesOnAll(control, Endpoints(3),
                                     std::vector<v1::CreateTablesRequest>(3));
  EXPECT_TRUE(control.all_at_once);
  EXPECT_EQ(s, absl::UnavailableError("s1"));
}

TEST(DropTablesOnAllTest, CallsEveryServerOfEveryJobAtOnce) {
  BarrierServerControl control(3);
  control.fail = {"s1"};
  std::vector<TableDrop> drops = {{Endpoints(2), "job-1"},
                                  {Endpoints(1), "job-2"}};
  auto failed = DropTablesOnAll(control, drops);
  EXPECT_TRUE(control.all_at_once);
  ASSERT_EQ(failed.size(), 1u);
  EXPECT_EQ(failed[0].first, "job-1");
  EXPECT_EQ(failed[0].second, absl::UnavailableError("s1"));
}

}  // namespace
}  // namespace ps::coordinator
