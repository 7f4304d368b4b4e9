#include "common/job_spec.h"

#include <cstdlib>
#include <filesystem>
#include <fstream>

#include "gtest/gtest.h"

namespace ps {
namespace {

constexpr char kGoodSpec[] = R"({
  "name": "mlp",
  "model": {"type": "MLP", "hiddenSizes": [256]},
  "data": {"dataset": "FASHION_MNIST", "dir": "/data"},
  "optimizer": {"type": "SGD", "learningRate": 0.1},
  "training": {"epochs": 5, "batchSize": 128, "seed": 7},
  "cluster": {"numWorkers": 2, "numServers": 2}
})";

v1::JobSpec Good() {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecJson(kGoodSpec);
  EXPECT_TRUE(spec.ok()) << spec.status();
  return *spec;
}

void ExpectRejected(const v1::JobSpec& spec, absl::string_view field,
                    absl::string_view value) {
  absl::Status s = ValidateJobSpec(spec);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find(field), std::string::npos) << s;
  EXPECT_NE(s.message().find(value), std::string::npos) << s;
  EXPECT_NE(s.message().find("allowed"), std::string::npos) << s;
}

TEST(JobSpecTest, ParsesAndValidatesGoodSpec) {
  v1::JobSpec spec = Good();
  EXPECT_EQ(spec.model().hidden_sizes(0), 256);
  EXPECT_EQ(spec.training().seed(), 7u);
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
}

TEST(JobSpecTest, UnknownFieldIsRejected) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecJson(R"({"modle": {}})");
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("modle"), std::string::npos);
}

// Services that call SubmitJob with a binary JobSpec get the same check as
// psctl's JSON: a field this build does not define is refused by name.
TEST(JobSpecTest, UnknownFieldsInBinarySpecAreRejected) {
  v1::JobSpec top = Good();
  top.GetReflection()->MutableUnknownFields(&top)->AddVarint(99, 1);
  absl::Status s = ValidateJobSpec(top);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("ps.v1.JobSpec: field number 99"),
            std::string::npos)
      << s;

  v1::JobSpec nested = Good();
  v1::TrainingSpec* training = nested.mutable_training();
  training->GetReflection()->MutableUnknownFields(training)->AddVarint(42, 7);
  s = ValidateJobSpec(nested);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument) << s;
  EXPECT_NE(s.message().find("training: field number 42"), std::string::npos)
      << s;

  // The same bytes as a client built from a newer proto would send them.
  std::string bytes = Good().SerializeAsString();
  bytes += std::string("\xa8\x06\x01", 3);  // field 101, varint 1
  v1::JobSpec parsed;
  ASSERT_TRUE(parsed.ParseFromString(bytes));
  EXPECT_EQ(ValidateJobSpec(parsed).code(), absl::StatusCode::kInvalidArgument);
}

TEST(JobSpecTest, IntegersPrintAsIntegers) {
  v1::JobSpec spec = Good();
  spec.mutable_cluster()->set_num_workers(1000000);
  absl::Status s = ValidateJobSpec(spec);
  EXPECT_NE(s.message().find("cluster.numWorkers: 1000000 is out of range; "
                             "allowed: [1, 4096]"),
            std::string::npos)
      << s;
  spec = Good();
  spec.mutable_training()->set_batch_size(2147483647);
  s = ValidateJobSpec(spec);
  EXPECT_NE(s.message().find("training.batchSize: 2147483647"),
            std::string::npos)
      << s;
  EXPECT_EQ(s.message().find("e+"), std::string::npos) << s;
}

