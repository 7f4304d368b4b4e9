// Who may call what: one table of method -> roles, turned into the gRPC
// authorization policy (JSON) that each daemon's gRPC server enforces with
// gRPC's own policy engine (grpcpp/security/authorization_policy_provider.h),
// before any handler runs. Principals are the identity URIs of
// common/identity.h, matched by role prefix.
//
// What the table cannot say is checked by the services themselves: that a
// member registers in its certificate's role, that a user sees and cancels
// only their own jobs (admins all), and per-job data-plane tokens
// (common/job_token.h).
#ifndef PS_COMMON_AUTHZ_POLICY_H_
#define PS_COMMON_AUTHZ_POLICY_H_

#include <string>
#include <vector>

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

}  // namespace ps

#endif  // PS_COMMON_AUTHZ_POLICY_H_
