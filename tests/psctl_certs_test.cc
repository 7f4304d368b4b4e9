// `psctl certs` as a user runs it: the real binary, its exit code and
// output, and the files checked by the real `openssl verify` when installed.
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "common/certs.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"

namespace ps::testing {
namespace {

std::string Slurp(const std::string& path) {
  std::ifstream in(path);
  std::stringstream s;
  s << in.rdbuf();
  return s.str();
}

// The openssl program on $PATH (or in /usr/bin, /bin), or empty.
std::string FindOpenssl() {
  const char* path = std::getenv("PATH");
  std::string dirs = absl::StrCat(path ? path : "", ":/usr/bin:/bin");
  for (absl::string_view dir : absl::StrSplit(dirs, ':', absl::SkipEmpty())) {
    const std::string candidate = absl::StrCat(dir, "/openssl");
    if (::access(candidate.c_str(), X_OK) == 0) return candidate;
  }
  return "";
}

class PsctlCertsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    ca_dir_ = dir_ + "/ca";
  }

  // Runs `program` with `args` to its end; its exit code. Its output is in
  // output_.
  int Run(const std::string& program, std::vector<std::string> args) {
    args.insert(args.begin(), program);
    // A log of its own: Subprocess appends.
    const std::string log = absl::StrCat(dir_, "/run-", runs_++, ".log");
    auto p = Subprocess::Start(args, log);
    EXPECT_TRUE(p.ok()) << p.status();
    if (!p.ok()) return -1;
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    while ((*p)->Running() && absl::Now() < deadline) {
      absl::SleepFor(absl::Milliseconds(10));
    }
    EXPECT_FALSE((*p)->Running()) << program << " still running";
    output_ = Slurp(log);
    return (*p)->exit_code().value_or(-1);
  }

  int Psctl(std::vector<std::string> args) {
    const char* srcdir = std::getenv("TEST_SRCDIR");
    const char* workspace = std::getenv("TEST_WORKSPACE");
    return Run(absl::StrCat(srcdir ? srcdir : ".", "/",
                            workspace ? workspace : "pscluster",
                            "/client/psctl/psctl"),
               std::move(args));
  }

  // `openssl verify` of `cert` against `ca` for `purpose` (sslserver,
  // sslclient): true when it says OK.
  bool OpensslVerifies(const std::string& ca, const std::string& cert,
                       const std::string& purpose) {
    const int rc = Run(openssl_, {"verify", "-x509_strict", "-purpose", purpose,
                                  "-CAfile", ca, cert});
    return rc == 0 && output_.find(": OK") != std::string::npos;
  }

  void InitAndIssue() {
    ASSERT_EQ(Psctl({"certs", "init", "--dir=" + ca_dir_}), 0) << output_;
    ASSERT_EQ(Psctl({"certs", "issue", "--dir=" + ca_dir_, "--role=server",
                     "--name=s0", "--dns=localhost", "--ip=127.0.0.1,::1"}),
              0)
        << output_;
    EXPECT_NE(output_.find("issued spiffe://pscluster/server/s0"),
              std::string::npos)
        << output_;
    ASSERT_EQ(Psctl({"certs", "issue", "--dir=" + ca_dir_, "--role=user",
                     "--name=alice", "--days=30"}),
              0)
        << output_;
  }

  std::string dir_, ca_dir_, output_;
  int runs_ = 0;
  const std::string openssl_ = FindOpenssl();
};

