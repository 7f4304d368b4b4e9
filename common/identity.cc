#include "common/identity.h"

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_context.h"

namespace ps {
namespace {

constexpr absl::string_view kScheme = "spiffe://";
constexpr size_t kMaxName = kMaxIdentityNameBytes;
constexpr size_t kMaxQuoted = 100;
constexpr char kRoles[] = "coordinator, server, worker, user or admin";

constexpr Role kAllRoles[] = {Role::kCoordinator, Role::kServer, Role::kWorker,
                              Role::kUser, Role::kAdmin};

// `text` as a C string literal's body, cut to kMaxQuoted bytes: a peer's
// URI may hold anything.
std::string Quoted(absl::string_view text) {
  if (text.size() <= kMaxQuoted) return absl::CHexEscape(text);
  return absl::StrCat(absl::CHexEscape(text.substr(0, kMaxQuoted)), "...");
}

absl::Status BadUri(absl::string_view uri, absl::string_view why) {
  return absl::InvalidArgumentError(
      absl::StrCat("identity URI \"", Quoted(uri), "\": ", why,
                   "; expected spiffe://pscluster/<role>/<name>"));
}

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
         (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

// Why `name` (one path segment, no '/') is not allowed; empty when it is.
std::string NameProblem(absl::string_view name) {
  if (name.empty()) return "the name is empty";
  if (name.size() > kMaxName) {
    return absl::StrCat("the name is ", name.size(), " bytes, at most ",
                        kMaxName, " allowed");
  }
  for (size_t i = 0; i < name.size(); ++i) {
    if (IsNameChar(name[i])) continue;
    return absl::StrCat("the name has '", absl::CHexEscape(name.substr(i, 1)),
                        "' at byte ", i,
                        "; allowed: letters, digits, '.', '_', '-'");
  }
  return "";
}

}  // namespace

absl::string_view RoleName(Role role) {
  switch (role) {
    case Role::kCoordinator:
      return "coordinator";
    case Role::kServer:
      return "server";
    case Role::kWorker:
      return "worker";
    case Role::kUser:
      return "user";
    case Role::kAdmin:
      return "admin";
  }
  return "unknown";
}

absl::StatusOr<Role> ParseRole(absl::string_view name) {
  for (Role role : kAllRoles) {
    if (name == RoleName(role)) return role;
  }
  return absl::InvalidArgumentError(
      absl::StrCat("role \"", Quoted(name), "\" is not one of ", kRoles));
}

bool IsDaemon(Role role) {
  return role == Role::kCoordinator || role == Role::kServer ||
         role == Role::kWorker;
}

std::string IdentityUri(Role role, absl::string_view name) {
  return absl::StrCat(kScheme, kTrustDomain, "/", RoleName(role), "/", name);
}


absl::StatusOr<Identity> ParseIdentity(absl::string_view uri) {
  if (!absl::StartsWith(uri, kScheme)) {
    return BadUri(uri, "the scheme is not spiffe:// (lower case)");
  }
  absl::string_view rest = uri.substr(kScheme.size());
  const size_t domain_end = rest.find('/');
  const absl::string_view domain = rest.substr(0, domain_end);
  if (domain != kTrustDomain) {
    return BadUri(uri, absl::StrCat("the trust domain \"", Quoted(domain),
                                    "\" is not pscluster"));
  }
  if (domain_end == absl::string_view::npos) {
    return BadUri(uri, "no role and name after the trust domain");
  }
  rest = rest.substr(domain_end + 1);
  const size_t role_end = rest.find('/');
  absl::StatusOr<Role> role = ParseRole(rest.substr(0, role_end));
  if (!role.ok()) return BadUri(uri, role.status().message());
  if (role_end == absl::string_view::npos) {
    return BadUri(uri, "no name after the role");
  }
  const absl::string_view name = rest.substr(role_end + 1);
  const size_t name_end = name.find('/');
  if (name_end != absl::string_view::npos && name_end > 0) {
    return BadUri(uri, "a path segment after the name; only one is allowed");
  }
  std::string problem = NameProblem(name_end == 0 ? absl::string_view() : name);
  if (!problem.empty()) return BadUri(uri, problem);
  return Identity{*role, std::string(name)};
}

absl::StatusOr<std::optional<Identity>> PeerIdentity(
    const grpc::AuthContext& auth) {
  const std::vector<grpc::string_ref> security =
      auth.FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  // "tls" from gRPC's TLS credentials, "ssl" from its older SSL ones.
  if (security.empty() ||
      (security[0] != grpc::string_ref(GRPC_TLS_TRANSPORT_SECURITY_TYPE) &&
       security[0] != grpc::string_ref(GRPC_SSL_TRANSPORT_SECURITY_TYPE))) {
    return std::nullopt;
  }
  const std::vector<grpc::string_ref> uris =
      auth.FindPropertyValues(GRPC_PEER_URI_PROPERTY_NAME);
  if (uris.size() != 1) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the caller's certificate has ", uris.size(),
        " URI subject alternative names; expected one, spiffe://",
        kTrustDomain, "/<role>/<name>"));
  }
  absl::StatusOr<Identity> identity =
      ParseIdentity(absl::string_view(uris[0].data(), uris[0].size()));
  if (!identity.ok()) {
    return absl::UnauthenticatedError(identity.status().message());
  }
  return std::optional<Identity>(*std::move(identity));
}

}  // namespace ps
