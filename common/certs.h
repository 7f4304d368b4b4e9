// Certificates for mutual TLS between every pscluster process: a cluster CA,
// the certificates it issues, the files a process loads them from, and the
// identity a certificate names.
//
// Identity comes only from the certificate's one URI SAN,
// `spiffe://pscluster/<role>/<name>`: role is coordinator, server, worker,
// user or admin; name is 1 to 64 of [A-Za-z0-9._-]. The subject is
// informational. Daemon certificates (coordinator, server, worker) carry DNS
// and IP SANs too and serve as both TLS server and TLS client certificates;
// user and admin certificates are client-only. Keys are EC P-256,
// signatures ECDSA with SHA-256, serials 128 random bits.
//
// Errors name the field or file and what is allowed; errors from OpenSSL
// carry its error text. Every function is thread-safe (OpenSSL 3 keeps its
// error queue per thread).
#ifndef PS_COMMON_CERTS_H_
#define PS_COMMON_CERTS_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "absl/time/time.h"
#include "common/identity.h"

namespace ps::certs {

// Roles and identities are common/identity.h's.
using ::ps::Identity;
using ::ps::IdentityUri;
using ::ps::IsDaemon;
using ::ps::ParseIdentity;
using ::ps::ParseRole;
using ::ps::Role;
using ::ps::RoleName;

// A validity window. Certificates are checked against it by every peer, so
// `not_before` is best set a little in the past (ValidFor does) to allow
// for clocks that differ between machines.
struct Validity {
  absl::Time not_before;
  absl::Time not_after;
};

// How far ValidFor back-dates not_before.
inline constexpr absl::Duration kClockSkewAllowance = absl::Minutes(5);

// From `now` - kClockSkewAllowance to `now` + `duration`.
Validity ValidFor(absl::Duration duration, absl::Time now = absl::Now());

// A certificate and its private key, PEM text (the key unencrypted PKCS#8,
// "BEGIN PRIVATE KEY").
struct Pem {
  std::string cert;
  std::string key;
};

// What to put in an issued certificate.
struct CertRequest {
  Identity identity;
  // DNS SANs, e.g. "localhost", "ps-server-0.example.com": letters, digits,
  // '-' in dot-separated labels of 1 to 63, at most 253 in all; no wildcard.
  // Daemons only.
  std::vector<std::string> dns_names;
  // IP SANs, IPv4 dotted or IPv6 text ("127.0.0.1", "::1"). Daemons only.
  std::vector<std::string> ip_addresses;
  // Must end no later than the CA's notAfter.
  Validity validity;
};

// A new self-signed CA: subject CN `common_name` (1 to 64 bytes),
// basicConstraints critical CA:TRUE with pathlen 0 (it signs leaves only),
// keyUsage critical keyCertSign and cRLSign, a fresh P-256 key.
absl::StatusOr<Pem> CreateCa(absl::string_view common_name,
                             const Validity& validity);

// A certificate for `request` signed by `ca` (as CreateCa returns): random
// 128-bit serial; subject CN = name, OU = role, O = pscluster; SANs the
// identity URI then the DNS names and IP addresses; basicConstraints
// CA:FALSE; keyUsage critical digitalSignature; extendedKeyUsage serverAuth
// and clientAuth for daemons, clientAuth for user and admin; a fresh P-256
// key. INVALID_ARGUMENT for a bad request (naming the field) or a `ca` that
// is not a CA, whose key does not match its certificate, or that expires
// before the request's not_after.
absl::StatusOr<Pem> IssueCertificate(const Pem& ca, const CertRequest& request);

// The identity named by the one URI SAN of a PEM certificate (the first in
// `cert_pem`). INVALID_ARGUMENT when it has no URI SAN, several, or one
// ParseIdentity refuses. Does not verify the certificate.
absl::StatusOr<Identity> CertificateIdentity(absl::string_view cert_pem);

// File names in a TLS directory, the layout every process loads.
inline constexpr char kCaCertFile[] = "ca.crt";
inline constexpr char kCaKeyFile[] = "ca.key";  // only beside the CA
inline constexpr char kCertFile[] = "tls.crt";
inline constexpr char kKeyFile[] = "tls.key";

// Writes `dir`/ca.crt, tls.key (mode 0600) and tls.crt (mode 0644 less the
// umask), creating `dir` when missing. Each file is replaced atomically and
// durably (a temporary file beside it, fsync, rename, fsync of the folder),
// so a reader watching the files sees each one old or new, never in part;
// this is how certificates are rotated. The three are not replaced as one:
// between the renames a reader can see the new key with the old
// certificate, so one that reloads on change should check the pair matches
// and retry. Errors name the file and the call that failed (errno).
absl::Status WriteTlsDir(const std::string& dir, absl::string_view ca_cert_pem,
                         const Pem& leaf);

// Writes `ca` as `dir`/ca.crt and ca.key (mode 0600), creating `dir` when
// missing. Never replaces a CA: ALREADY_EXISTS when either file exists
// (then nothing is written), since every certificate it issued would stop
// verifying.
absl::Status WriteNewCa(const std::string& dir, const Pem& ca);

// Reads `dir`/ca.crt and ca.key as WriteNewCa wrote them. NOT_FOUND naming
// the file when one is missing.
absl::StatusOr<Pem> ReadCa(const std::string& dir);

// A whole deployment's credentials, for a test or a throwaway cluster: a
// new CA ("pscluster CA", valid over the union of the requests' windows)
// written by WriteNewCa to `out_dir`, and for each request a subdirectory
// `<role>-<name>` written by WriteTlsDir. INVALID_ARGUMENT when `identities`
// is empty or names one identity twice; ALREADY_EXISTS when `out_dir`
// already holds a CA.
absl::Status CreateClusterCredentials(
    const std::string& out_dir, const std::vector<CertRequest>& identities);

// "<role>-<name>": the subdirectory CreateClusterCredentials and
// `psctl certs issue` write an identity's files to.
std::string TlsDirName(const Identity& identity);

}  // namespace ps::certs

#endif  // PS_COMMON_CERTS_H_
