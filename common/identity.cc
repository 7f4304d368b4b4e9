#include "common/identity.h"

#include <array>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "grpc/grpc_security_constants.h"
#include "grpcpp/security/auth_context.h"

namespace ps {
namespace {

constexpr std::array<absl::string_view, 5> kRoleNames = {
    "coordinator", "server", "worker", "user", "admin"};

bool IsNameChar(char c) {
  return absl::ascii_isalnum(c) || c == '.' || c == '_' || c == '-';
}

}  // namespace

absl::string_view RoleName(Role role) {
  return kRoleNames[static_cast<int>(role)];
}

absl::StatusOr<Role> ParseRole(absl::string_view text) {
  for (size_t i = 0; i < kRoleNames.size(); ++i) {
    if (text == kRoleNames[i]) return static_cast<Role>(i);
  }
  return absl::InvalidArgumentError(absl::StrCat(
      "unknown role \"", text,
      "\"; the roles are coordinator, server, worker, user and admin"));
}

absl::Status CheckIdentityName(absl::string_view name) {
  if (name.empty() || name.size() > kMaxIdentityNameBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("identity name \"", name, "\" has ", name.size(),
                     " characters; allowed: 1 to ", kMaxIdentityNameBytes));
  }
  for (char c : name) {
    if (!IsNameChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "identity name \"", absl::CHexEscape(name),
          "\" has a character outside [A-Za-z0-9._-]"));
    }
  }
  return absl::OkStatus();
}

std::string IdentityUri(const Identity& identity) {
  return absl::StrCat("spiffe://", kTrustDomain, "/", RoleName(identity.role),
                      "/", identity.name);
}

absl::StatusOr<Identity> ParseIdentity(absl::string_view uri) {
  const std::string prefix = absl::StrCat("spiffe://", kTrustDomain, "/");
  if (!absl::StartsWith(uri, prefix)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identity URI \"", absl::CHexEscape(uri.substr(0, 200)),
        "\" does not start with ", prefix, "; expected ", prefix,
        "<role>/<name>"));
  }
  const std::vector<absl::string_view> parts =
      absl::StrSplit(uri.substr(prefix.size()), '/');
  if (parts.size() != 2) {
    return absl::InvalidArgumentError(absl::StrCat(
        "identity URI \"", absl::CHexEscape(uri.substr(0, 200)), "\" has ",
        parts.size(), " path segments; expected ", prefix, "<role>/<name>"));
  }
  Identity identity;
  absl::StatusOr<Role> role = ParseRole(parts[0]);
  if (!role.ok()) return role.status();
  identity.role = *role;
  if (absl::Status s = CheckIdentityName(parts[1]); !s.ok()) return s;
  identity.name = std::string(parts[1]);
  return identity;
}

absl::StatusOr<std::optional<Identity>> PeerIdentity(
    const grpc::AuthContext& auth) {
  const std::vector<grpc::string_ref> security =
      auth.FindPropertyValues(GRPC_TRANSPORT_SECURITY_TYPE_PROPERTY_NAME);
  if (security.empty() ||
      security[0] != grpc::string_ref(GRPC_SSL_TRANSPORT_SECURITY_TYPE)) {
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
