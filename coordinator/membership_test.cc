#include "coordinator/membership.h"

#include "gtest/gtest.h"

namespace ps::coordinator {
namespace {

class MembershipTest : public ::testing::Test {
 protected:
  absl::Time now_ = absl::FromUnixSeconds(1000);
  Membership members_{absl::Seconds(3), [this] { return now_; }};
};

TEST_F(MembershipTest, RegisterGivesRoleNamedIds) {
  auto s = members_.Register(v1::SERVER, "127.0.0.1:1");
  auto w = members_.Register(v1::WORKER, "127.0.0.1:2");
  ASSERT_TRUE(s.ok() && w.ok());
  EXPECT_EQ(s->id, "server-1");
  EXPECT_EQ(w->id, "worker-2");
  EXPECT_NE(s->incarnation, 0u);
  EXPECT_NE(s->incarnation, w->incarnation);
  EXPECT_EQ(members_.Live(v1::WORKER).size(), 1u);
}

TEST_F(MembershipTest, BadRegistrationIsInvalidArgument) {
  EXPECT_EQ(members_.Register(v1::ROLE_UNSPECIFIED, "h:1").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(members_.Register(v1::WORKER, "nocolon").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MembershipTest, MetricsAddressIsKeptOrRefusedWithoutAPort) {
  auto w = members_.Register(v1::WORKER, "127.0.0.1:2", "", "127.0.0.1:9100");
  ASSERT_TRUE(w.ok()) << w.status();
  EXPECT_EQ(members_.Get(w->id)->metrics_address, "127.0.0.1:9100");
  auto none = members_.Register(v1::WORKER, "127.0.0.1:3");
  EXPECT_EQ(members_.Get(none->id)->metrics_address, "");
  absl::Status bad =
      members_.Register(v1::SERVER, "127.0.0.1:4", "", "9100").status();
  EXPECT_EQ(bad.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(bad.message().find("metrics_address: '9100'"), std::string::npos)
      << bad;
}

TEST_F(MembershipTest, RestoredMemberKeepsItsMetricsAddress) {
  StoredState state;
  v1::StoredMember& m = state.members.emplace_back();
  m.set_number(3);
  m.set_id("server-3");
  m.set_role(v1::SERVER);
  m.set_address("127.0.0.1:5");
  m.set_alive(true);
  m.set_incarnation(7);
  m.set_metrics_address("127.0.0.1:9101");
  members_.Restore(state);
  EXPECT_EQ(members_.Get("server-3")->metrics_address, "127.0.0.1:9101");
}

TEST_F(MembershipTest, MemberWithoutHeartbeatDiesAfterLease) {
  auto a = members_.Register(v1::WORKER, "127.0.0.1:1");
  auto b = members_.Register(v1::WORKER, "127.0.0.1:2");
  now_ += absl::Seconds(2);
  ASSERT_TRUE(members_.Heartbeat(a->id, a->incarnation).ok());
  now_ += absl::Seconds(2);
  EXPECT_TRUE(members_.Expire().size() == 1);
  EXPECT_FALSE(members_.Get(b->id)->alive);
  EXPECT_TRUE(members_.Get(a->id)->alive);
  absl::Status late = members_.Heartbeat(b->id, b->incarnation);
  EXPECT_EQ(late.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(late.message().find("lease"), std::string::npos);
  EXPECT_EQ(members_.Live(v1::WORKER).size(), 1u);
  EXPECT_EQ(members_.All().size(), 2u);  // dead ones stay visible...
  now_ += absl::Minutes(5);
  members_.Expire();
  EXPECT_TRUE(members_.All().empty());  // ...for a while.
}

TEST_F(MembershipTest, UnknownHeartbeatIsNotFound) {
  EXPECT_EQ(members_.Heartbeat("worker-99", 1).code(),
            absl::StatusCode::kNotFound);
}

// A restarted coordinator numbers ids from 1 again. The member that holds
// server-1 from before the restart must not keep the new server-1 alive
// with its heartbeats: it is told to register again.
TEST_F(MembershipTest, HeartbeatOfAnIdsFormerHolderIsNotFound) {
  auto before = members_.Register(v1::SERVER, "127.0.0.1:1");
  ASSERT_TRUE(before.ok());
  Membership restarted(absl::Seconds(3), [this] { return now_; });
  auto other = restarted.Register(v1::SERVER, "127.0.0.1:2");
  ASSERT_TRUE(other.ok());
  ASSERT_EQ(other->id, before->id);  // the same id, another member
  absl::Status stale = restarted.Heartbeat(before->id, before->incarnation);
  EXPECT_EQ(stale.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(stale.message().find("register again"), std::string::npos);
  // The other member's lease was not renewed by the former holder: it
  // expires without heartbeats of its own.
  now_ += absl::Seconds(4);
  EXPECT_EQ(restarted.Expire().size(), 1u);
  EXPECT_TRUE(restarted.Live(v1::SERVER).empty());
}

}  // namespace
}  // namespace ps::coordinator