TEST(JobSpecTest, UnknownEnumNameIsRejected) {
  absl::StatusOr<v1::JobSpec> spec =
      ParseJobSpecJson(R"({"model": {"type": "RESNET"}})");
  EXPECT_EQ(spec.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(spec.status().message().find("RESNET"), std::string::npos);
}

TEST(JobSpecTest, UnknownModelIsRejected) {
  v1::JobSpec spec = Good();
  spec.mutable_model()->set_type(v1::MODEL_TYPE_UNSPECIFIED);
  ExpectRejected(spec, "model.type", "0");
}

TEST(JobSpecTest, NonPositiveLearningRateIsRejected) {
  v1::JobSpec spec = Good();
  spec.mutable_optimizer()->set_learning_rate(0);
  ExpectRejected(spec, "optimizer.learningRate", "0");
  spec.mutable_optimizer()->set_learning_rate(-0.5f);
  ExpectRejected(spec, "optimizer.learningRate", "-0.5");
}

TEST(JobSpecTest, RangesAreChecked) {
  v1::JobSpec spec = Good();
  spec.mutable_training()->set_epochs(0);
  ExpectRejected(spec, "training.epochs", "0");
  spec = Good();
  spec.mutable_training()->set_batch_size(100000);
  ExpectRejected(spec, "training.batchSize", "100000");
  spec = Good();
  spec.mutable_model()->set_hidden_sizes(0, -3);
  ExpectRejected(spec, "model.hiddenSizes[0]", "-3");
  spec = Good();
  spec.mutable_model()->clear_hidden_sizes();
  ExpectRejected(spec, "model.hiddenSizes", "empty");
  spec = Good();
  spec.mutable_optimizer()->set_type(v1::OPTIMIZER_TYPE_UNSPECIFIED);
  ExpectRejected(spec, "optimizer.type", "OPTIMIZER_TYPE_UNSPECIFIED");
  spec = Good();
  spec.mutable_cluster()->set_num_workers(0);
  ExpectRejected(spec, "cluster.numWorkers", "0");
}

TEST(JobSpecTest, ConsistencyAndStalenessAreChecked) {
  v1::JobSpec spec = Good();
  spec.mutable_training()->set_consistency(v1::SSP);
  spec.mutable_training()->set_staleness(2);
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
  spec.mutable_training()->set_staleness(5000);
  ExpectRejected(spec, "training.staleness", "5000");
  spec.mutable_training()->set_consistency(v1::BSP);
  spec.mutable_training()->set_staleness(2);
  ExpectRejected(spec, "training.staleness", "SSP");
  absl::StatusOr<v1::JobSpec> parsed =
      ParseJobSpecJson(R"({"training": {"consistency": "BSP"}})");
  ASSERT_TRUE(parsed.ok());
  EXPECT_EQ(parsed->training().consistency(), v1::BSP);
}

TEST(JobSpecTest, MoreWorkersThanRegisteredIsRejected) {
  absl::Status s =
      ValidateJobSpecForCluster(Good(), {.live_workers = 1, .live_servers = 2});
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("cluster.numWorkers: 2 but only 1"),
            std::string::npos)
      << s;
}

TEST(JobSpecTest, NoServersIsFailedPrecondition) {
  absl::Status s =
      ValidateJobSpecForCluster(Good(), {.live_workers = 2, .live_servers = 0});
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
}

TEST(JobSpecTest, MissingDataFileNamesThePath) {
  v1::JobSpec spec = Good();
  std::filesystem::path dir =
      std::filesystem::path(std::getenv("TEST_TMPDIR")) / "partial";
  std::filesystem::create_directories(dir);
  spec.mutable_data()->set_dir(dir.string());
  for (const std::string& name : DataFiles(spec)) {
    if (name == "t10k-labels-idx1-ubyte.gz") continue;
    std::ofstream(dir / name) << "x";
  }
  absl::Status s =
      ValidateJobSpecForCluster(spec, {.live_workers = 2, .live_servers = 2});
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find((dir / "t10k-labels-idx1-ubyte.gz").string()),
            std::string::npos)
      << s;
  std::ofstream(dir / "t10k-labels-idx1-ubyte.gz") << "x";
  EXPECT_TRUE(
      ValidateJobSpecForCluster(spec, {.live_workers = 2, .live_servers = 2})
          .ok());
}

