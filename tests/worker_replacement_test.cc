// Worker replacement with real processes: a worker SIGKILLed mid-training
// has its rank taken over by a spare worker and the job succeeds, with the
// accuracy of the same job run without a kill (BSP with two workers is
// deterministic); without a spare the job fails once
// --worker_replace_timeout has passed, naming the rank and the worker.
#include <signal.h>

#include <fstream>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

constexpr absl::Duration kLease = absl::Seconds(2);

class WorkerReplacementTest : public ClusterTest {
 protected:
  // The spec of the jobs here: an MLP on 2 workers, long enough (about
  // 470 steps a rank) for a kill to land mid-training.
  v1::JobSpec TrainingSpec(v1::Consistency mode) {
    v1::JobSpec spec = Spec(/*workers=*/2, /*epochs=*/10);
    spec.mutable_training()->set_consistency(mode);
    if (mode == v1::SSP) spec.mutable_training()->set_staleness(2);
    return spec;
  }

  // The process of worker member `member_id` (matched by the address it
  // registered with, which it wrote to its port file).
  Subprocess* WorkerProcess(const std::string& member_id, int workers) {
    absl::StatusOr<v1::GetClusterResponse> members =
        cluster_->client()->GetCluster();
    EXPECT_TRUE(members.ok()) << members.status();
    if (!members.ok()) return nullptr;
    std::string address;
    for (const v1::Member& m : members->members()) {
      if (m.id() == member_id) address = m.address();
    }
    for (int i = 0; i < workers; ++i) {
      std::ifstream file(absl::StrCat(work_dir_, "/worker", i, ".addr"));
      std::string line;
      if (std::getline(file, line) && line == address) {
        return cluster_->worker_process(i);
      }
    }
    ADD_FAILURE() << "no worker process registered as " << member_id;
    return nullptr;
  }

  // Submits `spec`, waits for some progress (each rank has pushed steps),
  // SIGKILLs the worker of rank 1 and returns the job's id; *victim gets
  // that worker's member id.
  std::string SubmitAndKillRank1(const v1::JobSpec& spec, int workers,
                                 std::string* victim) {
    const std::string id = Submit(spec);
    const v1::Job running = WaitFor(
        id,
        [](const v1::Job& j) {
          return j.state() != v1::PENDING && j.progress().step() >= 60;
        },
        absl::Seconds(60));
    EXPECT_EQ(running.state(), v1::RUNNING) << running.reason();
    if (running.worker_ids_size() != 2) return id;
    *victim = running.worker_ids(1);
    Subprocess* process = WorkerProcess(*victim, workers);
    if (process != nullptr) EXPECT_EQ(::kill(process->pid(), SIGKILL), 0);
    std::cerr << "killed " << *victim << " at " << running.progress().step()
              << " of " << running.progress().total_steps() << " steps\n";
    return id;
  }

  // Runs `spec` to the end with a spare worker taking over rank 1 after a
  // SIGKILL; checks the handover and returns the job.
  v1::Job RunWithKill(const v1::JobSpec& spec) {
    std::string victim;
    const std::string id = SubmitAndKillRank1(spec, /*workers=*/3, &victim);
    const v1::Job job = WaitForEnd(id, absl::Seconds(90));
    EXPECT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
    EXPECT_EQ(job.push_worker_ids_size(), 2);
    if (job.push_worker_ids_size() == 2) {
      EXPECT_EQ(job.push_worker_ids(1), victim);
      EXPECT_NE(job.worker_ids(1), victim);  // the spare took the rank
      EXPECT_NE(job.worker_ids(1), job.worker_ids(0));
      EXPECT_NE(job.worker_ids(1), "");
    }
    EXPECT_EQ(job.progress().step(), job.progress().total_steps());
    return job;
  }
};

TEST_F(WorkerReplacementTest, BspJobSurvivesAKilledWorkerWithItsAccuracy) {
  StartCluster(2, 2, kLease, /*spare_workers=*/1);
  const v1::JobSpec spec = TrainingSpec(v1::BSP);
  const v1::Job baseline = WaitForEnd(Submit(spec), absl::Seconds(60));
  ASSERT_EQ(baseline.state(), v1::SUCCEEDED) << baseline.reason();
  const v1::Job job = RunWithKill(spec);
  EXPECT_NEAR(job.result().test_accuracy(), baseline.result().test_accuracy(),
              0.005);
  // The synthetic classes are easy (accuracy near 1): the loss, finer,
  // must match too. Only the step the kill cut in half may differ.
  EXPECT_NEAR(job.result().test_loss(), baseline.result().test_loss(),
              0.02 * baseline.result().test_loss());
  std::cerr << "test accuracy " << job.result().test_accuracy() << ", loss "
            << job.result().test_loss() << " with a kill; "
            << baseline.result().test_accuracy() << ", "
            << baseline.result().test_loss() << " without\n";
}

TEST_F(WorkerReplacementTest, SspJobSurvivesAKilledWorker) {
  StartCluster(2, 2, kLease, /*spare_workers=*/1);
  const v1::Job job = RunWithKill(TrainingSpec(v1::SSP));
  EXPECT_GT(job.result().test_accuracy(), 0.9);
}

TEST_F(WorkerReplacementTest, AspJobSurvivesAKilledWorker) {
  StartCluster(2, 2, kLease, /*spare_workers=*/1);
  const v1::Job job = RunWithKill(TrainingSpec(v1::ASP));
  EXPECT_GT(job.result().test_accuracy(), 0.9);
}

TEST_F(WorkerReplacementTest, WithoutASpareTheJobFailsAfterTheTimeout) {
  constexpr absl::Duration kReplaceTimeout = absl::Seconds(3);
  StartCluster(1, 2, kLease, /*spare_workers=*/0, kReplaceTimeout);
  std::string victim;
  const std::string id =
      SubmitAndKillRank1(TrainingSpec(v1::BSP), /*workers=*/2, &victim);
  const absl::Time killed = absl::Now();
  // While it waits, the job says for what.
  const v1::Job waiting = WaitFor(
      id, [](const v1::Job& j) { return !j.reason().empty(); },
      absl::Seconds(20));
  EXPECT_EQ(waiting.state(), v1::RUNNING) << waiting.reason();
  EXPECT_NE(waiting.reason().find("rank 1 lost " + victim), std::string::npos)
      << waiting.reason();
  const v1::Job job = WaitForEnd(id, absl::Seconds(30));
  const absl::Duration took = absl::Now() - killed;
  EXPECT_EQ(job.state(), v1::FAILED);
  EXPECT_NE(job.reason().find("rank 1 lost its worker " + victim),
            std::string::npos)
      << job.reason();
  EXPECT_NE(job.reason().find("--worker_replace_timeout"), std::string::npos);
  // Detected within a lease (plus heartbeat jitter), then the timeout.
  EXPECT_LT(took, kLease + kReplaceTimeout + absl::Seconds(4));
  EXPECT_GE(took, kReplaceTimeout);
}

}  // namespace
}  // namespace ps::testing
