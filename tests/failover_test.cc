// Parameter servers die mid-job and the job goes on (issue: replication and
// failover). Real processes, real gRPC: a LocalCluster of three servers,
// each group of the job on two of them; a server is killed with SIGKILL
// (or frozen with SIGSTOP) while the job trains, and the job must still
// succeed, as accurate as the same job without the failure.
#include <signal.h>

#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/rpc.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

class FailoverFixture : public ClusterTest {
 protected:
  // Waits until job `id` has trained 1/`part` of its steps (or ended).
  v1::Job WaitUntilTrained(const std::string& id, int part) {
    return WaitFor(
        id,
        [part](const v1::Job& j) {
          return IsFinal(j) || (j.progress().total_steps() > 0 &&
                                j.progress().step() * part >=
                                    j.progress().total_steps());
        },
        absl::Seconds(60));
  }

  // Sends `signal` to the server process at `server`; false (with a test
  // failure) when there is none.
  bool Signal(const v1::ServerEndpoint& server, int signal) {
    Subprocess* p = cluster_->ServerAt(server.address());
    EXPECT_NE(p, nullptr) << server.address();
    if (p == nullptr) return false;
    EXPECT_EQ(kill(p->pid(), signal), 0);
    return true;
  }
};

class FailoverTest : public FailoverFixture,
                     public ::testing::WithParamInterface<v1::Consistency> {
 protected:
  v1::JobSpec FailoverSpec() {
    v1::JobSpec spec = Spec(/*workers=*/2, /*epochs=*/12);
    spec.mutable_training()->set_consistency(GetParam());
    if (GetParam() == v1::SSP) spec.mutable_training()->set_staleness(2);
    return spec;
  }

  // Waits until the job has trained a fifth of its steps, then kills the
  // server that is replica `replica` of group 0 (0: its primary). Returns
  // the member id killed.
  std::string KillMidJob(const std::string& id, int replica, int signal) {
    const v1::Job running = WaitUntilTrained(id, 5);
    EXPECT_EQ(running.state(), v1::RUNNING) << running.reason();
    const v1::PartitionMap& map = running.partition_map();
    EXPECT_EQ(map.replicas(), 2);
    const v1::ServerEndpoint victim = map.groups(0).replicas(replica);
    return Signal(victim, signal) ? victim.member_id() : "";
  }
};

// A primary dies: its group's backup takes over, the workers' calls go to
// it, and the job finishes as accurate as without the failure. Then the
// same with a backup killed instead: the primary goes on without it.
TEST_P(FailoverTest, PrimaryOrBackupKilledJobSucceedsAsAccurate) {
  StartCluster(/*servers=*/3, /*workers=*/2);
  const std::string baseline_id = Submit(FailoverSpec());
  const v1::Job baseline = WaitForEnd(baseline_id, absl::Seconds(120));
  ASSERT_EQ(baseline.state(), v1::SUCCEEDED) << baseline.reason();

  for (int replica : {0, 1}) {
    const std::string id = Submit(FailoverSpec());
    const uint64_t epoch_before =
        WaitFor(
            id, [](const v1::Job& j) { return j.state() != v1::PENDING; },
            absl::Seconds(30))
            .partition_map()
            .epoch();
    const std::string killed = KillMidJob(id, replica, SIGKILL);
    const v1::Job job = WaitForEnd(id, absl::Seconds(120));
    ASSERT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
    // The map moved on: the dead server is in no group.
    EXPECT_GT(job.partition_map().epoch(), epoch_before);
    for (const v1::ReplicaGroup& g : job.partition_map().groups()) {
      ASSERT_GE(g.replicas_size(), 1);
      for (const v1::ServerEndpoint& e : g.replicas()) {
        EXPECT_NE(e.member_id(), killed);
      }
    }
    std::cerr << v1::Consistency_Name(GetParam()) << ": baseline accuracy "
              << baseline.result().test_accuracy() << " loss "
              << baseline.result().test_loss() << "; with " << killed
              << " (replica " << replica << " of group 0) killed "
              << job.result().test_accuracy() << " loss "
              << job.result().test_loss() << "\n";
    EXPECT_NEAR(job.result().test_accuracy(),
                baseline.result().test_accuracy(), 0.005);
    // The synthetic data is easy (accuracy near 1): the loss tells more.
    EXPECT_NEAR(job.result().test_loss(), baseline.result().test_loss(),
                0.1 * baseline.result().test_loss() + 0.01);
  }
}

// Two server deaths one after the other: after the first, the coordinator
// copies the groups that lost a replica to the remaining server, so the
// second death is survived too.
TEST_F(FailoverFixture, ReplicasAreRestoredSoASecondDeathIsSurvived) {
  StartCluster(/*servers=*/3, /*workers=*/2);
  v1::JobSpec spec = Spec(/*workers=*/2, /*epochs=*/60);
  spec.mutable_training()->set_consistency(v1::BSP);
  const std::string id = Submit(spec);
  auto kill_primary_of_group0 = [&](const v1::Job& job) {
    const v1::ServerEndpoint victim =
        job.partition_map().groups(0).replicas(0);
    Signal(victim, SIGKILL);
    std::cerr << "killed " << victim.member_id() << " at epoch "
              << job.partition_map().epoch() << "\n";
    return victim.member_id();
  };
  const v1::Job started = WaitUntilTrained(id, 10);
  ASSERT_EQ(started.state(), v1::RUNNING) << started.reason();
  const std::string first = kill_primary_of_group0(started);
  // Fully replicated again, without `first`: every group has two replicas.
  const v1::Job healed = WaitFor(
      id,
      [&](const v1::Job& j) {
        if (IsFinal(j)) return true;
        if (j.partition_map().epoch() <= started.partition_map().epoch()) {
          return false;
        }
        for (const v1::ReplicaGroup& g : j.partition_map().groups()) {
          if (g.replicas_size() < 2) return false;
          for (const v1::ServerEndpoint& e : g.replicas()) {
            if (e.member_id() == first) return false;
          }
        }
        return true;
      },
      absl::Seconds(60));
  ASSERT_EQ(healed.state(), v1::RUNNING)
      << "the job ended before its replicas were restored: "
      << healed.reason();
  kill_primary_of_group0(healed);
  const v1::Job job = WaitForEnd(id, absl::Seconds(180));
  ASSERT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
  EXPECT_GT(job.result().test_accuracy(), 0.9);
}

