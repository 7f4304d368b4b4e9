// Who a caller is: a role and a name, carried by its mTLS certificate as one
// URI subject alternative name, spiffe://pscluster/<role>/<name>. gRPC's
// authorization policy engine matches these URIs (by role prefix); the
// services read them back where a check needs the name (a job's owner).
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
};

inline constexpr absl::string_view kTrustDomain = "pscluster";
inline constexpr int kMaxIdentityNameBytes = 64;

// "coordinator", "server", "worker", "user", "admin".
absl::string_view RoleName(Role role);
// INVALID_ARGUMENT naming `text` and the five roles.
absl::StatusOr<Role> ParseRole(absl::string_view text);

// spiffe://pscluster/<role>/<name>.
std::string IdentityUri(const Identity& identity);
// The reverse. INVALID_ARGUMENT naming what is wrong (scheme, trust domain,
// role, name: 1-64 of [A-Za-z0-9._-], no further path) and what is allowed.
absl::StatusOr<Identity> ParseIdentity(absl::string_view uri);
// INVALID_ARGUMENT unless `name` is 1-64 of [A-Za-z0-9._-].
absl::Status CheckIdentityName(absl::string_view name);

// The caller of a call on `auth`'s connection: nullopt when the connection
// is not TLS (a daemon run with --insecure checks no identities);
// UNAUTHENTICATED when it is TLS but the certificate carries no single
// identity URI.
absl::StatusOr<std::optional<Identity>> PeerIdentity(
    const grpc::AuthContext& auth);

}  // namespace ps

#endif  // PS_COMMON_IDENTITY_H_
