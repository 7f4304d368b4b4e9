#include "common/security_flags.h"

#include <algorithm>

#include "absl/flags/flag.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/daemon.h"

ABSL_FLAG(std::string, tls_dir, "",
          "directory with tls.crt, tls.key and ca.crt (psctl certs issue)");
ABSL_FLAG(std::string, tls_cert, "", "PEM certificate (overrides --tls_dir)");
ABSL_FLAG(std::string, tls_key, "", "PEM private key (overrides --tls_dir)");
ABSL_FLAG(std::string, tls_ca, "",
          "PEM CA certificate every peer must chain to (overrides --tls_dir)");
ABSL_FLAG(absl::Duration, tls_refresh, absl::Seconds(10),
          "how often the certificate files are read again, so that rotated "
          "ones are used without a restart");
ABSL_FLAG(bool, insecure, false,
          "plaintext gRPC: no certificates, no identities, no checks");
ABSL_FLAG(bool, allow_insecure_remote, false,
          "allow --insecure on an address outside loopback");

namespace ps {

bool IsLoopbackAddress(const std::string& address) {
  absl::string_view host = address;
  if (absl::ConsumePrefix(&host, "[")) {
    host = host.substr(0, host.find(']'));
  } else if (std::count(host.begin(), host.end(), ':') == 1) {
    host = host.substr(0, host.find(':'));
  }
  return host == "localhost" || host == "::1" || absl::StartsWith(host, "127.");
}

bool InsecureRequested() { return absl::GetFlag(FLAGS_insecure); }

TlsFiles TlsFilesFromFlags() {
  TlsFiles files;
  if (const std::string dir = absl::GetFlag(FLAGS_tls_dir); !dir.empty()) {
    files = TlsFilesInDir(dir);
  }
  if (auto v = absl::GetFlag(FLAGS_tls_cert); !v.empty()) files.cert = v;
  if (auto v = absl::GetFlag(FLAGS_tls_key); !v.empty()) files.key = v;
  if (auto v = absl::GetFlag(FLAGS_tls_ca); !v.empty()) files.ca = v;
  files.refresh = absl::GetFlag(FLAGS_tls_refresh);
  return files;
}

absl::StatusOr<std::shared_ptr<const RpcSecurity>> SecurityFromFlags(
    const std::vector<std::string>& addresses) {
  const TlsFiles files = TlsFilesFromFlags();
  const bool tls = !files.cert.empty() || !files.key.empty() ||
                   !files.ca.empty();
  if (absl::GetFlag(FLAGS_insecure)) {
    if (tls) {
      return absl::InvalidArgumentError(
          "--insecure and TLS files (--tls_dir, --tls_cert, --tls_key, "
          "--tls_ca) were both given; choose one");
    }
    for (const std::string& address : addresses) {
      if (address.empty() || IsLoopbackAddress(address) ||
          absl::GetFlag(FLAGS_allow_insecure_remote)) {
        continue;
      }
      return absl::InvalidArgumentError(absl::StrCat(
          "--insecure on ", address,
          ", which is not a loopback address: anyone who can reach it could "
          "read and change every job's parameters. Use TLS (--tls_dir), or "
          "add --allow_insecure_remote on a network you trust"));
    }
    return RpcSecurity::Insecure();
  }
  if (!tls) {
    return absl::InvalidArgumentError(
        "no TLS credentials: give --tls_dir=DIR (tls.crt, tls.key, ca.crt; "
        "psctl certs writes them) or --tls_cert, --tls_key and --tls_ca; "
        "--insecure runs plaintext on loopback");
  }
  if (absl::Status s = CheckDurationFlag("tls_refresh", files.refresh,
                                         absl::Seconds(1), absl::Hours(24));
      !s.ok()) {
    return s;
  }
  return RpcSecurity::Tls(files);
}

}  // namespace ps