TEST(JobSpecTest, CheckpointSpecIsChecked) {
  v1::CheckpointSpec c;
  EXPECT_TRUE(ValidateCheckpointSpec(c).ok());  // off
  c.set_every_steps(100);
  absl::Status s = ValidateCheckpointSpec(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("training.checkpoint.dir: empty"),
            std::string::npos) << s;
  c.set_dir("relative/ckpt");
  s = ValidateCheckpointSpec(c);
  EXPECT_NE(s.message().find("'relative/ckpt'; allowed: an absolute path"),
            std::string::npos) << s;
  c.set_dir("/data/../etc");
  EXPECT_FALSE(ValidateCheckpointSpec(c).ok());
  c.set_dir("/data/ckpt");
  EXPECT_TRUE(ValidateCheckpointSpec(c).ok());
  c.set_keep(-1);
  s = ValidateCheckpointSpec(c);
  EXPECT_NE(s.message().find("training.checkpoint.keep"), std::string::npos)
      << s;
}

// A NUL byte ends the path for every system call: "/home/x\0y" passed
// the checks as a whole string but was /home/x to the coordinator's
// remove_all of a failed checkpoint's folder. Protobuf's JSON parser lets a
// NUL in, escaped or raw. (Found by the job_spec fuzz target.)
TEST(JobSpecTest, PathsWithANulByteAreRejected) {
  for (const std::string& nul :
       {std::string("\\u0000"), std::string(1, '\0')}) {
    std::string json = kGoodSpec;
    json.replace(json.find("\"/data\""), 7, "\"/da" + nul + "ta\"");
    absl::StatusOr<v1::JobSpec> spec = ParseJobSpecJson(json);
    ASSERT_TRUE(spec.ok()) << spec.status();
    ASSERT_EQ(spec->data().dir(), std::string("/da\0ta", 6));
    ExpectRejected(*spec, "data.dir", "'/da\\x00ta' has a NUL byte at 3");
    EXPECT_EQ(
        ValidateJobSpecForCluster(*spec, {.live_workers = 2, .live_servers = 2})
            .code(),
        absl::StatusCode::kInvalidArgument);
  }
  v1::CheckpointSpec c;
  c.set_every_steps(100);
  c.set_dir(std::string("/home/alice\0/x", 14));
  absl::Status s = ValidateCheckpointSpec(c);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_NE(s.message().find("training.checkpoint.dir: '/home/alice\\x00/x' "
                             "has a NUL byte at 11; allowed: an absolute path "
                             "without '..' or NUL bytes"),
            std::string::npos)
      << s;
  c.set_dir(std::string("/data/ckpt/..\0", 14));  // ".." once cut at the NUL
  EXPECT_EQ(ValidateCheckpointSpec(c).code(),
            absl::StatusCode::kInvalidArgument);
}

// A Good() spec in BSP with local SGD over 2 ranks.
v1::JobSpec Averaging() {
  v1::JobSpec spec = Good();
  spec.mutable_training()->set_consistency(v1::BSP);
  spec.mutable_training()->mutable_averaging()->set_local_steps(4);
  return spec;
}

TEST(JobSpecTest, LearningModesAreValid) {
  EXPECT_TRUE(ValidateJobSpec(Averaging()).ok());
  v1::JobSpec mixing = Averaging();
  for (float w : {0.75f, 0.25f, 0.5f, 0.5f}) {
    mixing.mutable_training()->mutable_averaging()->add_mixing(w);
  }
  EXPECT_TRUE(ValidateJobSpec(mixing).ok()) << ValidateJobSpec(mixing);
  v1::JobSpec fed = Good();
  fed.mutable_training()->set_consistency(v1::BSP);
  fed.mutable_training()->mutable_federated()->set_client_fraction(0.5);
  fed.mutable_training()->mutable_federated()->set_local_epochs(2);
  fed.mutable_data()->set_shard(v1::DataSpec::BY_LABEL);
  EXPECT_TRUE(ValidateJobSpec(fed).ok()) << ValidateJobSpec(fed);
}

