// The CA and the certificates it issues, built with OpenSSL's libcrypto.
#include "common/certs.h"

#include <arpa/inet.h>
#include <openssl/bn.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <ctime>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/civil_time.h"

namespace ps::certs {
namespace {

struct OpenSslFree {
  void operator()(X509* p) const { X509_free(p); }
  void operator()(EVP_PKEY* p) const { EVP_PKEY_free(p); }
  void operator()(BIO* p) const { BIO_free(p); }
  void operator()(BIGNUM* p) const { BN_free(p); }
  void operator()(X509_EXTENSION* p) const { X509_EXTENSION_free(p); }
  void operator()(GENERAL_NAME* p) const { GENERAL_NAME_free(p); }
  void operator()(GENERAL_NAMES* p) const { GENERAL_NAMES_free(p); }
  void operator()(ASN1_STRING* p) const { ASN1_STRING_free(p); }
};
template <typename T>
using Owned = std::unique_ptr<T, OpenSslFree>;

// `what` failed, with the text of every error OpenSSL queued (and the queue
// emptied).
absl::Status OpenSslError(absl::string_view what,
                          absl::StatusCode code = absl::StatusCode::kInternal) {
  std::string text;
  char buffer[256];
  while (unsigned long e = ERR_get_error()) {
    ERR_error_string_n(e, buffer, sizeof(buffer));
    absl::StrAppend(&text, text.empty() ? "" : "; ", buffer);
  }
  if (text.empty()) text = "no OpenSSL error reported";
  return absl::Status(code, absl::StrCat(what, ": ", text));
}

std::string Utc(absl::Time t) {
  return absl::FormatTime("%Y-%m-%d %H:%M:%S UTC", t, absl::UTCTimeZone());
}

// The years an X.509 time can hold (UTCTime or GeneralizedTime, RFC 5280).
absl::Status CheckValidity(const Validity& v, absl::string_view field) {
  static const absl::Time kFirst = absl::FromCivil(
      absl::CivilSecond(1950, 1, 1, 0, 0, 0), absl::UTCTimeZone());
  static const absl::Time kLast = absl::FromCivil(
      absl::CivilSecond(9999, 12, 31, 23, 59, 59), absl::UTCTimeZone());
  for (absl::Time t : {v.not_before, v.not_after}) {
    if (t < kFirst || t > kLast) {
      return absl::InvalidArgumentError(
          absl::StrCat(field, ": ", Utc(t), " is outside 1950 to 9999"));
    }
  }
  if (v.not_after <= v.not_before) {
    return absl::InvalidArgumentError(
        absl::StrCat(field, ": not_after ", Utc(v.not_after),
                     " is not after not_before ", Utc(v.not_before)));
  }
  return absl::OkStatus();
}

absl::Status CheckDnsName(absl::string_view dns) {
  auto bad = [&](absl::string_view why) {
    return absl::InvalidArgumentError(absl::StrCat(
        "DNS name \"", absl::CHexEscape(dns.substr(0, 300)), "\": ", why));
  };
  if (dns.empty() || dns.size() > 253) return bad("must be 1 to 253 bytes");
  for (absl::string_view label : absl::StrSplit(dns, '.')) {
    if (label.empty() || label.size() > 63) {
      return bad("each dot-separated label must be 1 to 63 bytes");
    }
    for (char c : label) {
      if (!absl::ascii_isalnum(c) && c != '-') {
        return bad("allowed: letters, digits, '-' and '.' between labels");
      }
    }
    if (label.front() == '-' || label.back() == '-') {
      return bad("a label may not begin or end with '-'");
    }
  }
  return absl::OkStatus();
}

// The 4 or 16 bytes of an IPv4 or IPv6 address in text.
absl::StatusOr<std::string> IpBytes(const std::string& ip) {
  unsigned char bytes[16];
  if (inet_pton(AF_INET, ip.c_str(), bytes) == 1) {
    return std::string(reinterpret_cast<char*>(bytes), 4);
  }
  if (inet_pton(AF_INET6, ip.c_str(), bytes) == 1) {
    return std::string(reinterpret_cast<char*>(bytes), 16);
  }
  return absl::InvalidArgumentError(
      absl::StrCat("IP address \"", absl::CHexEscape(ip.substr(0, 100)),
                   "\": not IPv4 (127.0.0.1) or IPv6 (::1) text"));
}

absl::Status CheckRequest(const CertRequest& r) {
  const std::string uri = IdentityUri(r.identity.role, r.identity.name);
  if (absl::Status s = ParseIdentity(uri).status(); !s.ok()) return s;
  if (!IsDaemon(r.identity.role) &&
      (!r.dns_names.empty() || !r.ip_addresses.empty())) {
    return absl::InvalidArgumentError(absl::StrCat(
        uri,
        ": DNS names and IP addresses are for daemon certificates "
        "(coordinator, server, worker) only; ",
        RoleName(r.identity.role), " certificates are client-only"));
  }
  for (const std::string& dns : r.dns_names) {
    if (absl::Status s = CheckDnsName(dns); !s.ok()) return s;
  }
  for (const std::string& ip : r.ip_addresses) {
    if (absl::Status s = IpBytes(ip).status(); !s.ok()) return s;
  }
  return CheckValidity(r.validity, "validity");
}

absl::StatusOr<Owned<EVP_PKEY>> NewKey() {
  Owned<EVP_PKEY> key(EVP_EC_gen("P-256"));
  if (key == nullptr) return OpenSslError("generating a P-256 key");
  return key;
}

absl::Status SetSerial(X509* x) {
  unsigned char bytes[16];
  Owned<BIGNUM> serial;
  do {
    if (RAND_bytes(bytes, sizeof(bytes)) != 1) {
      return OpenSslError("drawing a serial number");
    }
    serial.reset(BN_bin2bn(bytes, sizeof(bytes), nullptr));
    if (serial == nullptr) return OpenSslError("serial number");
  } while (BN_is_zero(serial.get()));
  if (BN_to_ASN1_INTEGER(serial.get(), X509_get_serialNumber(x)) == nullptr) {
    return OpenSslError("serial number");
  }
  return absl::OkStatus();
}

// A v3 certificate for `key` with a fresh serial and `validity`; no names or
// extensions yet.
absl::StatusOr<Owned<X509>> NewCertificate(EVP_PKEY* key,
                                           const Validity& validity) {
  Owned<X509> x(X509_new());
  if (x == nullptr || X509_set_version(x.get(), X509_VERSION_3) != 1 ||
      X509_set_pubkey(x.get(), key) != 1 ||
      ASN1_TIME_set(X509_getm_notBefore(x.get()),
                    absl::ToTimeT(validity.not_before)) == nullptr ||
      ASN1_TIME_set(X509_getm_notAfter(x.get()),
                    absl::ToTimeT(validity.not_after)) == nullptr) {
    return OpenSslError("creating a certificate");
  }
  if (absl::Status s = SetSerial(x.get()); !s.ok()) return s;
  return x;
}

absl::Status SetSubject(
    X509* x,
    std::initializer_list<std::pair<const char*, absl::string_view>> entries) {
  X509_NAME* name = X509_get_subject_name(x);
  for (const auto& [field, value] : entries) {
    if (X509_NAME_add_entry_by_txt(
            name, field, MBSTRING_UTF8,
            reinterpret_cast<const unsigned char*>(value.data()),
            static_cast<int>(value.size()), -1, 0) != 1) {
      return OpenSslError(absl::StrCat("subject ", field));
    }
  }
  return absl::OkStatus();
}

// Adds extensions given in OpenSSL's configuration syntax (fixed strings
// only: nothing a caller gave goes through it). `issuer` signs `x`.
absl::Status AddExtensions(
    X509* x, X509* issuer,
    std::initializer_list<std::pair<int, const char*>> extensions) {
  X509V3_CTX ctx;
  X509V3_set_ctx(&ctx, issuer, x, nullptr, nullptr, 0);
  for (const auto& [nid, value] : extensions) {
    Owned<X509_EXTENSION> ext(X509V3_EXT_nconf_nid(nullptr, &ctx, nid, value));
    if (ext == nullptr || X509_add_ext(x, ext.get(), -1) != 1) {
      return OpenSslError(absl::StrCat("extension ", OBJ_nid2sn(nid)));
    }
  }
  return absl::OkStatus();
}

// Appends a name of `type` (GEN_URI, GEN_DNS: IA5String; GEN_IPADD: octets).
absl::Status PushName(GENERAL_NAMES* names, int type, absl::string_view value) {
  Owned<ASN1_STRING> s(type == GEN_IPADD ? ASN1_OCTET_STRING_new()
                                         : ASN1_IA5STRING_new());
  Owned<GENERAL_NAME> name(GENERAL_NAME_new());
  if (s == nullptr || name == nullptr ||
      ASN1_STRING_set(s.get(), value.data(), static_cast<int>(value.size())) !=
          1) {
    return OpenSslError("subjectAltName");
  }
  GENERAL_NAME_set0_value(name.get(), type, s.release());
  if (sk_GENERAL_NAME_push(names, name.get()) == 0) {
    return OpenSslError("subjectAltName");
  }
  name.release();
  return absl::OkStatus();
}

// The identity URI first, then the DNS names and IP addresses (the request
// is checked).
absl::Status AddSubjectAltNames(X509* x, const CertRequest& r) {
  Owned<GENERAL_NAMES> names(sk_GENERAL_NAME_new_null());
  if (names == nullptr) return OpenSslError("subjectAltName");
  absl::Status s = PushName(names.get(), GEN_URI,
                            IdentityUri(r.identity.role, r.identity.name));
  for (const std::string& dns : r.dns_names) {
    if (s.ok()) s = PushName(names.get(), GEN_DNS, dns);
  }
  for (const std::string& ip : r.ip_addresses) {
    if (s.ok()) s = PushName(names.get(), GEN_IPADD, *IpBytes(ip));
  }
  if (!s.ok()) return s;
  if (X509_add1_ext_i2d(x, NID_subject_alt_name, names.get(), 0,
                        X509V3_ADD_DEFAULT) != 1) {
    return OpenSslError("subjectAltName");
  }
  return absl::OkStatus();
}

// What `write` put into a memory BIO.
template <typename Write>
absl::StatusOr<std::string> PemText(Write write) {
  Owned<BIO> bio(BIO_new(BIO_s_mem()));
  if (bio == nullptr || write(bio.get()) != 1) {
    return OpenSslError("writing PEM");
  }
  char* data = nullptr;
  const long size = BIO_get_mem_data(bio.get(), &data);
  return std::string(data, static_cast<size_t>(size));
}

absl::StatusOr<Pem> Sign(X509* x, EVP_PKEY* signer, EVP_PKEY* key) {
  if (X509_sign(x, signer, EVP_sha256()) == 0) {
    return OpenSslError("signing the certificate");
  }
  absl::StatusOr<std::string> cert =
      PemText([x](BIO* bio) { return PEM_write_bio_X509(bio, x); });
  if (!cert.ok()) return cert.status();
  absl::StatusOr<std::string> key_pem = PemText([key](BIO* bio) {
    return PEM_write_bio_PrivateKey(bio, key, nullptr, nullptr, 0, nullptr,
                                    nullptr);
  });
  if (!key_pem.ok()) return key_pem.status();
  return Pem{*std::move(cert), *std::move(key_pem)};
}

// Refuses every passphrase prompt: OpenSSL's default asks on the terminal.
int NoPassphrase(char*, int, int, void*) { return 0; }

absl::StatusOr<Owned<X509>> ParseCert(absl::string_view pem,
                                      absl::string_view what) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Owned<X509> x(bio == nullptr ? nullptr
                               : PEM_read_bio_X509(bio.get(), nullptr,
                                                   NoPassphrase, nullptr));
  if (x == nullptr) {
    return OpenSslError(absl::StrCat(what, ": not a PEM certificate"),
                        absl::StatusCode::kInvalidArgument);
  }
  return x;
}

absl::StatusOr<Owned<EVP_PKEY>> ParseKey(absl::string_view pem,
                                         absl::string_view what) {
  Owned<BIO> bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  Owned<EVP_PKEY> key(
      bio == nullptr
          ? nullptr
          : PEM_read_bio_PrivateKey(bio.get(), nullptr, NoPassphrase, nullptr));
  if (key == nullptr) {
    return OpenSslError(absl::StrCat(what, ": not an unencrypted PEM key"),
                        absl::StatusCode::kInvalidArgument);
  }
  return key;
}

// The CA can sign for `validity`: a CA certificate whose key is `key` and
// whose window lasts at least as long.
absl::Status CheckCa(X509* ca, EVP_PKEY* key, const Validity& validity) {
  if (X509_check_ca(ca) == 0) {
    return absl::InvalidArgumentError(
        "CA certificate: not a CA (no basicConstraints CA:TRUE)");
  }
  if (X509_check_private_key(ca, key) != 1) {
    return OpenSslError("CA key: does not match the CA certificate",
                        absl::StatusCode::kInvalidArgument);
  }
  struct tm tm;
  if (ASN1_TIME_to_tm(X509_get0_notAfter(ca), &tm) != 1) {
    return OpenSslError("CA certificate: notAfter",
                        absl::StatusCode::kInvalidArgument);
  }
  const absl::Time ca_end = absl::FromTimeT(timegm(&tm));
  // Certificates hold whole seconds.
  if (absl::FromTimeT(absl::ToTimeT(validity.not_after)) > ca_end) {
    return absl::InvalidArgumentError(
        absl::StrCat("validity: not_after ", Utc(validity.not_after),
                     " is after the CA's notAfter ", Utc(ca_end),
                     "; issue for a shorter time or create a new CA"));
  }
  return absl::OkStatus();
}

}  // namespace

