// Gradient compression in a real cluster: the Fashion-MNIST MLP example
// (examples/fashion_mnist_mlp.json) trained under BSP on 2 servers and 2
// workers, uncompressed and with top-k (1%) and error feedback plus float16
// pulls. Top-k must reach the uncompressed run's test accuracy within 0.5
// points, while its pushes carry about a fiftieth of the bytes (the codec's
// own tests bound what each request holds).
#include <fstream>
#include <sstream>

#include "common/job_spec.h"
#include "gtest/gtest.h"
#include "tests/cluster_fixture.h"

namespace ps::testing {
namespace {

class CompressionTest : public ClusterTest {
 protected:
  v1::JobSpec MlpExample() {
    std::ifstream in(RunfilesBinDir() + "/examples/fashion_mnist_mlp.json");
    std::stringstream text;
    text << in.rdbuf();
    absl::StatusOr<v1::JobSpec> spec = ParseJobSpecJson(text.str());
    EXPECT_TRUE(spec.ok()) << spec.status();
    v1::JobSpec out = spec.ok() ? *spec : v1::JobSpec();
    // BSP: the same data order and the same combined updates every run, so
    // the two runs differ by the codec alone.
    out.mutable_training()->set_consistency(v1::BSP);
    return out;
  }

  double Train(const v1::JobSpec& spec) {
    const v1::Job job = WaitForEnd(Submit(spec), absl::Minutes(10));
    EXPECT_EQ(job.state(), v1::SUCCEEDED) << job.reason();
    return 100 * job.result().test_accuracy();
  }
};

TEST_F(CompressionTest, TopKWithErrorFeedbackReachesUncompressedAccuracy) {
  StartCluster(/*servers=*/2, /*workers=*/2);
  const v1::JobSpec plain = MlpExample();
  v1::JobSpec topk = plain;
  v1::CompressionSpec* c = topk.mutable_training()->mutable_compression();
  c->set_push(v1::TOPK);
  c->set_topk_ratio(0.01f);
  c->set_pull(v1::FLOAT16);
  const double uncompressed = Train(plain);
  const double compressed = Train(topk);
  EXPECT_GT(uncompressed, 83.0);  // the example's usual 85-86.5%
  EXPECT_GE(compressed, uncompressed - 0.5)
      << "top-k 1% with error feedback: " << compressed
      << "%, uncompressed: " << uncompressed << "%";
}

}  // namespace
}  // namespace ps::testing
