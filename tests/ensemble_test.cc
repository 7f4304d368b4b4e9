// Ensembles end to end: real ps_coordinator, ps_server and ps_worker
// processes train every member of a job and report each member's test
// figures and the weighted ensemble's.
#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <sstream>

#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "tests/cluster_fixture.h"
#include "tests/headless_chromium.h"

namespace ps::testing {
namespace {

// The shipped example, from this test's runfiles.
v1::JobSpec ShippedExample() {
  std::ifstream in(
      absl::StrCat(RunfilesBinDir(), "/examples/fashion_mnist_ensemble.json"));
  std::stringstream text;
  text << in.rdbuf();
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecJson(text.str());
  EXPECT_TRUE(spec.ok()) << spec.status();
  return spec.ok() ? *spec : v1::JobSpec();
}

double BestMember(const v1::JobResult& r) {
  double best = 0;
  for (const v1::MemberResult& m : r.members()) {
    best = std::max(best, m.test_accuracy());
  }
  return best;
}

// The shipped example on the real Fashion-MNIST (2 of its 5 epochs, to
// keep CI fast): the result lists every member; the mixture's test log-loss
// is at most its members' weighted mean (Jensen: -log of a mixture is at
// most the mixture of -logs, example by example, so a mixture applied
// wrongly fails this); and its accuracy is within half a point of its best
// member's. It is measured 0.29-0.56 points above at 2 epochs, but weights
// fitted on held-out training rows promise nothing exact on the test set:
// one CI run had 85.35% against 85.37%.
TEST_F(ClusterTest, ShippedEnsembleIsNoWorseThanItsMembers) {
  v1::JobSpec spec = ShippedExample();
  ASSERT_TRUE(ValidateJobSpec(spec).ok()) << ValidateJobSpec(spec);
  if (!std::filesystem::exists(spec.data().dir() +
                               "/train-images-idx3-ubyte.gz")) {
    GTEST_SKIP() << "no Fashion-MNIST at " << spec.data().dir()
                 << " (Debian's dataset-fashion-mnist)";
  }
  spec.mutable_training()->set_epochs(2);
  StartCluster(spec.cluster().num_servers(), spec.cluster().num_workers());
  const v1::Job job = WaitForEnd(Submit(spec), absl::Seconds(300));
  ASSERT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
  const v1::JobResult& r = job.result();
  EXPECT_EQ(r.test_examples(), 10000);
  ASSERT_EQ(r.members_size(), 3);
  double weights = 0, mean_loss = 0;
  for (int i = 0; i < 3; ++i) {
    EXPECT_EQ(r.members(i).index(), i);
    EXPECT_GT(r.members(i).test_accuracy(), 0.75);
    weights += r.members(i).weight();
    mean_loss += r.members(i).weight() * r.members(i).test_loss();
  }
  EXPECT_NEAR(weights, 1.0, 1e-6);
  EXPECT_LE(r.test_loss(), mean_loss + 1e-6) << r.DebugString();
  EXPECT_GE(r.test_accuracy(), BestMember(r) - 0.005) << r.DebugString();
  std::cout << "ensemble " << r.test_accuracy() << ", best member "
            << BestMember(r) << "\n";
}

// Fixed weights on the synthetic data, over two workers: every member is
// reported with its normalised weight, and the tables are the members'.
TEST_F(ClusterTest, FixedWeightEnsembleReportsItsWeights) {
  dashboard_ = true;
  StartCluster(/*servers=*/2, /*workers=*/2);
  v1::JobSpec spec = Spec(/*workers=*/2, /*epochs=*/1);
  v1::EnsembleSpec* e = spec.mutable_model()->mutable_ensemble();
  e->add_members()->set_weight(1);
  e->add_members()->set_weight(3);
  e->mutable_members(1)->add_hidden_sizes(16);
  const v1::Job job = WaitForEnd(Submit(spec), absl::Seconds(120));
  ASSERT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
  const v1::JobResult& r = job.result();
  EXPECT_EQ(r.test_examples(), 1000);
  ASSERT_EQ(r.members_size(), 2);
  EXPECT_DOUBLE_EQ(r.members(0).weight(), 0.25);
  EXPECT_DOUBLE_EQ(r.members(1).weight(), 0.75);
  EXPECT_GT(r.members(1).test_accuracy(), 0.8);
  EXPECT_GT(r.test_accuracy(), 0.8);
  ASSERT_EQ(job.partition_map().tables_size(), 8);
  EXPECT_EQ(job.partition_map().tables(4).name(), "member1/layer0.weight");
  EXPECT_EQ(job.partition_map().tables(4).size(), 784 * 16);
  // The dashboard's job page lists the members with their weights.
  if (!ChromiumInstalled()) {
    GTEST_SKIP() << "the dashboard's members are not checked: no "
                 << kChromium;
  }
  const std::string dom = RunChromium(
      work_dir_, cluster_->dashboard_url() + "jobs/" + job.id(),
      {"--dump-dom"});
  EXPECT_NE(dom.find("id=\"members\" data-rows=\"2\""), std::string::npos)
      << dom;
  EXPECT_NE(dom.find(">0.7500<"), std::string::npos) << dom;
}

}  // namespace
}  // namespace ps::testing