Validity ValidFor(absl::Duration duration, absl::Time now) {
  return {now - kClockSkewAllowance, now + duration};
}

absl::StatusOr<Pem> CreateCa(absl::string_view common_name,
                             const Validity& validity) {
  ERR_clear_error();
  if (common_name.empty() || common_name.size() > 64) {
    return absl::InvalidArgumentError(
        absl::StrCat("CA common name \"", absl::CHexEscape(common_name),
                     "\": must be 1 to 64 bytes"));
  }
  if (absl::Status s = CheckValidity(validity, "CA validity"); !s.ok()) {
    return s;
  }
  absl::StatusOr<Owned<EVP_PKEY>> key = NewKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<Owned<X509>> x = NewCertificate(key->get(), validity);
  if (!x.ok()) return x.status();
  X509* ca = x->get();
  absl::Status s = SetSubject(ca, {{"CN", common_name}});
  if (s.ok() && X509_set_issuer_name(ca, X509_get_subject_name(ca)) != 1) {
    s = OpenSslError("CA issuer name");
  }
  if (s.ok()) {
    s = AddExtensions(ca, ca,
                      {{NID_basic_constraints, "critical,CA:TRUE,pathlen:0"},
                       {NID_key_usage, "critical,keyCertSign,cRLSign"},
                       {NID_subject_key_identifier, "hash"},
                       {NID_authority_key_identifier, "keyid:always"}});
  }
  if (!s.ok()) return s;
  return Sign(ca, key->get(), key->get());
}

