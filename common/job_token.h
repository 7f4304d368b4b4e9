// Per-job data-plane tokens. The coordinator signs, with a key of the job's
// own (HMAC-SHA256, OpenSSL's libcrypto), what a worker or reader may do:
// the job, the rank, the worker id its pushes carry, the job's attempt and
// an expiry (v1::JobTokenClaims). Tokens are not bound to partition-map
// epochs: a failover moves the epoch under running workers while their
// requests are in flight, and the server's own epoch fencing already
// refuses a stale map. A resumed job's new attempt gets a new key, which
// retires every token of the attempts before. The coordinator gives the key
// to the job's servers with its tables, so a server checks a token without
// a round trip, and a token stops working when the job's tables go.
//
// Wire form: "psjt1." base64url(serialised claims) "." base64url(MAC), sent
// as the "ps-job-token" metadata of Pull, Push and ScanRows.
#ifndef PS_COMMON_JOB_TOKEN_H_
#define PS_COMMON_JOB_TOKEN_H_

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps {

inline constexpr char kJobTokenMetadata[] = "ps-job-token";
inline constexpr int kJobKeyBytes = 32;
// Longest token accepted (a real one is about 150 bytes).
inline constexpr int kMaxJobTokenBytes = 4096;

// kJobKeyBytes random bytes (OpenSSL's RAND_bytes); INTERNAL if it fails.
absl::StatusOr<std::string> NewJobKey();

// `claims` signed with `key`.
std::string MintJobToken(const v1::JobTokenClaims& claims,
                         absl::string_view key);

// A token taken apart; the MAC is not checked yet.
struct ParsedJobToken {
  v1::JobTokenClaims claims;
  std::string payload;  // the signed bytes
  std::string mac;
};
// UNAUTHENTICATED naming what is malformed.
absl::StatusOr<ParsedJobToken> ParseJobToken(absl::string_view token);

// What a call asks to do with a job.
struct JobAccess {
  absl::string_view job_id;
  absl::string_view worker_id;  // a push's worker id; empty for reads
  bool write = false;
  // The job has ended (its tables kept for readers): only a reader's token
  // works.
  bool ended = false;
};

// OK when `token` is signed with `key`, unexpired at `now`, and grants
// `access`. UNAUTHENTICATED for a malformed, forged or expired token;
// PERMISSION_DENIED naming what it does not grant (another job, another
// worker id, a write with a read-only token, a worker's token on a job that
// has ended).
absl::Status CheckJobToken(absl::string_view token, absl::string_view key,
                           const JobAccess& access, absl::Time now);

}  // namespace ps

#endif  // PS_COMMON_JOB_TOKEN_H_
