// Who may call what: one table of method -> roles, turned into a policy in
// gRPC's authorization policy language (JSON: allow_rules and deny_rules of
// source.principals and request.paths, with "*" prefix and suffix
// wildcards), which each daemon's gRPC server enforces before any handler
// runs.
//
// Why not gRPC's own engine: Debian's gRPC 1.51 ships its header
// (grpcpp/security/authorization_policy_provider.h) but not the library
// behind it (no StaticDataAuthorizationPolicyProvider::Create in
// libgrpc++, no grpc_authorization_policy_provider_static_data_create in
// libgrpc). So AuthzPolicy evaluates the same language, with gRPC's
// semantics (a matching deny rule denies, else a matching allow rule
// allows, else deny), from gRPC's public per-call hook on the server
// credentials (grpc::AuthMetadataProcessor). On a gRPC that has the
// provider, the same JSON goes to it unchanged.
//
// Principals are the identity URIs of common/identity.h, matched by role
// prefix.
//
// What the table cannot say is checked by the services themselves: that a
// member registers in its certificate's role, that a user sees and cancels
// only their own jobs (admins all), and per-job data-plane tokens
// (common/job_token.h).
#ifndef PS_COMMON_AUTHZ_POLICY_H_
#define PS_COMMON_AUTHZ_POLICY_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "common/identity.h"

namespace ps {

enum class Daemon { kCoordinator, kServer, kWorker };

// The policy for `daemon`'s gRPC server.
std::string AuthzPolicyJson(Daemon daemon);

// The roles that may call `method` ("/ps.v1.Coordinator/SubmitJob"), for
// explaining a PERMISSION_DENIED; empty when the table does not name it.
std::vector<Role> RolesAllowed(absl::string_view method);

// "CancelJob needs a user or admin certificate" for `method`, or "" when
// the table does not name it.
std::string ExplainRoles(absl::string_view method);

// A parsed policy in gRPC's authorization policy language.
class AuthzPolicy {
 public:
  // INVALID_ARGUMENT naming what does not parse (gRPC's schema: "name",
  // "allow_rules" required, "deny_rules" optional; each rule a "name", an
  // optional "source": {"principals": [...]} and an optional "request":
  // {"paths": [...]}; headers are not supported here).
  static absl::StatusOr<AuthzPolicy> Parse(absl::string_view json);

  // OK when a caller with these URI SANs (`principals`; empty: no
  // certificate) may call `path`; else PERMISSION_DENIED naming the caller,
  // the method and the roles it needs (ExplainRoles).
  absl::Status Authorize(absl::string_view path,
                         const std::vector<std::string>& principals) const;

 private:
  struct Rule {
    std::string name;
    std::vector<std::string> principals;  // empty: anyone
    std::vector<std::string> paths;       // empty: any method
  };
  static bool Matches(const Rule& rule, absl::string_view path,
                      const std::vector<std::string>& principals);

  std::vector<Rule> deny_;
  std::vector<Rule> allow_;
};

}  // namespace ps

#endif  // PS_COMMON_AUTHZ_POLICY_H_
