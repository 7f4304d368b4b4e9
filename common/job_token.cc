#include "common/job_token.h"

#include <vector>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "openssl/crypto.h"
#include "openssl/evp.h"
#include "openssl/hmac.h"
#include "openssl/rand.h"

namespace ps {
namespace {

constexpr absl::string_view kPrefix = "psjt1.";
constexpr int kMacBytes = 32;

std::string Mac(absl::string_view payload, absl::string_view key) {
  unsigned char out[EVP_MAX_MD_SIZE];
  unsigned int size = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()),
       reinterpret_cast<const unsigned char*>(payload.data()), payload.size(),
       out, &size);
  return std::string(reinterpret_cast<const char*>(out), size);
}

absl::Status Bad(absl::string_view what) {
  return absl::UnauthenticatedError(absl::StrCat(
      "malformed job token: ", what,
      "; expected psjt1.<claims>.<mac> from the coordinator"));
}

}  // namespace

absl::StatusOr<std::string> NewJobKey() {
  std::string key(kJobKeyBytes, '\0');
  if (RAND_bytes(reinterpret_cast<unsigned char*>(key.data()),
                 kJobKeyBytes) != 1) {
    return absl::InternalError("OpenSSL's RAND_bytes failed to make a job key");
  }
  return key;
}

std::string MintJobToken(const v1::JobTokenClaims& claims,
                         absl::string_view key) {
  const std::string payload = claims.SerializeAsString();
  return absl::StrCat(kPrefix, absl::WebSafeBase64Escape(payload), ".",
                      absl::WebSafeBase64Escape(Mac(payload, key)));
}

absl::StatusOr<ParsedJobToken> ParseJobToken(absl::string_view token) {
  if (token.size() > kMaxJobTokenBytes) {
    return Bad(absl::StrCat(token.size(), " bytes, more than ",
                            kMaxJobTokenBytes));
  }
  if (!absl::ConsumePrefix(&token, kPrefix)) return Bad("no psjt1. prefix");
  const std::vector<absl::string_view> parts = absl::StrSplit(token, '.');
  if (parts.size() != 2) {
    return Bad(absl::StrCat(parts.size(), " parts after the prefix, not 2"));
  }
  ParsedJobToken out;
  if (!absl::WebSafeBase64Unescape(parts[0], &out.payload)) {
    return Bad("the claims are not base64url");
  }
  if (!absl::WebSafeBase64Unescape(parts[1], &out.mac) ||
      out.mac.size() != kMacBytes) {
    return Bad("the MAC is not 32 bytes of base64url");
  }
  if (!out.claims.ParseFromString(out.payload)) {
    return Bad("the claims do not parse");
  }
  return out;
}

absl::Status CheckJobToken(absl::string_view token, absl::string_view key,
                           const JobAccess& access, absl::Time now) {
  absl::StatusOr<ParsedJobToken> parsed = ParseJobToken(token);
  if (!parsed.ok()) return parsed.status();
  const std::string mac = Mac(parsed->payload, key);
  if (CRYPTO_memcmp(mac.data(), parsed->mac.data(), kMacBytes) != 0) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the job token is not signed with ", access.job_id,
        "'s key (forged, or for another job or coordinator)"));
  }
  const v1::JobTokenClaims& c = parsed->claims;
  if (c.job_id() != access.job_id) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the job token is for ", c.job_id(), ", not ", access.job_id));
  }
  if (absl::FromUnixMillis(c.expires_unix_ms()) <= now) {
    return absl::UnauthenticatedError(absl::StrCat(
        "the job token for ", c.job_id(), " expired at ",
        absl::FormatTime(absl::FromUnixMillis(c.expires_unix_ms()))));
  }
  if (access.ended && !c.read_only()) {
    return absl::PermissionDeniedError(absl::StrCat(
        c.job_id(), " has ended: its kept tables take only readers' tokens "
        "(GetJobToken), not a worker's"));
  }
  if (access.write && c.read_only()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the job token for ", c.job_id(), " is read-only; pushes need a "
        "worker's token"));
  }
  if (access.write && access.worker_id != c.worker_id()) {
    return absl::PermissionDeniedError(absl::StrCat(
        "the push names worker id \"", access.worker_id,
        "\" but the job token is for \"", c.worker_id(), "\" (rank ",
        c.rank(), ")"));
  }
  return absl::OkStatus();
}

}  // namespace ps
