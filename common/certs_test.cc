// Certificates checked with OpenSSL's own verifier, and identity URIs.
#include "common/certs.h"

#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include <memory>

#include "gtest/gtest.h"

namespace ps::certs {
namespace {

using X509Ptr = std::unique_ptr<X509, decltype(&X509_free)>;

X509Ptr ParsePem(const std::string& pem) {
  std::unique_ptr<BIO, decltype(&BIO_free)> bio(
      BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())), BIO_free);
  return X509Ptr(PEM_read_bio_X509(bio.get(), nullptr, nullptr, nullptr),
                 X509_free);
}

// X509_verify_cert of `leaf` against a store holding `ca` only: X509_V_OK
// or the reason it fails. `purpose` is an X509_PURPOSE_* or 0 for none.
int Verify(const std::string& ca, const std::string& leaf, int purpose = 0) {
  X509Ptr ca_cert = ParsePem(ca), leaf_cert = ParsePem(leaf);
  if (ca_cert == nullptr || leaf_cert == nullptr) return -1;
  std::unique_ptr<X509_STORE, decltype(&X509_STORE_free)> store(
      X509_STORE_new(), X509_STORE_free);
  X509_STORE_add_cert(store.get(), ca_cert.get());
  std::unique_ptr<X509_STORE_CTX, decltype(&X509_STORE_CTX_free)> ctx(
      X509_STORE_CTX_new(), X509_STORE_CTX_free);
  X509_STORE_CTX_init(ctx.get(), store.get(), leaf_cert.get(), nullptr);
  if (purpose != 0) X509_STORE_CTX_set_purpose(ctx.get(), purpose);
  X509_VERIFY_PARAM_set_flags(X509_STORE_CTX_get0_param(ctx.get()),
                              X509_V_FLAG_X509_STRICT);
  if (X509_verify_cert(ctx.get()) == 1) return X509_V_OK;
  return X509_STORE_CTX_get_error(ctx.get());
}

CertRequest Request(Role role, const std::string& name,
                    Validity validity = ValidFor(absl::Hours(24))) {
  CertRequest r;
  r.identity = {role, name};
  if (IsDaemon(role)) {
    r.dns_names = {"localhost"};
    r.ip_addresses = {"127.0.0.1", "::1"};
  }
  r.validity = validity;
  return r;
}

class CertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Pem> ca =
        CreateCa("test CA", ValidFor(absl::Hours(24 * 30)));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
  }

  Pem Issue(const CertRequest& r) {
    absl::StatusOr<Pem> leaf = IssueCertificate(ca_, r);
    EXPECT_TRUE(leaf.ok()) << leaf.status();
    return leaf.ok() ? *leaf : Pem{};
  }

  Pem ca_;
};

TEST_F(CertsTest, LeafChainsToItsCa) {
  const Pem leaf = Issue(Request(Role::kServer, "s0"));
  EXPECT_EQ(Verify(ca_.cert, leaf.cert), X509_V_OK);
}

