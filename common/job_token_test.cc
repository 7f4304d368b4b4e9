#include "common/job_token.h"

#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps {
namespace {

using ::testing::HasSubstr;

class JobTokenTest : public ::testing::Test {
 protected:
  void SetUp() override {
    key_ = *NewJobKey();
    claims_.set_job_id("job-1");
    claims_.set_rank(0);
    claims_.set_worker_id("worker-2");
    claims_.set_expires_unix_ms(absl::ToUnixMillis(now_ + absl::Hours(1)));
  }
  absl::Status Check(const std::string& token, JobAccess access) {
    return CheckJobToken(token, key_, access, now_);
  }

  std::string key_;
  v1::JobTokenClaims claims_;
  absl::Time now_ = absl::FromUnixSeconds(1800000000);
};

TEST_F(JobTokenTest, GrantsItsJobAndWorker) {
  const std::string token = MintJobToken(claims_, key_);
  EXPECT_TRUE(Check(token, {"job-1", "worker-2", /*write=*/true}).ok());
  EXPECT_TRUE(Check(token, {"job-1", "", /*write=*/false}).ok());
}

TEST_F(JobTokenTest, AnotherJobIsDenied) {
  const std::string token = MintJobToken(claims_, key_);
  absl::Status s = Check(token, {"job-2", "worker-2", true});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("for job-1, not job-2"));
}

TEST_F(JobTokenTest, AnotherWorkersIdIsDenied) {
  absl::Status s =
      Check(MintJobToken(claims_, key_), {"job-1", "worker-9", true});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("\"worker-9\""));
}

TEST_F(JobTokenTest, ReadOnlyTokenCannotPush) {
  claims_.set_read_only(true);
  claims_.set_worker_id("");
  const std::string token = MintJobToken(claims_, key_);
  EXPECT_TRUE(Check(token, {"job-1", "", false}).ok());
  absl::Status s = Check(token, {"job-1", "", true});
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), HasSubstr("read-only"));
}

TEST_F(JobTokenTest, ExpiredTokenIsUnauthenticated) {
  claims_.set_expires_unix_ms(absl::ToUnixMillis(now_));
  absl::Status s =
      Check(MintJobToken(claims_, key_), {"job-1", "worker-2", true});
  EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated);
  EXPECT_THAT(std::string(s.message()), HasSubstr("expired"));
}

TEST_F(JobTokenTest, OtherKeyOrTamperedClaimsAreUnauthenticated) {
  const std::string other = MintJobToken(claims_, *NewJobKey());
  EXPECT_EQ(Check(other, {"job-1", "worker-2", true}).code(),
            absl::StatusCode::kUnauthenticated);
  // Claims of another worker with this token's MAC.
  v1::JobTokenClaims forged = claims_;
  forged.set_worker_id("worker-9");
  const std::string good = MintJobToken(claims_, key_);
  const std::string bad = MintJobToken(forged, key_);
  const std::string spliced =
      bad.substr(0, bad.rfind('.')) + good.substr(good.rfind('.'));
  EXPECT_EQ(Check(spliced, {"job-1", "worker-9", true}).code(),
            absl::StatusCode::kUnauthenticated);
}

TEST_F(JobTokenTest, MalformedTokensNameWhatIsWrong) {
  for (const std::string& token :
       {std::string(""), std::string("psjt1."), std::string("psjt1.a.b.c"),
        std::string("psjt1.!!.AAAA"), std::string("nope"),
        std::string(kMaxJobTokenBytes + 1, 'a')}) {
    absl::Status s = Check(token, {"job-1", "worker-2", true});
    EXPECT_EQ(s.code(), absl::StatusCode::kUnauthenticated) << token;
    EXPECT_THAT(std::string(s.message()), HasSubstr("malformed job token"));
  }
}

}  // namespace
}  // namespace ps

namespace ps {
namespace {

TEST(JobTokenEndedTest, AnEndedJobTakesOnlyReadersTokens) {
  const std::string key = *NewJobKey();
  const absl::Time now = absl::FromUnixSeconds(1800000000);
  v1::JobTokenClaims claims;
  claims.set_job_id("job-1");
  claims.set_worker_id("w1");
  claims.set_expires_unix_ms(absl::ToUnixMillis(now + absl::Hours(1)));
  const std::string worker = MintJobToken(claims, key);
  claims.set_read_only(true);
  claims.clear_worker_id();
  const std::string reader = MintJobToken(claims, key);
  const JobAccess read{.job_id = "job-1", .ended = true};
  EXPECT_TRUE(CheckJobToken(reader, key, read, now).ok());
  absl::Status s = CheckJobToken(worker, key, read, now);
  EXPECT_EQ(s.code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(s.message()), ::testing::HasSubstr("has ended"));
}

}  // namespace
}  // namespace ps
