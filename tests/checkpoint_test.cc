// Checkpoints and resume with real processes: a BSP job checkpointed,
// cancelled and resumed ends with the parameters of an uninterrupted run; a
// job resumes on fewer servers (re-partitioned); a job that loses every
// replica of a piece resumes from its last checkpoint by itself; bad
// checkpoints (another job's manifest, a missing piece, a flipped bit) are
// refused naming the file, and nothing is half loaded.
#include <cmath>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "client/psctl/export.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

constexpr absl::Duration kLease = absl::Seconds(2);

class CheckpointTest : public ClusterTest {
 protected:
  v1::JobSpec CheckpointedSpec(int epochs) {
    v1::JobSpec spec = Spec(/*workers=*/2, epochs);
    spec.mutable_training()->set_consistency(v1::BSP);
    spec.mutable_training()->mutable_checkpoint()->set_dir(
        absl::StrCat(work_dir_, "/checkpoints"));
    return spec;
  }


  // Submits `spec`, waits for `step` steps, checkpoints, and again every
  // 20 steps until it has `checkpoints` of them, cancels; returns the job
  // (CANCELLED, with its checkpoints). A group's later checkpoints are
  // written from the buffer its first one left (keep_checkpoint_buffers).
  v1::Job CheckpointAndCancel(const v1::JobSpec& spec, int64_t step,
                              int checkpoints = 1) {
    const std::string id = Submit(spec);
    for (int c = 0; c < checkpoints; ++c) {
      const int64_t at = step + 20 * c;
      WaitFor(
          id,
          [at](const v1::Job& j) {
            return j.state() != v1::PENDING && j.progress().step() >= at;
          },
          absl::Seconds(60));
      absl::StatusOr<v1::CheckpointInfo> info =
          cluster_->client()->CheckpointJob(id, absl::Minutes(2));
      EXPECT_TRUE(info.ok()) << info.status();
      if (info.ok()) {
        EXPECT_TRUE(std::filesystem::exists(info->dir() + "/manifest.json"));
        std::cerr << "checkpoint at step " << info->step() << ": "
                  << info->bytes() << " bytes, pushes held "
                  << info->pause_us() << " us, " << info->write_seconds()
                  << " s\n";
      }
    }
    EXPECT_TRUE(cluster_->client()->CancelJob(id).ok());
    const v1::Job job = WaitForEnd(id, absl::Seconds(30));
    EXPECT_EQ(job.state(), v1::CANCELLED);
    EXPECT_EQ(job.checkpoints_size(), checkpoints);
    return job;
  }

  absl::StatusOr<v1::ResumeJobResponse> Resume(const std::string& id,
                                               const std::string& from = "",
                                               int servers = 0) {
    v1::ResumeJobRequest request;
    request.set_job_id(id);
    request.set_from(from);
    request.set_num_servers(servers);
    return cluster_->client()->ResumeJob(request);
  }
};

TEST_F(CheckpointTest, BspResumeEndsWithTheParametersOfAnUninterruptedRun) {
  StartCluster(2, 2, kLease);
  const v1::JobSpec spec = CheckpointedSpec(4);
  const v1::Job baseline = WaitForEnd(Submit(spec), absl::Seconds(90));
  ASSERT_EQ(baseline.state(), v1::SUCCEEDED) << baseline.reason();
  const std::vector<float> expected = TrainedParams(baseline, "");

  // Two checkpoints: the second, written from the buffer the first left,
  // is the one resumed from.
  const v1::Job cancelled = CheckpointAndCancel(spec, 100, 2);
  ASSERT_EQ(cancelled.checkpoints_size(), 2);
  EXPECT_GT(cancelled.checkpoints(1).step(), cancelled.checkpoints(0).step());
  ASSERT_TRUE(Resume(cancelled.id()).ok());
  const v1::Job resumed = WaitForEnd(cancelled.id(), absl::Seconds(90));
  ASSERT_EQ(resumed.state(), v1::SUCCEEDED) << resumed.reason();
  EXPECT_EQ(resumed.attempt(), 1);
  EXPECT_EQ(resumed.resume_step(), cancelled.checkpoints(1).step());
  const std::vector<float> got = TrainedParams(resumed, "-resumed");
  ASSERT_EQ(got.size(), expected.size());
  double worst = 0;
  for (size_t i = 0; i < got.size(); ++i) {
    worst = std::max(worst, double(std::fabs(got[i] - expected[i])));
  }
  EXPECT_LE(worst, 1e-6) << "largest difference over " << got.size()
                         << " parameters";
  EXPECT_NEAR(resumed.result().test_accuracy(),
              baseline.result().test_accuracy(), 0.005);
}