TEST_F(CertsTest, DaemonCertServesAndConnectsUserCertOnlyConnects) {
  const Pem server = Issue(Request(Role::kServer, "s0"));
  const Pem user = Issue(Request(Role::kUser, "alice"));
  EXPECT_EQ(Verify(ca_.cert, server.cert, X509_PURPOSE_SSL_SERVER), X509_V_OK);
  EXPECT_EQ(Verify(ca_.cert, server.cert, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(Verify(ca_.cert, user.cert, X509_PURPOSE_SSL_CLIENT), X509_V_OK);
  EXPECT_EQ(Verify(ca_.cert, user.cert, X509_PURPOSE_SSL_SERVER),
            X509_V_ERR_INVALID_PURPOSE);
}

TEST_F(CertsTest, ExtensionsAreAsSpecified) {
  X509Ptr ca = ParsePem(ca_.cert);
  X509Ptr leaf = ParsePem(Issue(Request(Role::kWorker, "w0")).cert);
  ASSERT_NE(ca, nullptr);
  ASSERT_NE(leaf, nullptr);
  EXPECT_EQ(X509_check_ca(ca.get()), 1);
  EXPECT_TRUE(X509_get_key_usage(ca.get()) & KU_KEY_CERT_SIGN);
  EXPECT_EQ(X509_check_ca(leaf.get()), 0);
  EXPECT_EQ(X509_get_key_usage(leaf.get()), KU_DIGITAL_SIGNATURE);
  EXPECT_EQ(X509_get_extended_key_usage(leaf.get()),
            static_cast<uint32_t>(XKU_SSL_SERVER | XKU_SSL_CLIENT));
  EXPECT_EQ(X509_check_host(leaf.get(), "localhost", 0, 0, nullptr), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "127.0.0.1", 0), 1);
  EXPECT_EQ(X509_check_ip_asc(leaf.get(), "::1", 0), 1);
  EXPECT_EQ(X509_get_signature_nid(leaf.get()), NID_ecdsa_with_SHA256);
  EXPECT_EQ(EVP_PKEY_get_bits(X509_get0_pubkey(leaf.get())), 256);
}

TEST_F(CertsTest, SerialsAreRandom128Bit) {
  X509Ptr a = ParsePem(Issue(Request(Role::kUser, "u")).cert);
  X509Ptr b = ParsePem(Issue(Request(Role::kUser, "u")).cert);
  ASSERT_NE(a, nullptr);
  ASSERT_NE(b, nullptr);
  EXPECT_NE(ASN1_INTEGER_cmp(X509_get0_serialNumber(a.get()),
                             X509_get0_serialNumber(b.get())),
            0);
  std::unique_ptr<BIGNUM, decltype(&BN_free)> serial(
      ASN1_INTEGER_to_BN(X509_get0_serialNumber(a.get()), nullptr), BN_free);
  EXPECT_LE(BN_num_bits(serial.get()), 128);
  EXPECT_GT(BN_num_bits(serial.get()), 64);  // 2^-64 odds of a false alarm
}

TEST_F(CertsTest, UriSanParsesBackToRoleAndName) {
  for (Role role : {Role::kCoordinator, Role::kServer, Role::kWorker,
                    Role::kUser, Role::kAdmin}) {
    const Identity id{role, "n-1.a_b"};
    absl::StatusOr<Identity> got =
        CertificateIdentity(Issue(Request(role, id.name)).cert);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_EQ(*got, id) << RoleName(role);
  }
}

TEST_F(CertsTest, CertFromAnotherCaFailsVerification) {
  absl::StatusOr<Pem> other = CreateCa("test CA", ValidFor(absl::Hours(24)));
  ASSERT_TRUE(other.ok()) << other.status();
  absl::StatusOr<Pem> leaf =
      IssueCertificate(*other, Request(Role::kServer, "s0"));
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_EQ(Verify(ca_.cert, leaf->cert),
            X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY);
}

TEST_F(CertsTest, ExpiredWindowIsRejectedByVerification) {
  const absl::Time now = absl::Now();
  const Pem leaf = Issue(Request(
      Role::kServer, "s0", {now - absl::Hours(48), now - absl::Hours(24)}));
  EXPECT_EQ(Verify(ca_.cert, leaf.cert), X509_V_ERR_CERT_HAS_EXPIRED);
  const Pem future = Issue(Request(
      Role::kServer, "s0", {now + absl::Hours(24), now + absl::Hours(48)}));
  EXPECT_EQ(Verify(ca_.cert, future.cert), X509_V_ERR_CERT_NOT_YET_VALID);
}

TEST_F(CertsTest, EncryptedCaKeyIsRefusedWithoutAPrompt) {
  std::unique_ptr<BIO, decltype(&BIO_free)> in(
      BIO_new_mem_buf(ca_.key.data(), static_cast<int>(ca_.key.size())),
      BIO_free);
  std::unique_ptr<EVP_PKEY, decltype(&EVP_PKEY_free)> key(
      PEM_read_bio_PrivateKey(in.get(), nullptr, nullptr, nullptr),
      EVP_PKEY_free);
  ASSERT_NE(key, nullptr);
  std::unique_ptr<BIO, decltype(&BIO_free)> out(BIO_new(BIO_s_mem()), BIO_free);
  char passphrase[] = "secret";
  ASSERT_EQ(PEM_write_bio_PrivateKey(out.get(), key.get(), EVP_aes_256_cbc(),
                                     nullptr, 0, nullptr, passphrase),
            1);
  char* data = nullptr;
  const long size = BIO_get_mem_data(out.get(), &data);
  const Pem encrypted{ca_.cert, std::string(data, size)};
  absl::StatusOr<Pem> leaf =
      IssueCertificate(encrypted, Request(Role::kServer, "s0"));
  EXPECT_EQ(leaf.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(leaf.status().message().find("CA key: not an unencrypted PEM key"),
            std::string::npos)
      << leaf.status();
}

TEST(ParseIdentityTest, AcceptsEveryRoleAndTheLongestName) {
  const std::string longest(64, 'a');
  absl::StatusOr<Identity> id =
      ParseIdentity("spiffe://pscluster/admin/" + longest);
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, (Identity{Role::kAdmin, longest}));
  for (const char* role : {"coordinator", "server", "worker", "user"}) {
    const std::string uri =
        std::string("spiffe://pscluster/") + role + "/A.z_9-";
    EXPECT_TRUE(ParseIdentity(uri).ok()) << uri;
    EXPECT_EQ(IdentityUri(*ParseRole(role), "A.z_9-"), uri);
  }
}

TEST(ParseIdentityTest, RejectsMalformedUrisSayingWhy) {
  const std::string too_long(65, 'a');
  const std::pair<std::string, std::string> cases[] = {
      {"https://pscluster/server/s0", "scheme is not spiffe://"},
      {"SPIFFE://pscluster/server/s0", "scheme is not spiffe://"},
      {"spiffe://other/server/s0", "trust domain \"other\" is not pscluster"},
      {"spiffe://pscluster", "no role and name"},
      {"spiffe://pscluster.evil/server/s0", "is not pscluster"},
      {"spiffe://pscluster/boss/s0",
       "role \"boss\" is not one of coordinator, server, worker, user or "
       "admin"},
      {"spiffe://pscluster/Server/s0", "role \"Server\""},
      {"spiffe://pscluster/server", "no name after the role"},
      {"spiffe://pscluster/server/", "the name is empty"},
      {"spiffe://pscluster/server//s0", "the name is empty"},
      {"spiffe://pscluster/server/" + too_long,
       "the name is 65 bytes, at most 64 allowed"},
      {"spiffe://pscluster/server/s 0", "the name has ' ' at byte 1"},
      {"spiffe://pscluster/server/s%2F0", "the name has '%' at byte 1"},
      {"spiffe://pscluster/server/s0?x=1", "the name has '?' at byte 2"},
      {std::string("spiffe://pscluster/server/s\0", 28),
       "the name has '\\x00' at byte 1"},
      {"spiffe://pscluster/server/s0/extra", "a path segment after the name"},
      {"spiffe://pscluster/server/s0/", "a path segment after the name"},
  };
  for (const auto& [uri, why] : cases) {
    absl::StatusOr<Identity> id = ParseIdentity(uri);
    ASSERT_FALSE(id.ok()) << uri;
    EXPECT_EQ(id.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_NE(id.status().message().find(why), std::string::npos)
        << uri << ": " << id.status();
    EXPECT_NE(id.status().message().find("spiffe://pscluster/<role>/<name>"),
              std::string::npos);
  }
}

TEST(ParseIdentityTest, QuotesAHugeUriCutAndEscaped) {
  const std::string uri = "spiffe://" + std::string(10000, '\n');
  absl::StatusOr<Identity> id = ParseIdentity(uri);
  ASSERT_FALSE(id.ok());
  EXPECT_LT(id.status().message().size(), 600u);
  EXPECT_EQ(id.status().message().find('\n'), std::string::npos);
}

}  // namespace
}  // namespace ps::certs
