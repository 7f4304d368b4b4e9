#include "common/authz_policy.h"

#include <initializer_list>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "nlohmann/json.hpp"

namespace ps {
namespace {

constexpr Role kCoord = Role::kCoordinator;
constexpr Role kServer = Role::kServer;
constexpr Role kWorker = Role::kWorker;
constexpr Role kUser = Role::kUser;
constexpr Role kAdmin = Role::kAdmin;

struct Rule {
  Daemon daemon;
  const char* service;
  std::vector<const char*> methods;  // {"*"}: every method
  std::vector<Role> roles;
};

const std::vector<Rule>& Rules() {
  static const auto* rules = new std::vector<Rule>{
      // Every daemon: liveness for any certificate, reflection for admins.
      {Daemon::kCoordinator, "grpc.health.v1.Health", {"*"},
       {kCoord, kServer, kWorker, kUser, kAdmin}},
      {Daemon::kServer, "grpc.health.v1.Health", {"*"},
       {kCoord, kServer, kWorker, kUser, kAdmin}},
      {Daemon::kWorker, "grpc.health.v1.Health", {"*"},
       {kCoord, kServer, kWorker, kUser, kAdmin}},
      {Daemon::kCoordinator, "grpc.reflection.v1alpha.ServerReflection",
       {"*"}, {kAdmin}},
      {Daemon::kServer, "grpc.reflection.v1alpha.ServerReflection", {"*"},
       {kAdmin}},
      {Daemon::kWorker, "grpc.reflection.v1alpha.ServerReflection", {"*"},
       {kAdmin}},
      // The coordinator.
      {Daemon::kCoordinator, "ps.v1.Coordinator", {"Register", "Heartbeat"},
       {kServer, kWorker}},
      {Daemon::kCoordinator, "ps.v1.Coordinator", {"GetCluster"},
       {kServer, kWorker, kUser, kAdmin}},
      {Daemon::kCoordinator, "ps.v1.Coordinator",
       {"SubmitJob", "GetJob", "ListJobs", "CancelJob", "WatchJob",
        "CheckpointJob", "ResumeJob", "GetJobToken"},
       {kUser, kAdmin}},
      {Daemon::kCoordinator, "ps.v1.Coordinator",
       {"ReportProgress", "Barrier", "CompleteTask"}, {kWorker}},
      {Daemon::kCoordinator, "ps.v1.Coordinator", {"ReportUnreachable"},
       {kServer, kWorker}},
      // Parameter servers. Pull, Push and ScanRows also need the job's
      // token (checked by the service).
      {Daemon::kServer, "ps.v1.ParameterServer",
       {"CreateTables", "DropTables", "SetReplicas", "CopyGroup",
        "WriteCheckpoint", "LoadCheckpoint"},
       {kCoord}},
      {Daemon::kServer, "ps.v1.ParameterServer",
       {"Replicate", "InstallSnapshot", "ReadSnapshot"}, {kServer}},
      {Daemon::kServer, "ps.v1.ParameterServer", {"Push"}, {kWorker}},
      {Daemon::kServer, "ps.v1.ParameterServer", {"Pull", "ScanRows"},
       {kWorker, kUser, kAdmin}},
      {Daemon::kServer, "ps.v1.ParameterServer", {"ServerStatus"},
       {kCoord, kUser, kAdmin}},
  };
  return *rules;
}

std::string Principal(Role role) {
  return absl::StrCat("spiffe://", kTrustDomain, "/", RoleName(role), "/*");
}

}  // namespace

std::string AuthzPolicyJson(Daemon daemon) {
  nlohmann::json allow = nlohmann::json::array();
  for (const Rule& rule : Rules()) {
    if (rule.daemon != daemon) continue;
    nlohmann::json paths = nlohmann::json::array();
    for (const char* method : rule.methods) {
      paths.push_back(absl::StrCat("/", rule.service, "/", method));
    }
    nlohmann::json principals = nlohmann::json::array();
    for (Role role : rule.roles) principals.push_back(Principal(role));
    allow.push_back({{"name", absl::StrCat("rule_", allow.size())},
                     {"source", {{"principals", principals}}},
                     {"request", {{"paths", paths}}}});
  }
  const char* names[] = {"ps_coordinator", "ps_server", "ps_worker"};
  nlohmann::json policy = {{"name", names[static_cast<int>(daemon)]},
                           {"allow_rules", allow}};
  return policy.dump();
}

std::vector<Role> RolesAllowed(absl::string_view method) {
  for (const Rule& rule : Rules()) {
    const std::string prefix = absl::StrCat("/", rule.service, "/");
    if (!absl::StartsWith(method, prefix)) continue;
    for (const char* m : rule.methods) {
      if (absl::string_view(m) == "*" ||
          method.substr(prefix.size()) == absl::string_view(m)) {
        return rule.roles;
      }
    }
  }
  return {};
}

std::string ExplainRoles(absl::string_view method) {
  const std::vector<Role> roles = RolesAllowed(method);
  if (roles.empty()) return "";
  std::vector<absl::string_view> names;
  for (Role role : roles) names.push_back(RoleName(role));
  return absl::StrCat(method.substr(method.rfind('/') + 1), " needs a ",
                      absl::StrJoin(names, " or "), " certificate");
}

}  // namespace ps
