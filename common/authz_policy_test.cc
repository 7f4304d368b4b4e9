#include "common/authz_policy.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ps {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

TEST(AuthzPolicyTest, OnlyTheCoordinatorCreatesTables) {
  EXPECT_THAT(RolesAllowed("/ps.v1.ParameterServer/CreateTables"),
              ElementsAre(Role::kCoordinator));
  EXPECT_THAT(RolesAllowed("/ps.v1.ParameterServer/Push"),
              ElementsAre(Role::kWorker));
  EXPECT_THAT(RolesAllowed("/grpc.reflection.v1alpha.ServerReflection/"
                           "ServerReflectionInfo"),
              ElementsAre(Role::kAdmin));
  EXPECT_TRUE(RolesAllowed("/ps.v1.ParameterServer/NoSuchMethod").empty());
}

TEST(AuthzPolicyTest, ExplainsWhatACallNeeds) {
  EXPECT_EQ(ExplainRoles("/ps.v1.Coordinator/CancelJob"),
            "CancelJob needs a user or admin certificate");
}

TEST(AuthzPolicyTest, PolicyNamesEveryRuleOfItsDaemon) {
  const nlohmann::json policy =
      nlohmann::json::parse(AuthzPolicyJson(Daemon::kServer));
  EXPECT_EQ(policy["name"], "ps_server");
  std::string all = policy.dump();
  EXPECT_THAT(all, HasSubstr("/ps.v1.ParameterServer/CreateTables"));
  EXPECT_THAT(all, HasSubstr("spiffe://pscluster/coordinator/*"));
  EXPECT_EQ(all.find("/ps.v1.Coordinator/"), std::string::npos);
  for (const auto& rule : policy["allow_rules"]) {
    EXPECT_FALSE(rule["source"]["principals"].empty());
    EXPECT_FALSE(rule["request"]["paths"].empty());
  }
}

}  // namespace
}  // namespace ps
