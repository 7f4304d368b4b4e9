// A coordinator that restarts, with real processes: SIGKILLed and started
// again on the same port, with its state dir (jobs go on, ids and epochs
// never repeat) and without one (an empty coordinator, whose job-1 must not
// reuse an old job-1's tables on the servers, nor be ignored by a worker
// that ran the old one). A damaged state file stops the coordinator at start
// with a message naming the file.
#include <filesystem>
#include <fstream>
#include <set>
#include <string>

#include "absl/strings/str_cat.h"
#include "common/subprocess.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

constexpr absl::Duration kLease = absl::Seconds(2);

class CoordinatorRestartTest : public ClusterTest {
 protected:
  void UseStateDir() {
    state_dir_ = absl::StrCat(
        std::getenv("TEST_TMPDIR"), "/",
        ::testing::UnitTest::GetInstance()->current_test_info()->name(),
        "/state");
  }

  // The ids of the live members, once `count` are alive.
  std::set<std::string> AwaitLiveMembers(int count) {
    const absl::Time deadline = absl::Now() + absl::Seconds(30);
    std::set<std::string> alive;
    while (absl::Now() < deadline) {
      alive.clear();
      absl::StatusOr<v1::GetClusterResponse> c =
          cluster_->client()->GetCluster();
      if (c.ok()) {
        for (const v1::Member& m : c->members()) {
          if (m.state() == v1::ALIVE) alive.insert(m.id());
        }
        if (static_cast<int>(alive.size()) == count) return alive;
      }
      absl::SleepFor(absl::Milliseconds(50));
    }
    ADD_FAILURE() << "only " << alive.size() << " of " << count
                  << " members alive after 30 s";
    return alive;
  }
};

TEST_F(CoordinatorRestartTest, InMemoryRestartBetweenJobsStartsFresh) {
  StartCluster(2, 2, kLease);
  const v1::Job first = WaitForEnd(Submit(Spec(2, 1)), absl::Seconds(60));
  ASSERT_EQ(first.state(), v1::SUCCEEDED) << first.reason();
  ASSERT_EQ(first.id(), "job-1");
  ASSERT_TRUE(cluster_->RestartCoordinator().ok());
  AwaitLiveMembers(4);
  // The new coordinator numbers from 1 again: this job-1 has other tables
  // (a softmax, no hidden layer) than the servers' old job-1 had.
  const v1::Job second =
      WaitForEnd(Submit(Spec(2, 1, /*mlp=*/false)), absl::Seconds(60));
  EXPECT_EQ(second.id(), "job-1");
  EXPECT_EQ(second.state(), v1::SUCCEEDED) << second.reason();
  EXPECT_GT(second.result().test_accuracy(), 0.7);
}

TEST_F(CoordinatorRestartTest, StateDirKeepsJobsMembersIdsAndEpochs) {
  UseStateDir();
  StartCluster(2, 2, kLease);
  const std::set<std::string> members = AwaitLiveMembers(4);
  const v1::Job first = WaitForEnd(Submit(Spec(2, 1)), absl::Seconds(60));
  ASSERT_EQ(first.state(), v1::SUCCEEDED) << first.reason();
  ASSERT_TRUE(cluster_->RestartCoordinator().ok());
  // The same members go on under their ids: none registered again.
  EXPECT_EQ(AwaitLiveMembers(4), members);
  const v1::Job kept = GetJob(first.id());
  EXPECT_EQ(kept.state(), v1::SUCCEEDED);
  EXPECT_EQ(kept.result().test_accuracy(), first.result().test_accuracy());
  EXPECT_EQ(kept.partition_map().epoch(), first.partition_map().epoch());
  const v1::Job second =
      WaitForEnd(Submit(Spec(2, 1, /*mlp=*/false)), absl::Seconds(60));
  EXPECT_EQ(second.id(), "job-2");
  EXPECT_EQ(second.state(), v1::SUCCEEDED) << second.reason();
  EXPECT_GT(second.partition_map().epoch(), first.partition_map().epoch());
}

TEST_F(CoordinatorRestartTest, RunningJobGoesOnThroughASigkill) {
  UseStateDir();
  StartCluster(2, 2, kLease);
  const std::set<std::string> members = AwaitLiveMembers(4);
  v1::JobSpec spec = Spec(2, 15);
  spec.mutable_training()->set_consistency(v1::BSP);
  const std::string id = Submit(spec);
  const v1::Job before = WaitFor(
      id,
      [](const v1::Job& j) {
        return j.state() != v1::PENDING && j.progress().step() >= 60;
      },
      absl::Seconds(60));
  ASSERT_EQ(before.state(), v1::RUNNING) << before.reason();
  ASSERT_TRUE(cluster_->RestartCoordinator().ok());
  const v1::Job after = GetJob(id);
  EXPECT_EQ(after.state(), v1::RUNNING) << after.reason();
  // Progress is stored within a second, so it may come back a little
  // older; the workers' next reports bring it past where it was.
  WaitFor(
      id,
      [&](const v1::Job& j) {
        return j.state() != v1::RUNNING ||
               j.progress().step() > before.progress().step();
      },
      absl::Seconds(60));
  const v1::Job job = WaitForEnd(id, absl::Seconds(120));
  EXPECT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
  EXPECT_EQ(job.progress().step(), job.progress().total_steps());
  EXPECT_GT(job.result().test_accuracy(), 0.9);
  // The job kept its workers and servers: no member registered again.
  EXPECT_EQ(AwaitLiveMembers(4), members);
  EXPECT_EQ(job.worker_ids(0), before.worker_ids(0));
  EXPECT_EQ(job.worker_ids(1), before.worker_ids(1));
}

TEST_F(CoordinatorRestartTest, DamagedStateFileStopsTheCoordinator) {
  UseStateDir();
  std::filesystem::create_directories(state_dir_);
  const std::string file = state_dir_ + "/coordinator.db";
  std::ofstream(file) << "SQLite format 3" << std::string(5000, '\x01');
  const std::string log = state_dir_ + "/../coordinator.log";
  absl::StatusOr<std::unique_ptr<Subprocess>> p = Subprocess::Start(
      {RunfilesBinDir() + "/coordinator/ps_coordinator", "--port=0",
       "--insecure", "--state_dir=" + state_dir_},
      log);
  ASSERT_TRUE(p.ok()) << p.status();
  const absl::Time deadline = absl::Now() + absl::Seconds(20);
  while ((*p)->Running() && absl::Now() < deadline) {
    absl::SleepFor(absl::Milliseconds(20));
  }
  ASSERT_FALSE((*p)->Running()) << "the coordinator started on a bad file";
  EXPECT_EQ((*p)->exit_code().value_or(-1), 2);
  std::ifstream in(log);
  const std::string text((std::istreambuf_iterator<char>(in)),
                         std::istreambuf_iterator<char>());
  EXPECT_NE(text.find(file), std::string::npos) << text;
}

}  // namespace
}  // namespace ps::testing
