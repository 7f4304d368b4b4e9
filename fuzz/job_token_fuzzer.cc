// libFuzzer target: what a data-plane caller sends to prove itself, on any
// bytes: the "ps-job-token" metadata (ParseJobToken, CheckJobToken, in
// common/job_token.h) and the identity URI of a certificate
// (ParseIdentity, common/identity.h). Besides what the sanitizers catch,
// it aborts when:
//   - a token refused is not UNAUTHENTICATED or PERMISSION_DENIED, or a
//     malformed one's message does not say so;
//   - a token the check accepts does not parse, names another job, has
//     expired, or grants less than the call (a push on a read-only token or
//     under another worker id);
//   - a token minted from parsed claims does not parse back to them;
//   - an identity that parses does not print back to the same URI.
#include <cstdint>
#include <cstdlib>
#include <string>

#include "common/identity.h"
#include "common/job_token.h"

namespace {

const std::string& Key() {
  static const std::string* key = new std::string(32, '\x5a');
  return *key;
}

void CheckToken(absl::string_view token) {
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  for (bool write : {false, true}) {
    absl::Status s = ps::CheckJobToken(
        token, Key(), {.job_id = "job-1", .worker_id = "w1", .write = write},
        now);
    if (s.ok()) {
      auto parsed = ps::ParseJobToken(token);
      if (!parsed.ok() || parsed->claims.job_id() != "job-1") abort();
      if (parsed->claims.expires_unix_ms() <= absl::ToUnixMillis(now)) {
        abort();  // expired, yet accepted
      }
      if (write && (parsed->claims.read_only() ||
                    parsed->claims.worker_id() != "w1")) {
        abort();  // a push it does not grant, accepted
      }
      continue;
    }
    if (s.code() != absl::StatusCode::kUnauthenticated &&
        s.code() != absl::StatusCode::kPermissionDenied) {
      abort();
    }
  }
  auto parsed = ps::ParseJobToken(token);
  if (!parsed.ok()) {
    if (parsed.status().code() != absl::StatusCode::kUnauthenticated ||
        parsed.status().message().find("malformed job token") ==
            absl::string_view::npos) {
      abort();
    }
    return;
  }
  // Claims that parse, signed properly, round-trip.
  const std::string minted = ps::MintJobToken(parsed->claims, Key());
  auto back = ps::ParseJobToken(minted);
  if (!back.ok() ||
      back->claims.SerializeAsString() != parsed->claims.SerializeAsString()) {
    abort();
  }
}

void CheckIdentity(absl::string_view uri) {
  auto identity = ps::ParseIdentity(uri);
  if (!identity.ok()) {
    if (identity.status().code() != absl::StatusCode::kInvalidArgument) {
      abort();
    }
    return;
  }
  if (ps::IdentityUri(identity->role, identity->name) != uri) abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  CheckToken(bytes);
  CheckIdentity(bytes);
  return 0;
}
