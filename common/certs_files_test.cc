// Requests that IssueCertificate refuses, and TLS directories and CA files
// on a real filesystem (in TEST_TMPDIR).
#include <sys/stat.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "common/certs.h"
#include "gtest/gtest.h"

namespace ps::certs {
namespace {

std::string TestDir() {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" +
         ::testing::UnitTest::GetInstance()->current_test_info()->name();
}

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

mode_t ModeOf(const std::string& path) {
  struct stat st {};
  EXPECT_EQ(::stat(path.c_str(), &st), 0) << path;
  return st.st_mode & 07777;
}

CertRequest ServerRequest() {
  CertRequest r;
  r.identity = {Role::kServer, "s0"};
  r.dns_names = {"localhost"};
  r.ip_addresses = {"127.0.0.1"};
  r.validity = ValidFor(absl::Hours(1));
  return r;
}

class IssueErrorsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Pem> ca = CreateCa("test CA", ValidFor(absl::Hours(24)));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
  }

  // The message of IssueCertificate's INVALID_ARGUMENT for `r`.
  std::string Refusal(const CertRequest& r, const Pem* ca = nullptr) {
    absl::StatusOr<Pem> leaf = IssueCertificate(ca ? *ca : ca_, r);
    EXPECT_FALSE(leaf.ok());
    EXPECT_EQ(leaf.status().code(), absl::StatusCode::kInvalidArgument)
        << leaf.status();
    return std::string(leaf.status().message());
  }

  Pem ca_;
};

TEST_F(IssueErrorsTest, BadNamesAndAddressesAreNamed) {
  CertRequest r = ServerRequest();
  r.identity.name = "s/0";
  EXPECT_NE(Refusal(r).find("path segment"), std::string::npos);
  r = ServerRequest();
  r.dns_names = {"bad_host"};
  EXPECT_NE(Refusal(r).find("DNS name \"bad_host\""), std::string::npos);
  r.dns_names = {"*.example.com"};
  EXPECT_NE(Refusal(r).find("allowed: letters, digits"), std::string::npos);
  r = ServerRequest();
  r.ip_addresses = {"localhost"};
  EXPECT_NE(Refusal(r).find("IP address \"localhost\": not IPv4"),
            std::string::npos);
}

TEST_F(IssueErrorsTest, ClientOnlyRolesTakeNoAddresses) {
  CertRequest r = ServerRequest();
  r.identity = {Role::kUser, "alice"};
  EXPECT_NE(Refusal(r).find("client-only"), std::string::npos);
}

TEST_F(IssueErrorsTest, WindowMustBeOrderedAndWithinTheCas) {
  CertRequest r = ServerRequest();
  std::swap(r.validity.not_before, r.validity.not_after);
  EXPECT_NE(Refusal(r).find("is not after not_before"), std::string::npos);
  r = ServerRequest();
  r.validity = ValidFor(absl::Hours(48));
  EXPECT_NE(Refusal(r).find("after the CA's notAfter"), std::string::npos);
}

TEST_F(IssueErrorsTest, CaMustBeACaWithItsOwnKey) {
  absl::StatusOr<Pem> other = CreateCa("other", ValidFor(absl::Hours(24)));
  ASSERT_TRUE(other.ok()) << other.status();
  const Pem mismatched{ca_.cert, other->key};
  EXPECT_NE(Refusal(ServerRequest(), &mismatched)
                .find("CA key: does not match the CA certificate"),
            std::string::npos);
  absl::StatusOr<Pem> leaf = IssueCertificate(ca_, ServerRequest());
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  EXPECT_NE(Refusal(ServerRequest(), &*leaf).find("not a CA"),
            std::string::npos);
}

TEST_F(IssueErrorsTest, UnreadablePemCarriesOpenSslText) {
  const Pem garbage{"not a certificate", ca_.key};
  const std::string why = Refusal(ServerRequest(), &garbage);
  EXPECT_NE(why.find("CA certificate: not a PEM certificate: error:"),
            std::string::npos)
      << why;
  EXPECT_NE(why.find("no start line"), std::string::npos) << why;
}

TEST(CreateCaTest, CommonNameMustFit) {
  EXPECT_FALSE(CreateCa("", ValidFor(absl::Hours(1))).ok());
  EXPECT_FALSE(CreateCa(std::string(65, 'c'), ValidFor(absl::Hours(1))).ok());
  EXPECT_FALSE(CreateCa("ca", ValidFor(absl::InfiniteDuration())).ok());
}

class CertFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    absl::StatusOr<Pem> ca = CreateCa("test CA", ValidFor(absl::Hours(24)));
    ASSERT_TRUE(ca.ok()) << ca.status();
    ca_ = *ca;
    dir_ = TestDir();
  }

  Pem ca_;
  std::string dir_;
};

TEST_F(CertFilesTest, KeyIsOwnerOnlyWhateverTheUmask) {
  absl::StatusOr<Pem> leaf = IssueCertificate(ca_, ServerRequest());
  ASSERT_TRUE(leaf.ok()) << leaf.status();
  const mode_t old = ::umask(0);
  const absl::Status written = WriteTlsDir(dir_ + "/tls", ca_.cert, *leaf);
  ::umask(old);
  ASSERT_TRUE(written.ok()) << written;
  EXPECT_EQ(ModeOf(dir_ + "/tls/tls.key"), 0600u);
  EXPECT_EQ(ModeOf(dir_ + "/tls/tls.crt"), 0644u);
  EXPECT_EQ(Slurp(dir_ + "/tls/ca.crt"), ca_.cert);
  EXPECT_EQ(Slurp(dir_ + "/tls/tls.crt"), leaf->cert);
  EXPECT_EQ(Slurp(dir_ + "/tls/tls.key"), leaf->key);
}

TEST_F(CertFilesTest, RewritingReplacesFilesAndLeavesNoTemporaries) {
  for (int i = 0; i < 2; ++i) {
    absl::StatusOr<Pem> leaf = IssueCertificate(ca_, ServerRequest());
    ASSERT_TRUE(leaf.ok()) << leaf.status();
    ASSERT_TRUE(WriteTlsDir(dir_, ca_.cert, *leaf).ok());
    EXPECT_EQ(Slurp(dir_ + "/tls.crt"), leaf->cert);
  }
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(dir_)) {
    ++files;
    EXPECT_NE(entry.path().filename().string()[0], '.') << entry.path();
  }
  EXPECT_EQ(files, 3);
}

TEST_F(CertFilesTest, CaIsWrittenOnceAndReadBack) {
  ASSERT_TRUE(WriteNewCa(dir_, ca_).ok());
  EXPECT_EQ(ModeOf(dir_ + "/ca.key"), 0600u);
  absl::StatusOr<Pem> read = ReadCa(dir_);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(read->cert, ca_.cert);
  EXPECT_EQ(read->key, ca_.key);
  absl::StatusOr<Pem> other = CreateCa("other", ValidFor(absl::Hours(24)));
  ASSERT_TRUE(other.ok());
  const absl::Status again = WriteNewCa(dir_, *other);
  EXPECT_EQ(again.code(), absl::StatusCode::kAlreadyExists) << again;
  EXPECT_NE(again.message().find(dir_ + "/ca.crt exists"), std::string::npos);
  EXPECT_EQ(Slurp(dir_ + "/ca.key"), ca_.key);
  EXPECT_EQ(ReadCa(dir_ + "/none").status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(CertFilesTest, ClusterCredentialsHoldOneDirectoryPerIdentity) {
  CertRequest user;
  user.identity = {Role::kAdmin, "root"};
  user.validity = ValidFor(absl::Hours(2));
  ASSERT_TRUE(CreateClusterCredentials(dir_, {ServerRequest(), user}).ok());
  EXPECT_EQ(ModeOf(dir_ + "/ca.key"), 0600u);
  const std::string ca = Slurp(dir_ + "/ca.crt");
  for (const char* sub : {"/server-s0", "/admin-root"}) {
    EXPECT_EQ(Slurp(dir_ + sub + "/ca.crt"), ca) << sub;
    EXPECT_EQ(ModeOf(dir_ + sub + "/tls.key"), 0600u) << sub;
  }
  absl::StatusOr<Identity> id =
      CertificateIdentity(Slurp(dir_ + "/admin-root/tls.crt"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, user.identity);
  EXPECT_EQ(CreateClusterCredentials(dir_, {user}).code(),
            absl::StatusCode::kAlreadyExists);
}

TEST_F(CertFilesTest, ClusterCredentialsRefuseDuplicatesAndWriteNothing) {
  const absl::Status s =
      CreateClusterCredentials(dir_, {ServerRequest(), ServerRequest()});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("spiffe://pscluster/server/s0 is given twice"),
            std::string::npos)
      << s;
  EXPECT_EQ(CreateClusterCredentials(dir_, {}).code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_FALSE(std::filesystem::exists(dir_));
}

}  // namespace
}  // namespace ps::certs