// A primary frozen with SIGSTOP past its lease is replaced; the workers'
// calls that wait on it give up as soon as they hear of the new epoch (not
// at their deadline), so training goes on within a few seconds. When it is
// let go (SIGCONT) it serves nothing of the job: it learns it was declared
// dead, drops its tables and registers again as a new member.
TEST_F(FailoverFixture, FrozenPrimaryIsReplacedThenDropsItsTablesAndRejoins) {
  StartCluster(/*servers=*/3, /*workers=*/2);
  v1::JobSpec spec = Spec(/*workers=*/2, /*epochs=*/40);
  spec.mutable_training()->set_consistency(v1::BSP);
  const std::string id = Submit(spec);
  const v1::Job running = WaitUntilTrained(id, 10);
  ASSERT_EQ(running.state(), v1::RUNNING) << running.reason();
  const v1::ServerEndpoint victim =
      running.partition_map().groups(0).replicas(0);
  ASSERT_TRUE(Signal(victim, SIGSTOP));
  const absl::Time frozen = absl::Now();
  // Replaced after its lease (3 s), and training moves on soon after.
  const v1::Job replaced = WaitFor(
      id,
      [&](const v1::Job& j) {
        return IsFinal(j) ||
               j.partition_map().epoch() > running.partition_map().epoch();
      },
      absl::Seconds(30));
  ASSERT_EQ(replaced.state(), v1::RUNNING) << replaced.reason();
  const int64_t step = replaced.progress().step();
  const v1::Job moving = WaitFor(
      id,
      [&](const v1::Job& j) {
        return IsFinal(j) || j.progress().step() > step + 10;
      },
      absl::Seconds(30));
  const absl::Duration stalled = absl::Now() - frozen;
  std::cerr << "frozen primary replaced and training moving again "
            << stalled << " after SIGSTOP\n";
  EXPECT_LT(stalled, absl::Seconds(10));
  ASSERT_TRUE(Signal(victim, SIGCONT));
  // It drops the job's tables and comes back under another member id.
  auto stub = v1::ParameterServer::NewStub(MakeChannel(victim.address()));
  bool dropped = false;
  for (const absl::Time end = absl::Now() + absl::Seconds(20);
       !dropped && absl::Now() < end;) {
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Seconds(2)));
    v1::ServerStatusResponse status;
    if (stub->ServerStatus(&ctx, {}, &status).ok()) {
      dropped = true;
      for (const v1::JobServerStats& j : status.jobs()) {
        dropped &= j.job_id() != id;
      }
    }
    if (!dropped) absl::SleepFor(absl::Milliseconds(50));
  }
  EXPECT_TRUE(dropped) << "the frozen server kept the job's tables";
  const v1::Job job = WaitForEnd(id, absl::Seconds(120));
  ASSERT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
  for (const v1::ReplicaGroup& g : job.partition_map().groups()) {
    for (const v1::ServerEndpoint& e : g.replicas()) {
      EXPECT_NE(e.member_id(), victim.member_id());
    }
  }
}

// With one copy, a server's death loses part of the model: the job fails,
// naming what was lost and where it was.
TEST_F(FailoverFixture, LossOfEveryReplicaFailsTheJobNamingIt) {
  StartCluster(/*servers=*/2, /*workers=*/1);
  v1::JobSpec spec = Spec(/*workers=*/1, /*epochs=*/60);
  spec.mutable_cluster()->set_replicas(1);
  const std::string id = Submit(spec);
  const v1::Job running = WaitFor(
      id, [](const v1::Job& j) { return j.progress().step() > 0 || IsFinal(j); },
      absl::Seconds(60));
  ASSERT_EQ(running.state(), v1::RUNNING) << running.reason();
  ASSERT_EQ(running.partition_map().groups(0).replicas_size(), 1);
  const v1::ServerEndpoint victim =
      running.partition_map().groups(0).replicas(0);
  const absl::Time killed = absl::Now();
  ASSERT_TRUE(Signal(victim, SIGKILL));
  const v1::Job job = WaitForEnd(id, absl::Seconds(30));
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_NE(job.reason().find("group 0"), std::string::npos) << job.reason();
  EXPECT_NE(job.reason().find("lost every replica"), std::string::npos)
      << job.reason();
  EXPECT_NE(job.reason().find(victim.member_id()), std::string::npos)
      << job.reason();
  std::cerr << "failed " << absl::Now() - killed << " after the kill: "
            << job.reason() << "\n";
}

INSTANTIATE_TEST_SUITE_P(
    Consistency, FailoverTest, ::testing::Values(v1::ASP, v1::SSP, v1::BSP),
    [](const ::testing::TestParamInfo<v1::Consistency>& info) {
      return v1::Consistency_Name(info.param);
    });

}  // namespace
}  // namespace ps::testing
