// Who a caller is: a role and a name, carried by its mTLS certificate as one
// URI subject alternative name, spiffe://pscluster/<role>/<name>. The role
// policy (common/authz_policy.h) matches these URIs by role prefix; the
// services read them back where a check needs the name (a job's owner, a
// member's certificate).
#ifndef PS_COMMON_IDENTITY_H_
#define PS_COMMON_IDENTITY_H_

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace grpc {
class AuthContext;
}

namespace ps {

enum class Role { kCoordinator, kServer, kWorker, kUser, kAdmin };

struct Identity {
  Role role = Role::kUser;
  std::string name;
  bool operator==(const Identity& o) const {
    return role == o.role && name == o.name;
  }
};

inline constexpr absl::string_view kTrustDomain = "pscluster";
inline constexpr int kMaxIdentityNameBytes = 64;

// "coordinator", "server", "worker", "user", "admin".
absl::string_view RoleName(Role role);
// The inverse of RoleName (exact, lower case); INVALID_ARGUMENT naming the
// allowed roles otherwise.
absl::StatusOr<Role> ParseRole(absl::string_view name);
// Coordinator, server and worker: certificates that also serve TLS.
bool IsDaemon(Role role);

// `spiffe://pscluster/<role>/<name>`. Does not check `name`; ParseIdentity
// of the result does.
std::string IdentityUri(Role role, absl::string_view name);
// Parses and checks a URI of the form above, exactly: lower-case scheme
// `spiffe://`, trust domain `pscluster`, a known role, one name segment of
// 1 to 64 of [A-Za-z0-9._-], nothing after it. Meant for a peer's URI SAN
// on every call: one pass over the string, no allocation but the name on
// success. INVALID_ARGUMENT saying which part is wrong and what is allowed;
// the URI is quoted escaped and cut to 100 bytes, since a peer chose it.
absl::StatusOr<Identity> ParseIdentity(absl::string_view uri);

// The caller of a call on `auth`'s connection: nullopt when the connection
// is not TLS (a daemon run with --insecure checks no identities);
// UNAUTHENTICATED when it is TLS but the certificate carries no single
// identity URI.
absl::StatusOr<std::optional<Identity>> PeerIdentity(
    const grpc::AuthContext& auth);

}  // namespace ps

#endif  // PS_COMMON_IDENTITY_H_
