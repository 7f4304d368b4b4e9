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

namespace ps {
namespace {

TEST(AuthzPolicyEvalTest, OwnPolicyAllowsAndDeniesByRole) {
  absl::StatusOr<AuthzPolicy> policy =
      AuthzPolicy::Parse(AuthzPolicyJson(Daemon::kServer));
  ASSERT_TRUE(policy.ok()) << policy.status();
  const std::vector<std::string> coordinator = {
      "spiffe://pscluster/coordinator/c"};
  const std::vector<std::string> worker = {"spiffe://pscluster/worker/w1"};
  EXPECT_TRUE(
      policy->Authorize("/ps.v1.ParameterServer/CreateTables", coordinator)
          .ok());
  absl::Status s =
      policy->Authorize("/ps.v1.ParameterServer/CreateTables", worker);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr("spiffe://pscluster/worker/w1 may not call "
                        "/ps.v1.ParameterServer/CreateTables: CreateTables "
                        "needs a coordinator certificate"));
  EXPECT_TRUE(policy->Authorize("/ps.v1.ParameterServer/Push", worker).ok());
  EXPECT_FALSE(policy->Authorize("/ps.v1.ParameterServer/Push", {}).ok());
  EXPECT_FALSE(policy->Authorize("/ps.v1.Unknown/X", coordinator).ok());
}

TEST(AuthzPolicyEvalTest, DenyRulesWinAndWildcardsMatch) {
  absl::StatusOr<AuthzPolicy> policy = AuthzPolicy::Parse(R"({
    "name": "p",
    "deny_rules": [{"name": "d", "source": {"principals": ["*/evil"]}}],
    "allow_rules": [{"name": "a", "request": {"paths": ["/svc/*"]}}]})");
  ASSERT_TRUE(policy.ok()) << policy.status();
  EXPECT_TRUE(policy->Authorize("/svc/M", {"spiffe://x/good"}).ok());
  EXPECT_FALSE(policy->Authorize("/svc/M", {"spiffe://x/evil"}).ok());
  EXPECT_FALSE(policy->Authorize("/other/M", {"spiffe://x/good"}).ok());
}

TEST(AuthzPolicyEvalTest, MalformedPoliciesNameWhatIsWrong) {
  for (const char* json :
       {"", "[]", R"({"name": "p"})", R"({"name": "p", "allow_rules": 3})",
        R"({"name": "p", "allow_rules": [{"name": "a",
            "request": {"headers": []}}]})",
        R"({"name": "p", "allow_rules": [{"name": "a",
            "source": {"principals": [1]}}]})"}) {
    absl::StatusOr<AuthzPolicy> policy = AuthzPolicy::Parse(json);
    EXPECT_EQ(policy.status().code(), absl::StatusCode::kInvalidArgument)
        << json;
    EXPECT_THAT(std::string(policy.status().message()),
                HasSubstr("authorization policy")) << json;
  }
}

}  // namespace
}  // namespace ps
