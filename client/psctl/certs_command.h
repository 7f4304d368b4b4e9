// `psctl certs`: a cluster's CA and the certificates it issues, as files
// (layout and contents in common/certs.h). No network.
#ifndef PS_CLIENT_PSCTL_CERTS_COMMAND_H_
#define PS_CLIENT_PSCTL_CERTS_COMMAND_H_

#include <ostream>
#include <string>
#include <vector>

#include "absl/status/status.h"

namespace ps::client {

struct CertsInitOptions {
  std::string dir;                       // gets ca.crt and ca.key
  std::string ca_name = "pscluster CA";  // the CA's subject CN
  int days = 3650;                       // validity from now
};

// `psctl certs init`: creates a CA in options.dir. ALREADY_EXISTS (and
// nothing written) when the folder already holds a CA: replacing it would
// invalidate every certificate it issued.
absl::Status CertsInit(const CertsInitOptions& options, std::ostream& out);

struct CertsIssueOptions {
  std::string dir;               // holds the CA (from CertsInit)
  std::string role;              // coordinator, server, worker, user or admin
  std::string name;              // [A-Za-z0-9._-]{1,64}
  std::vector<std::string> dns;  // DNS SANs (daemons only)
  std::vector<std::string> ip;   // IP SANs (daemons only)
  int days = 365;                // validity from now; within the CA's
};

// `psctl certs issue`: signs a new key's certificate with the CA in
// options.dir and writes `dir`/<role>-<name>/{ca.crt,tls.crt,tls.key}, each
// replaced atomically: issuing again for the same identity is how its
// certificate is rotated. Errors name the flag or file at fault.
absl::Status CertsIssue(const CertsIssueOptions& options, std::ostream& out);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_CERTS_COMMAND_H_
