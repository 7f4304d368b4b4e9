// What a process presents and trusts on the gRPC channels it opens and
// serves: mutual TLS from certificate files watched for rotation, or
// plaintext when a user asked for it (--insecure).
//
// With TLS every connection is mutually authenticated against one cluster
// CA: servers require a client certificate, and clients accept only a peer
// whose certificate names a daemon role (coordinator, server or worker), so
// a user's certificate cannot stand in for a server. Host names are not
// checked: daemons are dialled by the addresses the coordinator hands out,
// and who they are is the role in their certificate (common/identity.h).
#ifndef PS_COMMON_RPC_SECURITY_H_
#define PS_COMMON_RPC_SECURITY_H_

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "common/identity.h"
#include "grpcpp/security/credentials.h"
#include "grpcpp/security/server_credentials.h"

namespace grpc::experimental {
class CertificateProviderInterface;
}

namespace ps {

struct TlsFiles {
  std::string cert;  // PEM certificate (chain), leaf first
  std::string key;   // PEM private key of the leaf
  std::string ca;    // PEM CA certificate(s) every peer must chain to
  // How often the files are read again; a rotated certificate is used for
  // new connections from then on (gRPC's FileWatcherCertificateProvider).
  absl::Duration refresh = absl::Seconds(10);
};

// DIR/tls.crt, DIR/tls.key and DIR/ca.crt (what `psctl certs issue`
// writes).
TlsFiles TlsFilesInDir(const std::string& dir);

class RpcSecurity {
 public:
  // Plaintext: no identities, no checks.
  static std::shared_ptr<const RpcSecurity> Insecure();
  // Reads and checks the files first (each parses, the key matches the
  // certificate, the certificate chains to the CA and is valid now, and it
  // names one identity), so that a wrong file is an error at start-up
  // naming it rather than failed handshakes later.
  static absl::StatusOr<std::shared_ptr<const RpcSecurity>> Tls(
      const TlsFiles& files);

  bool tls() const { return provider_ != nullptr; }
  // The identity in this process's own certificate; nullopt when insecure.
  const std::optional<Identity>& identity() const { return identity_; }

  std::shared_ptr<grpc::ChannelCredentials> ChannelCredentials() const;
  std::shared_ptr<grpc::ServerCredentials> ServerCredentials() const;

 private:
  RpcSecurity() = default;

  std::shared_ptr<grpc::experimental::CertificateProviderInterface> provider_;
  std::shared_ptr<grpc::ChannelCredentials> channel_;
  std::optional<Identity> identity_;
};

// Checks `files` as RpcSecurity::Tls does and returns the certificate's
// identity. Errors name the file and what is wrong with it.
absl::StatusOr<Identity> CheckTlsFiles(const TlsFiles& files);

}  // namespace ps

#endif  // PS_COMMON_RPC_SECURITY_H_