TEST(JobSpecTest, LearningModesNeedBspAndDenseModels) {
  v1::JobSpec asp = Averaging();
  asp.mutable_training()->set_consistency(v1::ASP);
  ExpectRejected(asp, "training.consistency", "ASP");
  v1::JobSpec sparse = Averaging();
  sparse.mutable_model()->set_type(v1::SPARSE_LR);
  sparse.mutable_model()->clear_hidden_sizes();
  sparse.mutable_data()->set_dataset(v1::FLIGHTS);
  ExpectRejected(sparse, "model.type", "SPARSE_LR");
  v1::JobSpec both = Averaging();
  both.mutable_training()->mutable_federated()->set_client_fraction(1);
  both.mutable_training()->mutable_federated()->set_local_epochs(1);
  ExpectRejected(both, "training.federated", "both set");
}

TEST(JobSpecTest, AveragingAndFederatedRangesAreChecked) {
  v1::JobSpec k = Averaging();
  k.mutable_training()->mutable_averaging()->set_local_steps(0);
  ExpectRejected(k, "training.averaging.localSteps", "0");
  v1::JobSpec fed = Good();
  fed.mutable_training()->set_consistency(v1::BSP);
  fed.mutable_training()->mutable_federated()->set_client_fraction(1.5);
  fed.mutable_training()->mutable_federated()->set_local_epochs(1);
  ExpectRejected(fed, "training.federated.clientFraction", "1.5");
  fed.mutable_training()->mutable_federated()->set_client_fraction(0.5);
  fed.mutable_training()->mutable_federated()->set_local_epochs(0);
  ExpectRejected(fed, "training.federated.localEpochs", "0");
}

TEST(JobSpecTest, MixingMatrixIsChecked) {
  auto with = [](std::vector<float> w) {
    v1::JobSpec spec = Averaging();
    for (float v : w)
      spec.mutable_training()->mutable_averaging()->add_mixing(v);
    return spec;
  };
  ExpectRejected(with({1, 0, 0}), "training.averaging.mixing", "3 entries");
  ExpectRejected(with({1.5f, -0.5f, 0.5f, 0.5f}),
                 "training.averaging.mixing[0]", "1.5");
  ExpectRejected(with({0.5f, 0.4f, 0.5f, 0.5f}), "training.averaging.mixing",
                 "row 0 sums to 0.9");
  v1::JobSpec adam = with({0.5f, 0.5f, 0.5f, 0.5f});
  adam.mutable_optimizer()->set_type(v1::ADAM);
  ExpectRejected(adam, "optimizer", "SGD");
}

TEST(JobSpecTest, ShardMustBeKnown) {
  v1::JobSpec spec = Good();
  spec.mutable_data()->set_shard(static_cast<v1::DataSpec::Shard>(7));
  ExpectRejected(spec, "data.shard", "7");
  v1::JobSpec flights = Good();
  flights.mutable_model()->set_type(v1::SPARSE_LR);
  flights.mutable_model()->clear_hidden_sizes();
  flights.mutable_data()->set_dataset(v1::FLIGHTS);
  flights.mutable_data()->set_shard(v1::DataSpec::BY_LABEL);
  ExpectRejected(flights, "data.shard", "FLIGHTS");
}

v1::JobSpec GoodEnsemble() {
  v1::JobSpec spec = Good();
  spec.mutable_model()->clear_hidden_sizes();
  v1::EnsembleSpec* e = spec.mutable_model()->mutable_ensemble();
  e->add_members()->add_hidden_sizes(64);
  e->add_members()->add_hidden_sizes(128);
  e->mutable_members(1)->set_seed(3);
  return spec;
}

TEST(JobSpecTest, EnsembleFromJsonIsValid) {
  absl::StatusOr<v1::JobSpec> spec = ParseJobSpecJson(R"({
    "model": {"type": "MLP", "ensemble": {
      "members": [{"hiddenSizes": [64]}, {"hiddenSizes": [32], "seed": "5"}],
      "holdoutFraction": 0.2}},
    "data": {"dataset": "FASHION_MNIST", "dir": "/data"},
    "optimizer": {"type": "SGD", "learningRate": 0.1},
    "training": {"epochs": 1, "batchSize": 64},
    "cluster": {"numWorkers": 1}
  })");
  ASSERT_TRUE(spec.ok()) << spec.status();
  EXPECT_TRUE(ValidateJobSpec(*spec).ok()) << ValidateJobSpec(*spec);
  EXPECT_TRUE(ValidateJobSpec(GoodEnsemble()).ok());
}