absl::StatusOr<Pem> IssueCertificate(const Pem& ca,
                                     const CertRequest& request) {
  ERR_clear_error();
  if (absl::Status s = CheckRequest(request); !s.ok()) return s;
  absl::StatusOr<Owned<X509>> ca_cert = ParseCert(ca.cert, "CA certificate");
  if (!ca_cert.ok()) return ca_cert.status();
  absl::StatusOr<Owned<EVP_PKEY>> ca_key = ParseKey(ca.key, "CA key");
  if (!ca_key.ok()) return ca_key.status();
  absl::Status s = CheckCa(ca_cert->get(), ca_key->get(), request.validity);
  if (!s.ok()) return s;
  absl::StatusOr<Owned<EVP_PKEY>> key = NewKey();
  if (!key.ok()) return key.status();
  absl::StatusOr<Owned<X509>> x = NewCertificate(key->get(), request.validity);
  if (!x.ok()) return x.status();
  X509* leaf = x->get();
  const Role role = request.identity.role;
  s = SetSubject(leaf, {{"O", "pscluster"},
                        {"OU", RoleName(role)},
                        {"CN", request.identity.name}});
  if (s.ok() &&
      X509_set_issuer_name(leaf, X509_get_subject_name(ca_cert->get())) != 1) {
    s = OpenSslError("issuer name");
  }
  if (s.ok()) {
    s = AddExtensions(
        leaf, ca_cert->get(),
        {{NID_basic_constraints, "critical,CA:FALSE"},
         {NID_key_usage, "critical,digitalSignature"},
         {NID_ext_key_usage,
          IsDaemon(role) ? "serverAuth,clientAuth" : "clientAuth"},
         {NID_subject_key_identifier, "hash"},
         {NID_authority_key_identifier, "keyid"}});
  }
  if (s.ok()) s = AddSubjectAltNames(leaf, request);
  if (!s.ok()) return s;
  return Sign(leaf, ca_key->get(), key->get());
}

