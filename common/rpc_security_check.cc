// CheckTlsFiles: the start-up check of a process's certificate files, with
// OpenSSL's libcrypto (the library gRPC's TLS runs on here).
#include <fstream>
#include <memory>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/rpc_security.h"
#include "openssl/err.h"
#include "openssl/pem.h"
#include "openssl/x509.h"
#include "openssl/x509v3.h"

namespace ps {
namespace {

struct BioFree { void operator()(BIO* b) const { BIO_free(b); } };
struct X509Free { void operator()(X509* x) const { X509_free(x); } };
struct KeyFree { void operator()(EVP_PKEY* k) const { EVP_PKEY_free(k); } };
struct StoreFree { void operator()(X509_STORE* s) const { X509_STORE_free(s); } };
struct StoreCtxFree {
  void operator()(X509_STORE_CTX* c) const { X509_STORE_CTX_free(c); }
};
struct NamesFree {
  void operator()(GENERAL_NAMES* n) const { GENERAL_NAMES_free(n); }
};
using Bio = std::unique_ptr<BIO, BioFree>;
using Cert = std::unique_ptr<X509, X509Free>;

// OpenSSL's queued error, as text (and the queue cleared).
std::string OpenSslError() {
  const unsigned long code = ERR_get_error();
  ERR_clear_error();
  if (code == 0) return "no PEM block of that kind";
  char text[256];
  ERR_error_string_n(code, text, sizeof(text));
  return text;
}

absl::StatusOr<std::string> ReadPem(const std::string& path,
                                    absl::string_view what) {
  if (path.empty()) {
    return absl::InvalidArgumentError(
        absl::StrCat("no ", what, " file given (--tls_", what,
                     " or --tls_dir)"));
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) {
    return absl::NotFoundError(
        absl::StrCat("cannot read the TLS ", what, " file ", path));
  }
  std::ostringstream text;
  text << in.rdbuf();
  return text.str();
}

Bio MemoryBio(const std::string& pem) {
  return Bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
}

// The URI SANs of `cert`.
std::vector<std::string> UriNames(X509* cert) {
  std::vector<std::string> uris;
  std::unique_ptr<GENERAL_NAMES, NamesFree> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(cert, NID_subject_alt_name, nullptr, nullptr)));
  if (names == nullptr) return uris;
  for (int i = 0; i < sk_GENERAL_NAME_num(names.get()); ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    const ASN1_IA5STRING* uri = name->d.uniformResourceIdentifier;
    uris.emplace_back(reinterpret_cast<const char*>(ASN1_STRING_get0_data(uri)),
                      ASN1_STRING_length(uri));
  }
  return uris;
}

absl::Status VerifyChain(X509* leaf, const std::string& ca_pem,
                         const TlsFiles& files) {
  std::unique_ptr<X509_STORE, StoreFree> store(X509_STORE_new());
  Bio bio = MemoryBio(ca_pem);
  int cas = 0;
  while (Cert ca{PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr)}) {
    X509_STORE_add_cert(store.get(), ca.get());
    ++cas;
  }
  ERR_clear_error();
  if (cas == 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the TLS CA file ", files.ca, " holds no PEM certificate"));
  }
  std::unique_ptr<X509_STORE_CTX, StoreCtxFree> ctx(X509_STORE_CTX_new());
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf, nullptr);
  if (X509_verify_cert(ctx.get()) != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the TLS certificate ", files.cert, " does not verify against ",
        files.ca, ": ",
        X509_verify_cert_error_string(X509_STORE_CTX_get_error(ctx.get()))));
  }
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<Identity> CheckTlsFiles(const TlsFiles& files) {
  absl::StatusOr<std::string> cert_pem = ReadPem(files.cert, "cert");
  if (!cert_pem.ok()) return cert_pem.status();
  absl::StatusOr<std::string> key_pem = ReadPem(files.key, "key");
  if (!key_pem.ok()) return key_pem.status();
  absl::StatusOr<std::string> ca_pem = ReadPem(files.ca, "ca");
  if (!ca_pem.ok()) return ca_pem.status();

  Cert leaf(PEM_read_bio_X509(MemoryBio(*cert_pem).get(), nullptr, nullptr,
                              nullptr));
  if (leaf == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("the TLS certificate file ", files.cert,
                     " holds no PEM certificate: ", OpenSslError()));
  }
  std::unique_ptr<EVP_PKEY, KeyFree> key(PEM_read_bio_PrivateKey(
      MemoryBio(*key_pem).get(), nullptr, nullptr, nullptr));
  if (key == nullptr) {
    return absl::InvalidArgumentError(
        absl::StrCat("the TLS key file ", files.key,
                     " holds no unencrypted PEM private key: ", OpenSslError()));
  }
  if (X509_check_private_key(leaf.get(), key.get()) != 1) {
    ERR_clear_error();
    return absl::InvalidArgumentError(
        absl::StrCat("the TLS key ", files.key,
                     " is not the key of the certificate ", files.cert));
  }
  if (absl::Status s = VerifyChain(leaf.get(), *ca_pem, files); !s.ok()) {
    return s;
  }
  const std::vector<std::string> uris = UriNames(leaf.get());
  if (uris.size() != 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the TLS certificate ", files.cert, " has ", uris.size(),
        " URI subject alternative names; it needs one, spiffe://",
        kTrustDomain, "/<role>/<name> (psctl certs issue writes it)"));
  }
  absl::StatusOr<Identity> identity = ParseIdentity(uris[0]);
  if (!identity.ok()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "the TLS certificate ", files.cert, ": ", identity.status().message()));
  }
  return identity;
}

}  // namespace ps