TEST(JobSpecTest, EnsembleNeedsTwoToSixteenMembers) {
  v1::JobSpec spec = GoodEnsemble();
  spec.mutable_model()->mutable_ensemble()->mutable_members()->RemoveLast();
  ExpectRejected(spec, "model.ensemble.members", "1");
  spec.mutable_model()->mutable_ensemble()->clear_members();
  spec.mutable_model()->mutable_ensemble()->set_holdout_fraction(0.1f);
  ExpectRejected(spec, "model.ensemble.members", "0");
}

TEST(JobSpecTest, EnsembleOfSparseModelsIsRejected) {
  v1::JobSpec spec = GoodEnsemble();
  spec.mutable_model()->set_type(v1::WIDE_DEEP);
  spec.mutable_data()->set_dataset(v1::FLIGHTS);
  ExpectRejected(spec, "model.ensemble", "WIDE_DEEP");
}

TEST(JobSpecTest, EnsembleMemberHiddenSizesAreChecked) {
  v1::JobSpec spec = GoodEnsemble();
  spec.mutable_model()
      ->mutable_ensemble()
      ->mutable_members(1)
      ->set_hidden_sizes(0, 0);
  ExpectRejected(spec, "model.ensemble.members[1].hiddenSizes[0]", "0");
  spec = GoodEnsemble();
  spec.mutable_model()
      ->mutable_ensemble()
      ->mutable_members(0)
      ->clear_hidden_sizes();
  ExpectRejected(spec, "model.ensemble.members[0].hiddenSizes", "empty");
  spec.mutable_model()->add_hidden_sizes(16);  // the members' default
  EXPECT_TRUE(ValidateJobSpec(spec).ok()) << ValidateJobSpec(spec);
  spec.mutable_model()->set_type(v1::SOFTMAX);
  ExpectRejected(spec, "model.ensemble.members[1].hiddenSizes", "SOFTMAX");
}

TEST(JobSpecTest, EnsembleWeightsAreAllOrNone) {
  v1::JobSpec spec = GoodEnsemble();
  v1::EnsembleSpec* e = spec.mutable_model()->mutable_ensemble();
  e->mutable_members(0)->set_weight(0.5f);
  ExpectRejected(spec, "model.ensemble.members[].weight", "1 of 2");
  e->mutable_members(1)->set_weight(0.0f);
  EXPECT_TRUE(ValidateJobSpec(spec).ok()) << ValidateJobSpec(spec);
  e->mutable_members(1)->set_weight(-1.0f);
  ExpectRejected(spec, "model.ensemble.members[1].weight", "-1");
  e->mutable_members(0)->set_weight(0.0f);
  e->mutable_members(1)->set_weight(0.0f);
  ExpectRejected(spec, "model.ensemble.members[].weight", "all 0");
}

TEST(JobSpecTest, EnsembleHoldoutFractionIsChecked) {
  v1::JobSpec spec = GoodEnsemble();
  v1::EnsembleSpec* e = spec.mutable_model()->mutable_ensemble();
  e->set_holdout_fraction(0.6f);
  ExpectRejected(spec, "model.ensemble.holdoutFraction", "0.6");
  e->set_holdout_fraction(0.25f);
  EXPECT_TRUE(ValidateJobSpec(spec).ok());
  e->mutable_members(0)->set_weight(1.0f);
  e->mutable_members(1)->set_weight(1.0f);
  ExpectRejected(spec, "model.ensemble.holdoutFraction", "fixed weights");
}


TEST(JobSpecTest, EnsembleTakesNoLearningModeAndNoLabelShards) {
  v1::JobSpec spec = GoodEnsemble();
  spec.mutable_training()->set_consistency(v1::BSP);
  spec.mutable_training()->mutable_averaging()->set_local_steps(2);
  ExpectRejected(spec, "training.averaging", "model.ensemble");
  spec = GoodEnsemble();
  spec.mutable_data()->set_shard(v1::DataSpec::BY_LABEL);
  ExpectRejected(spec, "data.shard", "model.ensemble");
}

}  // namespace
}  // namespace ps