TEST_F(CheckpointTest, ResumesOnFewerServersByRepartitioning) {
  StartCluster(2, 2, kLease);
  const v1::Job cancelled = CheckpointAndCancel(CheckpointedSpec(4), 100);
  ASSERT_TRUE(Resume(cancelled.id(), "", /*servers=*/1).ok());
  const v1::Job resumed = WaitForEnd(cancelled.id(), absl::Seconds(90));
  ASSERT_EQ(resumed.state(), v1::SUCCEEDED) << resumed.reason();
  EXPECT_EQ(resumed.partition_map().servers_size(), 1);
  EXPECT_GT(resumed.result().test_accuracy(), 0.9);
}

TEST_F(CheckpointTest, BadCheckpointsAreRefusedNamingTheFile) {
  StartCluster(2, 2, kLease);
  const v1::Job a = CheckpointAndCancel(CheckpointedSpec(4), 60);
  const std::string dir = a.checkpoints(0).dir();
  // Another job's manifest.
  v1::JobSpec other = CheckpointedSpec(1);
  const std::string b = Submit(other);
  ASSERT_EQ(WaitForEnd(b, absl::Seconds(60)).state(), v1::SUCCEEDED);
  ASSERT_TRUE(cluster_->client()->CancelJob(b).ok());  // no-op: ended
  {
    // A softmax: other tables than the MLP checkpointed.
    v1::JobSpec softmax = Spec(2, 40, /*mlp=*/false);
    *softmax.mutable_training() = CheckpointedSpec(40).training();
    const std::string c = Submit(softmax);
    WaitFor(c, [](const v1::Job& j) { return j.state() == v1::RUNNING; },
            absl::Seconds(30));
    ASSERT_TRUE(cluster_->client()->CancelJob(c).ok());
    WaitForEnd(c, absl::Seconds(30));
    auto refused = Resume(c, dir);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find("is a checkpoint of " + a.id()),
              std::string::npos)
        << refused.status();
    // The same checkpoint with its manifest claiming job c: another shape.
    const std::string copy = work_dir_ + "/renamed";
    std::filesystem::copy(dir, copy);
    std::ifstream in(copy + "/manifest.json");
    std::string text((std::istreambuf_iterator<char>(in)),
                     std::istreambuf_iterator<char>());
    const std::string from = "\"" + a.id() + "\"";
    const size_t at = text.find(from);
    ASSERT_NE(at, std::string::npos);
    text.replace(at, from.size(), "\"" + c + "\"");
    std::ofstream(copy + "/manifest.json", std::ios::trunc) << text;
    refused = Resume(c, copy);
    ASSERT_FALSE(refused.ok());
    EXPECT_NE(refused.status().message().find(copy + "/manifest.json"),
              std::string::npos)
        << refused.status();
    EXPECT_NE(refused.status().message().find("another model shape"),
              std::string::npos)
        << refused.status();
  }
  // A missing piece.
  const std::string piece = dir + "/group-1.snap";
  std::filesystem::rename(piece, piece + ".away");
  auto missing = Resume(a.id());
  ASSERT_FALSE(missing.ok());
  EXPECT_NE(missing.status().message().find(piece), std::string::npos)
      << missing.status();
  std::filesystem::rename(piece + ".away", piece);
  // A flipped bit: found by the server that loads it; the job fails naming
  // the file, and is not half loaded (it does not run).
  {
    std::fstream f(piece, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(100);
    char c = 0;
    f.read(&c, 1);
    c ^= 0x10;
    f.seekp(100);
    f.write(&c, 1);
  }
  ASSERT_TRUE(Resume(a.id()).ok());
  const v1::Job flipped = WaitForEnd(a.id(), absl::Seconds(60));
  EXPECT_EQ(flipped.state(), v1::FAILED);
  EXPECT_NE(flipped.reason().find(piece), std::string::npos)
      << flipped.reason();
}

}  // namespace
}  // namespace ps::testing