TEST_F(PsctlCertsTest, InitAndIssueWriteCertificatesOpensslVerifies) {
  InitAndIssue();
  const std::string server = ca_dir_ + "/server-s0";
  struct stat st {};
  ASSERT_EQ(::stat((server + "/tls.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  ASSERT_EQ(::stat((ca_dir_ + "/ca.key").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
  EXPECT_EQ(Slurp(server + "/ca.crt"), Slurp(ca_dir_ + "/ca.crt"));
  absl::StatusOr<certs::Identity> id =
      certs::CertificateIdentity(Slurp(ca_dir_ + "/user-alice/tls.crt"));
  ASSERT_TRUE(id.ok()) << id.status();
  EXPECT_EQ(*id, (certs::Identity{certs::Role::kUser, "alice"}));

  if (openssl_.empty()) GTEST_SKIP() << "no openssl program on PATH";
  EXPECT_TRUE(
      OpensslVerifies(server + "/ca.crt", server + "/tls.crt", "sslserver"))
      << output_;
  EXPECT_TRUE(
      OpensslVerifies(server + "/ca.crt", server + "/tls.crt", "sslclient"))
      << output_;
  const std::string user = ca_dir_ + "/user-alice";
  EXPECT_TRUE(OpensslVerifies(user + "/ca.crt", user + "/tls.crt", "sslclient"))
      << output_;
  EXPECT_FALSE(
      OpensslVerifies(user + "/ca.crt", user + "/tls.crt", "sslserver"))
      << output_;
  // The key matches the certificate: same public key.
  ASSERT_EQ(Run(openssl_, {"pkey", "-in", server + "/tls.key", "-pubout"}), 0);
  const std::string from_key = output_;
  ASSERT_EQ(
      Run(openssl_, {"x509", "-in", server + "/tls.crt", "-noout", "-pubkey"}),
      0);
  EXPECT_EQ(output_, from_key);
}

TEST_F(PsctlCertsTest, CertificateOfAnotherCaFailsOpensslVerify) {
  InitAndIssue();
  const std::string other = dir_ + "/other";
  ASSERT_EQ(Psctl({"certs", "init", "--dir=" + other}), 0) << output_;
  if (openssl_.empty()) GTEST_SKIP() << "no openssl program on PATH";
  EXPECT_FALSE(OpensslVerifies(other + "/ca.crt",
                               ca_dir_ + "/server-s0/tls.crt", "sslserver"))
      << output_;
}

TEST_F(PsctlCertsTest, InitRefusesToReplaceACa) {
  ASSERT_EQ(Psctl({"certs", "init", "--dir=" + ca_dir_}), 0) << output_;
  const std::string key = Slurp(ca_dir_ + "/ca.key");
  EXPECT_EQ(Psctl({"certs", "init", "--dir=" + ca_dir_}), 1);
  EXPECT_NE(output_.find("ca.crt exists; a CA is never replaced"),
            std::string::npos)
      << output_;
  EXPECT_EQ(Slurp(ca_dir_ + "/ca.key"), key);
}

TEST_F(PsctlCertsTest, IssuingAgainRotatesTheCertificateInPlace) {
  InitAndIssue();
  const std::string server = ca_dir_ + "/server-s0";
  const std::string first = Slurp(server + "/tls.crt");
  ASSERT_EQ(Psctl({"certs", "issue", "--dir=" + ca_dir_, "--role=server",
                   "--name=s0", "--dns=localhost"}),
            0)
      << output_;
  EXPECT_NE(Slurp(server + "/tls.crt"), first);
  std::vector<std::string> files;
  for (const auto& entry : std::filesystem::directory_iterator(server)) {
    files.push_back(entry.path().filename());
  }
  std::sort(files.begin(), files.end());
  EXPECT_EQ(files, (std::vector<std::string>{"ca.crt", "tls.crt", "tls.key"}));
  if (openssl_.empty()) GTEST_SKIP() << "no openssl program on PATH";
  EXPECT_TRUE(
      OpensslVerifies(server + "/ca.crt", server + "/tls.crt", "sslserver"))
      << output_;
}

TEST_F(PsctlCertsTest, BadFlagsAreRefusedNamingThem) {
  ASSERT_EQ(Psctl({"certs", "init", "--dir=" + ca_dir_}), 0) << output_;
  EXPECT_EQ(
      Psctl({"certs", "issue", "--dir=" + ca_dir_, "--role=boss", "--name=x"}),
      1);
  EXPECT_NE(output_.find("--role: role \"boss\" is not one of coordinator"),
            std::string::npos)
      << output_;
  EXPECT_EQ(Psctl({"certs", "issue", "--dir=" + ca_dir_, "--role=user",
                   "--name=alice", "--dns=localhost"}),
            1);
  EXPECT_NE(output_.find("client-only"), std::string::npos) << output_;
  EXPECT_EQ(Psctl({"certs", "issue", "--dir=" + dir_ + "/none", "--role=user",
                   "--name=alice"}),
            1);
  EXPECT_NE(output_.find("reading its CA (psctl certs init makes one)"),
            std::string::npos)
      << output_;
  EXPECT_EQ(Psctl({"certs", "issue", "--dir=" + ca_dir_, "--role=user"}), 2);
  EXPECT_NE(output_.find("expected init --dir=DIR"), std::string::npos)
      << output_;
  EXPECT_EQ(Psctl({"certs", "init", "--dir=" + dir_ + "/x", "--days=-1"}), 1);
  EXPECT_NE(output_.find("--days=-1: must be at least 1"), std::string::npos)
      << output_;
}

}  // namespace
}  // namespace ps::testing
