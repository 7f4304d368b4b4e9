// Test fixture: a LocalCluster of the real binaries (from this test's
// runfiles) on loopback, synthetic data in TEST_TMPDIR, and helpers to submit
// and wait on jobs. Every process is stopped when the fixture ends.
#ifndef PS_TESTS_CLUSTER_FIXTURE_H_
#define PS_TESTS_CLUSTER_FIXTURE_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "client/psctl/local_cluster.h"
#include "gtest/gtest.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::testing {

// Where the test's runfiles hold the daemon binaries.
std::string RunfilesBinDir();

class ClusterTest : public ::testing::Test {
 protected:
  // Starts the cluster; call from the test body (tests choose sizes).
  // `spare_workers` start idle (LocalClusterOptions); a zero
  // `worker_replace_timeout` leaves the coordinator's default.
  void StartCluster(
      int servers, int workers, absl::Duration lease = absl::Seconds(3),
      int spare_workers = 0,
      absl::Duration worker_replace_timeout = absl::ZeroDuration());

  // A softmax/MLP job over the synthetic data.
  v1::JobSpec Spec(int workers, int epochs, bool mlp = true);
  // A SPARSE_LR or WIDE_DEEP job over the synthetic flights.
  v1::JobSpec FlightsSpec(v1::ModelType type, int workers, int epochs);
  std::string Submit(const v1::JobSpec& spec);
  absl::Status SubmitStatus(const v1::JobSpec& spec);
  v1::Job GetJob(const std::string& id);
  // Polls until `done(job)` or `timeout`; fails the test on timeout.
  v1::Job WaitFor(const std::string& id,
                  const std::function<bool(const v1::Job&)>& done,
                  absl::Duration timeout);
  v1::Job WaitForEnd(const std::string& id, absl::Duration timeout);
  // A finished job's tables, exported (to work_dir_/<id><tag>.psx) and read
  // back, concatenated in export order; empty (and the test failed) when the
  // export cannot be read.
  std::vector<float> TrainedParams(const v1::Job& job,
                                   const std::string& tag = "");

  // The coordinator's --state_dir when set before StartCluster; empty: the
  // coordinator keeps its state in memory.
  std::string state_dir_;
  // Every process serves metrics (--metrics_port=-1) when set before
  // StartCluster.
  bool metrics_ = false;
  // The coordinator serves its dashboard (cluster_->dashboard_url()) when
  // set before StartCluster.
  bool dashboard_ = false;
  std::string work_dir_;
  std::string data_dir_;
  std::unique_ptr<client::LocalCluster> cluster_;
};

bool IsFinal(const v1::Job& job);

}  // namespace ps::testing

#endif  // PS_TESTS_CLUSTER_FIXTURE_H_
