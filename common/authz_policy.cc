#include "common/authz_policy.h"

#include <algorithm>
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
       {"SubmitJob", "ListJobs", "CancelJob", "WatchJob", "CheckpointJob",
        "ResumeJob", "GetJobToken", "GetJobHistory"},
       {kUser, kAdmin}},
      // Workers read a job's map after a failover (never its parameters
      // or key: those need the job's token).
      {Daemon::kCoordinator, "ps.v1.Coordinator", {"GetJob"},
       {kWorker, kUser, kAdmin}},
      {Daemon::kCoordinator, "ps.v1.Coordinator",
       {"ReportProgress", "Barrier", "CompleteTask"}, {kWorker}},
      {Daemon::kCoordinator, "ps.v1.Coordinator", {"ReportUnreachable"},
       {kServer, kWorker}},
      // Parameter servers. Pull, Push and ScanRows also need the job's
      // token (checked by the service).
      {Daemon::kServer, "ps.v1.ParameterServer",
       {"CreateTables", "DropTables", "SetReplicas", "CopyGroup",
        "WriteCheckpoint", "LoadCheckpoint", "SealTables"},
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

namespace {

// gRPC's string match: "*" anything, "*x" suffix, "x*" prefix, else exact.
bool Glob(absl::string_view pattern, absl::string_view value) {
  if (pattern == "*") return true;
  if (absl::StartsWith(pattern, "*")) {
    return absl::EndsWith(value, pattern.substr(1));
  }
  if (absl::EndsWith(pattern, "*")) {
    return absl::StartsWith(value, pattern.substr(0, pattern.size() - 1));
  }
  return pattern == value;
}

absl::Status ParseStrings(const nlohmann::json& rule, const char* outer,
                          const char* inner, std::vector<std::string>* out) {
  if (!rule.contains(outer)) return absl::OkStatus();
  const nlohmann::json& o = rule[outer];
  if (!o.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("authorization policy: \"", outer, "\" is not an object"));
  }
  for (const auto& [key, value] : o.items()) {
    if (key != inner) {
      return absl::InvalidArgumentError(absl::StrCat(
          "authorization policy: \"", outer, ".", key,
          "\" is not supported; only ", outer, ".", inner));
    }
    if (!value.is_array()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "authorization policy: \"", outer, ".", inner, "\" is not a list"));
    }
    for (const nlohmann::json& v : value) {
      if (!v.is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "authorization policy: \"", outer, ".", inner,
            "\" holds a non-string"));
      }
      out->push_back(v.get<std::string>());
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<AuthzPolicy> AuthzPolicy::Parse(absl::string_view json) {
  const nlohmann::json policy =
      nlohmann::json::parse(json.begin(), json.end(), nullptr,
                            /*allow_exceptions=*/false);
  if (!policy.is_object() || !policy.contains("name") ||
      !policy["name"].is_string() || !policy.contains("allow_rules")) {
    return absl::InvalidArgumentError(
        "authorization policy: expected a JSON object with \"name\" and "
        "\"allow_rules\"");
  }
  AuthzPolicy out;
  for (const char* list : {"deny_rules", "allow_rules"}) {
    if (!policy.contains(list)) continue;
    if (!policy[list].is_array()) {
      return absl::InvalidArgumentError(
          absl::StrCat("authorization policy: \"", list, "\" is not a list"));
    }
    for (const nlohmann::json& r : policy[list]) {
      if (!r.is_object() || !r.contains("name") || !r["name"].is_string()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "authorization policy: a rule of \"", list,
            "\" is not an object with a \"name\""));
      }
      Rule rule;
      rule.name = r["name"].get<std::string>();
      if (absl::Status s =
              ParseStrings(r, "source", "principals", &rule.principals);
          !s.ok()) {
        return s;
      }
      if (absl::Status s = ParseStrings(r, "request", "paths", &rule.paths);
          !s.ok()) {
        return s;
      }
      (std::string(list) == "deny_rules" ? out.deny_ : out.allow_)
          .push_back(std::move(rule));
    }
  }
  return out;
}

bool AuthzPolicy::Matches(const Rule& rule, absl::string_view path,
                          const std::vector<std::string>& principals) {
  bool path_ok = rule.paths.empty();
  for (const std::string& p : rule.paths) path_ok = path_ok || Glob(p, path);
  if (!path_ok) return false;
  if (rule.principals.empty()) return true;
  for (const std::string& want : rule.principals) {
    for (const std::string& have : principals) {
      if (Glob(want, have)) return true;
    }
  }
  return false;
}

absl::Status AuthzPolicy::Authorize(
    absl::string_view path, const std::vector<std::string>& principals) const {
  auto matches = [&](const Rule& rule) {
    return Matches(rule, path, principals);
  };
  if (std::none_of(deny_.begin(), deny_.end(), matches) &&
      std::any_of(allow_.begin(), allow_.end(), matches)) {
    return absl::OkStatus();
  }
  const std::string caller =
      principals.empty() ? "a caller without a certificate identity"
                         : absl::StrCat("the caller ", principals[0]);
  const std::string needs = ExplainRoles(path);
  return absl::PermissionDeniedError(absl::StrCat(
      caller, " may not call ", path,
      needs.empty() ? "" : absl::StrCat(": ", needs)));
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
