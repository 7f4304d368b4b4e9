#include "common/rpc_security.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "grpcpp/security/tls_certificate_provider.h"
#include "grpcpp/security/tls_certificate_verifier.h"
#include "grpcpp/security/tls_credentials_options.h"

namespace ps {
namespace {

namespace gx = grpc::experimental;

// Accepts a server (the peer a client dials) only when its certificate
// names a daemon: the chain itself was checked against the CA by then.
class DaemonPeerVerifier final : public gx::ExternalCertificateVerifier {
 public:
  bool Verify(gx::TlsCustomVerificationCheckRequest* request,
              std::function<void(grpc::Status)> /*callback*/,
              grpc::Status* sync_status) override {
    *sync_status = Check(request->uri_names());
    return true;
  }
  void Cancel(gx::TlsCustomVerificationCheckRequest*) override {}

 private:
  static grpc::Status Check(const std::vector<grpc::string_ref>& uris) {
    if (uris.size() != 1) {
      return grpc::Status(
          grpc::StatusCode::UNAUTHENTICATED,
          absl::StrCat("the peer's certificate has ", uris.size(),
                       " URI subject alternative names; expected one"));
    }
    absl::StatusOr<Identity> peer =
        ParseIdentity(absl::string_view(uris[0].data(), uris[0].size()));
    if (!peer.ok()) {
      return grpc::Status(grpc::StatusCode::UNAUTHENTICATED,
                          std::string(peer.status().message()));
    }
    if (!IsDaemon(peer->role)) {
      return grpc::Status(
          grpc::StatusCode::UNAUTHENTICATED,
          absl::StrCat("the peer presents a ", RoleName(peer->role),
                       " certificate (", peer->name,
                       "); a daemon must present a coordinator, server or "
                       "worker certificate"));
    }
    return grpc::Status::OK;
  }
};

}  // namespace

TlsFiles TlsFilesInDir(const std::string& dir) {
  TlsFiles files;
  files.cert = absl::StrCat(dir, "/tls.crt");
  files.key = absl::StrCat(dir, "/tls.key");
  files.ca = absl::StrCat(dir, "/ca.crt");
  return files;
}

std::shared_ptr<const RpcSecurity> RpcSecurity::Insecure() {
  return std::shared_ptr<const RpcSecurity>(new RpcSecurity());
}

absl::StatusOr<std::shared_ptr<const RpcSecurity>> RpcSecurity::Tls(
    const TlsFiles& files) {
  absl::StatusOr<Identity> identity = CheckTlsFiles(files);
  if (!identity.ok()) return identity.status();
  std::shared_ptr<RpcSecurity> out(new RpcSecurity());
  out->identity_ = *std::move(identity);
  out->provider_ = std::make_shared<gx::FileWatcherCertificateProvider>(
      files.key, files.cert, files.ca,
      std::max<int64_t>(1, absl::ToInt64Seconds(files.refresh)));
  gx::TlsChannelCredentialsOptions options;
  options.set_certificate_provider(out->provider_);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_verify_server_certs(true);
  options.set_check_call_host(false);
  options.set_certificate_verifier(
      gx::ExternalCertificateVerifier::Create<DaemonPeerVerifier>());
  out->channel_ = grpc::experimental::TlsCredentials(options);
  if (out->channel_ == nullptr) {
    return absl::InternalError("gRPC refused the TLS channel credentials");
  }
  return std::shared_ptr<const RpcSecurity>(std::move(out));
}

std::shared_ptr<grpc::ChannelCredentials> RpcSecurity::ChannelCredentials()
    const {
  return tls() ? channel_ : grpc::InsecureChannelCredentials();
}

std::shared_ptr<grpc::ServerCredentials> RpcSecurity::ServerCredentials()
    const {
  if (!tls()) return grpc::InsecureServerCredentials();
  gx::TlsServerCredentialsOptions options(provider_);
  options.watch_root_certs();
  options.watch_identity_key_cert_pairs();
  options.set_cert_request_type(
      GRPC_SSL_REQUEST_AND_REQUIRE_CLIENT_CERTIFICATE_AND_VERIFY);
  return gx::TlsServerCredentials(options);
}

}  // namespace ps
