#include "common/identity.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps {
namespace {

TEST(IdentityTest, UriRoundTrips) {
  const Identity id{Role::kWorker, "node-3.rack_1"};
  EXPECT_EQ(IdentityUri(id.role, id.name),
            "spiffe://pscluster/worker/node-3.rack_1");
  absl::StatusOr<Identity> back = ParseIdentity(IdentityUri(id.role, id.name));
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ(back->role, Role::kWorker);
  EXPECT_EQ(back->name, "node-3.rack_1");
}

TEST(IdentityTest, EveryRoleParses) {
  for (Role role : {Role::kCoordinator, Role::kServer, Role::kWorker,
                    Role::kUser, Role::kAdmin}) {
    absl::StatusOr<Role> back = ParseRole(RoleName(role));
    ASSERT_TRUE(back.ok());
    EXPECT_EQ(*back, role);
  }
}

// Malformed URIs: common/certs_test.cc (ParseIdentity is shared).

}  // namespace
}  // namespace ps
