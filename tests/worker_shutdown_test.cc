// SIGTERM stops a worker within seconds, wherever its task is waiting: here
// in a BSP pull for a peer that never pushes (frozen with SIGSTOP, and with
// a lease long enough that the coordinator does not fail the job first; the
// heartbeat that brings the task comes every lease / 4).
#include <signal.h>

#include "absl/time/clock.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

TEST_F(ClusterTest, SigtermStopsAWorkerWaitingForAFrozenPeer) {
  StartCluster(1, 2, /*lease=*/absl::Seconds(30));
  Subprocess* frozen = cluster_->worker_process(1);
  Subprocess* waiting = cluster_->worker_process(0);
  ASSERT_EQ(::kill(frozen->pid(), SIGSTOP), 0);
  v1::JobSpec spec = Spec(2, 1);
  spec.mutable_training()->set_consistency(v1::BSP);
  spec.mutable_training()->set_report_every_steps(1);
  const std::string id = Submit(spec);
  // A reported step means the running rank has pushed a clock; its next
  // pull waits for the frozen rank's push (for up to the 30 s RPC deadline).
  WaitFor(
      id, [](const v1::Job& j) { return j.progress().step() >= 1; },
      absl::Seconds(25));
  const absl::Time start = absl::Now();
  ASSERT_EQ(::kill(waiting->pid(), SIGTERM), 0);
  while (waiting->Running() && absl::Now() - start < absl::Seconds(20)) {
    absl::SleepFor(absl::Milliseconds(20));  // polling the exit, bounded
  }
  const absl::Duration took = absl::Now() - start;
  ::kill(frozen->pid(), SIGCONT);
  EXPECT_FALSE(waiting->Running())
      << "still running " << took << " after SIGTERM";
  EXPECT_LT(took, absl::Seconds(5));
  EXPECT_EQ(waiting->exit_code(), 0);
  std::cerr << "worker exited " << took << " after SIGTERM\n";
}

}  // namespace
}  // namespace ps::testing
