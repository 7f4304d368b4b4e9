// The TLS flags every daemon and psctl take, in one place so that they mean
// the same everywhere (an exception to "flags live beside main()": the
// three daemons and psctl share them). Link //common:security_flags only
// into binaries.
//
//   --tls_dir=DIR            DIR/tls.crt, DIR/tls.key, DIR/ca.crt
//   --tls_cert, --tls_key, --tls_ca   the same files one by one
//   --tls_refresh=10s        how often the files are read again (rotation)
//   --insecure               plaintext, no identities, no checks
//   --allow_insecure_remote  --insecure on an address outside loopback
#ifndef PS_COMMON_SECURITY_FLAGS_H_
#define PS_COMMON_SECURITY_FLAGS_H_

#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/rpc_security.h"

namespace ps {

// The security the flags ask for. `addresses` are the hosts or host:port
// this process listens on or dials: --insecure is refused (naming the
// address) when one is outside loopback, unless --allow_insecure_remote.
// INVALID_ARGUMENT naming the flags when none or both of TLS and --insecure
// are given, or what is wrong with a certificate file.
absl::StatusOr<std::shared_ptr<const RpcSecurity>> SecurityFromFlags(
    const std::vector<std::string>& addresses);

// Whether --insecure was given.
bool InsecureRequested();

// The TLS files the flags name ("" fields when none).
TlsFiles TlsFilesFromFlags();

// True for 127.0.0.0/8, ::1 and localhost, with or without a port.
bool IsLoopbackAddress(const std::string& address);

}  // namespace ps

#endif  // PS_COMMON_SECURITY_FLAGS_H_
