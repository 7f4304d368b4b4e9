#include "client/psctl/health.h"

#include <cstdlib>
#include <filesystem>

#include "common/authz_policy.h"
#include "common/certs.h"
#include "common/rpc.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps::client {
namespace {

using ::testing::HasSubstr;

TEST(HealthCodecTest, RequestForTheWholeServerIsEmpty) {
  EXPECT_EQ(EncodeHealthCheckRequest(""), "");
}

TEST(HealthCodecTest, RequestCarriesTheServiceAsField1) {
  EXPECT_EQ(EncodeHealthCheckRequest("ps.v1.Coordinator"),
            std::string("\x0a\x11ps.v1.Coordinator", 19));
}

TEST(HealthCodecTest, DecodesEachStatus) {
  EXPECT_EQ(*DecodeHealthCheckResponse(""), ServingStatus::kUnknown);
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x08\x01", 2)),
            ServingStatus::kServing);
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x08\x02", 2)),
            ServingStatus::kNotServing);
  EXPECT_EQ(*DecodeHealthCheckResponse(std::string("\x08\x09", 2)),
            ServingStatus::kUnknown);
}

TEST(HealthCodecTest, SkipsUnknownFields) {
  // field 2 (string "ab"), then status SERVING.
  EXPECT_EQ(*DecodeHealthCheckResponse(
                std::string{'\x12', '\x02', 'a', 'b', '\x08', '\x01'}),
            ServingStatus::kServing);
}

TEST(HealthCodecTest, RefusesTruncatedBytes) {
  absl::StatusOr<ServingStatus> s =
      DecodeHealthCheckResponse(std::string{'\x12', '\x05', 'a', 'b'});
  EXPECT_EQ(s.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(s.status().message(), HasSubstr("malformed"));
  EXPECT_FALSE(DecodeHealthCheckResponse(std::string("\x08", 1)).ok());
}

TEST(HealthCodecTest, NamesEachStatus) {
  EXPECT_EQ(ServingStatusName(ServingStatus::kServing), "SERVING");
  EXPECT_EQ(ServingStatusName(ServingStatus::kNotServing), "NOT_SERVING");
  EXPECT_EQ(ServingStatusName(static_cast<ServingStatus>(7)), "UNKNOWN");
}

certs::CertRequest Request(Role role, const std::string& name) {
  certs::CertRequest r;
  r.identity = {role, name};
  if (IsDaemon(role)) r.ip_addresses = {"127.0.0.1"};
  r.validity = certs::ValidFor(absl::Hours(1));
  return r;
}

// A real gRPC server with mutual TLS and the server's authorization policy,
// asked with a certificate of the same cluster, as a probe in the daemon's
// own pod does.
class HealthCheckTest : public ::testing::Test {
 protected:
  void SetUp() override {
    const char* tmp = std::getenv("TEST_TMPDIR");
    dir_ = std::string(tmp ? tmp : "/tmp") + "/health_test";
    std::filesystem::remove_all(dir_);
    ASSERT_TRUE(certs::CreateClusterCredentials(dir_ + "/pki",
                                                {Request(Role::kServer, "s1")})
                    .ok());
    ASSERT_TRUE(certs::CreateClusterCredentials(dir_ + "/other",
                                                {Request(Role::kServer, "s1")})
                    .ok());
    absl::StatusOr<std::shared_ptr<const RpcSecurity>> security =
        RpcSecurity::Tls(TlsFilesInDir(dir_ + "/pki/server-s1"));
    ASSERT_TRUE(security.ok()) << security.status();
    security_ = *security;
    absl::StatusOr<RunningServer> server =
        StartServer("127.0.0.1", 0, {}, {"ps.v1.ParameterServer"},
                    {.security = security_,
                     .authz_policy = AuthzPolicyJson(Daemon::kServer)});
    ASSERT_TRUE(server.ok()) << server.status();
    server_ = std::move(*server);
  }
  void TearDown() override {
    if (server_.server) server_.server->Shutdown();
    std::filesystem::remove_all(dir_);
  }

  std::string dir_;
  std::shared_ptr<const RpcSecurity> security_;
  RunningServer server_;
};

TEST_F(HealthCheckTest, OwnCertificateSeesServing) {
  absl::StatusOr<ServingStatus> s =
      CheckHealth(security_.get(), server_.address, "", absl::Seconds(10));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, ServingStatus::kServing);
  s = CheckHealth(security_.get(), server_.address, "ps.v1.ParameterServer",
                  absl::Seconds(10));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, ServingStatus::kServing);
}

TEST_F(HealthCheckTest, UnknownServiceIsNotFound) {
  absl::StatusOr<ServingStatus> s = CheckHealth(
      security_.get(), server_.address, "ps.v1.Nope", absl::Seconds(10));
  EXPECT_EQ(s.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(s.status().message(), HasSubstr(server_.address));
}

TEST_F(HealthCheckTest, StoppedServerIsNotServing) {
  server_.StopServing();
  absl::StatusOr<ServingStatus> s =
      CheckHealth(security_.get(), server_.address, "", absl::Seconds(10));
  ASSERT_TRUE(s.ok()) << s.status();
  EXPECT_EQ(*s, ServingStatus::kNotServing);
}

TEST_F(HealthCheckTest, PlaintextOrAnotherCaFailsTheHandshake) {
  EXPECT_EQ(CheckHealth(nullptr, server_.address, "", absl::Seconds(3))
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
  absl::StatusOr<std::shared_ptr<const RpcSecurity>> other =
      RpcSecurity::Tls(TlsFilesInDir(dir_ + "/other/server-s1"));
  ASSERT_TRUE(other.ok()) << other.status();
  EXPECT_EQ(CheckHealth(other->get(), server_.address, "", absl::Seconds(3))
                .status()
                .code(),
            absl::StatusCode::kUnavailable);
}

TEST(HealthCheckNoServerTest, NothingListeningIsUnavailable) {
  EXPECT_EQ(
      CheckHealth(nullptr, "127.0.0.1:1", "", absl::Seconds(3)).status().code(),
      absl::StatusCode::kUnavailable);
}

}  // namespace
}  // namespace ps::client