absl::StatusOr<Identity> CertificateIdentity(absl::string_view cert_pem) {
  ERR_clear_error();
  absl::StatusOr<Owned<X509>> x = ParseCert(cert_pem, "certificate");
  if (!x.ok()) return x.status();
  Owned<GENERAL_NAMES> names(static_cast<GENERAL_NAMES*>(
      X509_get_ext_d2i(x->get(), NID_subject_alt_name, nullptr, nullptr)));
  const GENERAL_NAME* uri = nullptr;
  for (int i = 0; names != nullptr && i < sk_GENERAL_NAME_num(names.get());
       ++i) {
    const GENERAL_NAME* name = sk_GENERAL_NAME_value(names.get(), i);
    if (name->type != GEN_URI) continue;
    if (uri != nullptr) {
      return absl::InvalidArgumentError(
          "certificate: more than one URI SAN; an identity has exactly one");
    }
    uri = name;
  }
  if (uri == nullptr) {
    return absl::InvalidArgumentError(
        "certificate: no URI SAN; an identity has exactly one");
  }
  const ASN1_IA5STRING* text = uri->d.uniformResourceIdentifier;
  return ParseIdentity(absl::string_view(
      reinterpret_cast<const char*>(ASN1_STRING_get0_data(text)),
      static_cast<size_t>(ASN1_STRING_length(text))));
}

}  // namespace ps::certs
