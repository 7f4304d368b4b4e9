// Learning modes end to end, on real processes (docs/design.md, "Learning
// modes"):
//  - local SGD with one local step is today's BSP SGD, bit for bit;
//  - uniform mixing through per-rank copies equals model averaging, up to
//    float rounding;
//  - a FedAvg job over non-IID (BY_LABEL) shards completes with its
//    per-round report, which the dashboard's job page shows.
#include <cmath>

#include "client/psctl/export.h"
#include "tests/cluster_fixture.h"
#include "tests/headless_chromium.h"

namespace ps::testing {
namespace {

class LearningModesTest : public ClusterTest {
 protected:
  v1::Job Run(const v1::JobSpec& spec) {
    v1::Job job = WaitForEnd(Submit(spec), absl::Seconds(120));
    EXPECT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
    return job;
  }

  v1::JobSpec BspSpec(int workers) {
    v1::JobSpec spec = Spec(workers, /*epochs=*/1);
    spec.mutable_training()->set_consistency(v1::BSP);
    spec.mutable_training()->set_batch_size(64);
    return spec;
  }
};

TEST_F(LearningModesTest, OneLocalStepIsBspSgdAndUniformMixingIsAveraging) {
  StartCluster(/*servers=*/2, /*workers=*/2);
  const v1::JobSpec bsp = BspSpec(2);
  v1::JobSpec one_step = bsp;
  one_step.mutable_training()->mutable_averaging()->set_local_steps(1);
  const std::vector<float> plain = TrainedParams(Run(bsp));
  EXPECT_EQ(TrainedParams(Run(one_step)), plain);

  v1::JobSpec averaging = bsp;
  averaging.mutable_training()->mutable_averaging()->set_local_steps(4);
  v1::JobSpec mixing = averaging;
  for (int i = 0; i < 4; ++i) {
    mixing.mutable_training()->mutable_averaging()->add_mixing(0.5f);
  }
  const std::vector<float> averaged = TrainedParams(Run(averaging));
  const std::vector<float> copies = TrainedParams(Run(mixing));
  ASSERT_EQ(copies.size(), 2 * averaged.size());
  // Each copy is its rank's local model; uniform W mixes them into their
  // mean, which plain averaging has on the servers.
  double worst = 0;
  for (size_t i = 0; i < averaged.size(); ++i) {
    const float mean = (copies[i] + copies[averaged.size() + i]) * 0.5f;
    worst = std::max(worst, std::abs(double{mean} - averaged[i]));
  }
  EXPECT_LT(worst, 1e-5) << "max |mixed - averaged|";
  EXPECT_NE(averaged, plain);
}

TEST_F(LearningModesTest, FedAvgOverNonIidShardsReportsEveryRound) {
  dashboard_ = true;
  StartCluster(/*servers=*/1, /*workers=*/2);
  v1::JobSpec spec = BspSpec(2);
  spec.mutable_data()->set_shard(v1::DataSpec::BY_LABEL);
  spec.mutable_training()->set_epochs(3);  // rounds
  spec.mutable_training()->mutable_federated()->set_client_fraction(0.5f);
  spec.mutable_training()->mutable_federated()->set_local_epochs(1);
  const v1::Job job = Run(spec);
  const v1::JobResult& r = job.result();
  ASSERT_EQ(r.rounds_size(), 3);
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.rounds(i).round(), i + 1);
    EXPECT_EQ(r.rounds(i).clients_size(), 1);
    EXPECT_GT(r.rounds(i).test_accuracy(), 0);
    EXPECT_GT(r.rounds(i).test_loss(), 0);
  }
  EXPECT_DOUBLE_EQ(r.rounds(2).test_accuracy(), r.test_accuracy());
  EXPECT_EQ(job.progress().total_steps(), 2 * 3);  // rounds, over ranks
  if (!ChromiumInstalled()) {
    GTEST_SKIP() << "the dashboard's rounds are not checked: no " << kChromium;
  }
  const std::string dom = RunChromium(
      work_dir_, cluster_->dashboard_url() + "jobs/" + job.id(),
      {"--dump-dom"});
  EXPECT_NE(dom.find("id=\"rounds\" data-rows=\"3\""), std::string::npos)
      << dom;
}

}  // namespace
}  // namespace ps::testing
