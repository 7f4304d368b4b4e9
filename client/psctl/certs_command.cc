#include "client/psctl/certs_command.h"

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/time/time.h"
#include "common/certs.h"
#include "common/status.h"

namespace ps::client {
namespace {

absl::Status CheckDays(int days) {
  if (days >= 1) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat("--days=", days, ": must be at least 1"));
}

std::string Until(const certs::Validity& validity) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", validity.not_after,
                          absl::UTCTimeZone());
}

}  // namespace

absl::Status CertsInit(const CertsInitOptions& options, std::ostream& out) {
  if (absl::Status s = CheckDays(options.days); !s.ok()) return s;
  const certs::Validity validity =
      certs::ValidFor(absl::Hours(24) * options.days);
  absl::StatusOr<certs::Pem> ca = certs::CreateCa(options.ca_name, validity);
  if (!ca.ok()) return ca.status();
  if (absl::Status s = certs::WriteNewCa(options.dir, *ca); !s.ok()) return s;
  out << "created CA \"" << options.ca_name << "\" in " << options.dir << " ("
      << certs::kCaCertFile << ", " << certs::kCaKeyFile << "), valid until "
      << Until(validity) << "\n"
      << "keep " << certs::kCaKeyFile << " secret: it can issue any identity\n";
  return absl::OkStatus();
}

absl::Status CertsIssue(const CertsIssueOptions& options, std::ostream& out) {
  if (absl::Status s = CheckDays(options.days); !s.ok()) return s;
  absl::StatusOr<certs::Role> role = certs::ParseRole(options.role);
  if (!role.ok()) return Annotate(role.status(), "--role");
  absl::StatusOr<certs::Pem> ca = certs::ReadCa(options.dir);
  if (!ca.ok()) {
    return Annotate(
        ca.status(),
        absl::StrCat("--dir=", options.dir,
                     ": reading its CA (psctl certs init makes one)"));
  }
  certs::CertRequest request;
  request.identity = {*role, options.name};
  request.dns_names = options.dns;
  request.ip_addresses = options.ip;
  request.validity = certs::ValidFor(absl::Hours(24) * options.days);
  absl::StatusOr<certs::Pem> leaf = certs::IssueCertificate(*ca, request);
  if (!leaf.ok()) return leaf.status();
  const std::string dir =
      absl::StrCat(options.dir, "/", certs::TlsDirName(request.identity));
  if (absl::Status s = certs::WriteTlsDir(dir, ca->cert, *leaf); !s.ok()) {
    return s;
  }
  out << "issued " << certs::IdentityUri(*role, options.name);
  if (!options.dns.empty()) out << " DNS " << absl::StrJoin(options.dns, ",");
  if (!options.ip.empty()) out << " IP " << absl::StrJoin(options.ip, ",");
  out << ", valid until " << Until(request.validity) << ", to " << dir << "/ ("
      << certs::kCaCertFile << ", " << certs::kCertFile << ", "
      << certs::kKeyFile << ")\n";
  return absl::OkStatus();
}

}  // namespace ps::client
