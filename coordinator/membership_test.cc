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
  EXPECT_EQ(*s, "server-1");
  EXPECT_EQ(*w, "worker-2");
  EXPECT_EQ(members_.Live(v1::WORKER).size(), 1u);
}

TEST_F(MembershipTest, BadRegistrationIsInvalidArgument) {
  EXPECT_EQ(members_.Register(v1::ROLE_UNSPECIFIED, "h:1").status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(members_.Register(v1::WORKER, "nocolon").status().code(),
            absl::StatusCode::kInvalidArgument);
}

TEST_F(MembershipTest, MemberWithoutHeartbeatDiesAfterLease) {
  auto a = members_.Register(v1::WORKER, "127.0.0.1:1");
  auto b = members_.Register(v1::WORKER, "127.0.0.1:2");
  now_ += absl::Seconds(2);
  ASSERT_TRUE(members_.Heartbeat(*a).ok());
  now_ += absl::Seconds(2);
  EXPECT_TRUE(members_.Expire().size() == 1);
  EXPECT_FALSE(members_.Get(*b)->alive);
  EXPECT_TRUE(members_.Get(*a)->alive);
  absl::Status late = members_.Heartbeat(*b);
  EXPECT_EQ(late.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(late.message().find("lease"), std::string::npos);
  EXPECT_EQ(members_.Live(v1::WORKER).size(), 1u);
  EXPECT_EQ(members_.All().size(), 2u);  // dead ones stay visible...
  now_ += absl::Minutes(5);
  members_.Expire();
  EXPECT_TRUE(members_.All().empty());  // ...for a while.
}

TEST_F(MembershipTest, UnknownHeartbeatIsNotFound) {
  EXPECT_EQ(members_.Heartbeat("worker-99").code(), absl::StatusCode::kNotFound);
}

}  // namespace
}  // namespace ps::coordinator
