#include "common/identity.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps {
namespace {

using ::testing::HasSubstr;

TEST(IdentityTest, UriRoundTrips) {
  const Identity id{Role::kWorker, "node-3.rack_1"};
  EXPECT_EQ(IdentityUri(id), "spiffe://pscluster/worker/node-3.rack_1");
  absl::StatusOr<Identity> back = ParseIdentity(IdentityUri(id));
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

TEST(IdentityTest, MalformedUrisAreRefusedNamingWhatIsWrong) {
  struct Case {
    std::string uri;
    std::string says;
  };
  const std::vector<Case> cases = {
      {"https://pscluster/worker/a", "does not start with"},
      {"spiffe://other/worker/a", "does not start with"},
      {"spiffe://pscluster/root/a", "unknown role \"root\""},
      {"spiffe://pscluster/worker/", "1 to 64"},
      {"spiffe://pscluster/worker/" + std::string(65, 'a'), "65 characters"},
      {"spiffe://pscluster/worker/a b", "outside [A-Za-z0-9._-]"},
      {"spiffe://pscluster/worker/a/b", "3 path segments"},
      {"spiffe://pscluster/worker", "1 path segments"},
  };
  for (const Case& c : cases) {
    absl::StatusOr<Identity> id = ParseIdentity(c.uri);
    ASSERT_FALSE(id.ok()) << c.uri;
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(std::string(id.status().message()), HasSubstr(c.says))
        << c.uri;
  }
}

}  // namespace
}  // namespace ps
