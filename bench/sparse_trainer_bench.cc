// sparse_trainer_bench: the sparse trainer's throughput on the real flights
// data, without the network. Loads a shard of train.psf, hashes it, and
// runs TrainSparse for one epoch against
//   --store=null    a store that only zero-fills the pulled rows and drops
//                   the push: the trainer's own cost per step (dedup,
//                   gather, compute, scatter), what a worker adds on top of
//                   its RPCs;
//   --store=memory  InMemorySparseStore (hash-map rows, SGD): a
//                   single-process trainer, whose test AUC is comparable
//                   with bench/flights_torch.py --optimizer sgd.
// Run one process per core with --shard=i --shards=N to see the machine's
// aggregate rate (each prints its own).
//
// Prints one JSON object on stdout.
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/time/clock.h"
#include "common/auc.h"
#include "worker/data/feature_hash.h"
#include "worker/data/flights_data.h"
#include "worker/model/flights_model.h"
#include "worker/train/in_memory_sparse_store.h"
#include "worker/train/sparse_trainer.h"

ABSL_FLAG(std::string, data_dir, ps::worker::kDefaultFlightsDir,
          "folder holding train.psf and test.psf");
ABSL_FLAG(std::string, model, "lr", "lr (SPARSE_LR) or wd (WIDE_DEEP)");
ABSL_FLAG(std::string, store, "null", "null or memory (see the header)");
ABSL_FLAG(std::string, features, "",
          "comma-separated feature names (feature_hash.h); empty: the six "
          "default features");
ABSL_FLAG(int, batch, 1024, "examples per step");
ABSL_FLAG(int, epochs, 1, "passes over the shard");
ABSL_FLAG(float, lr, 0.5f, "SGD learning rate of --store=memory");
ABSL_FLAG(int, shard, 0, "this process's shard of train.psf");
ABSL_FLAG(int, shards, 1, "number of shards");

namespace ps::worker {
namespace {

// Zero-fills every pull, drops every push.
class NullStore : public SparseParamStore {
 public:
  absl::StatusOr<int64_t> Pull(float* dense, std::vector<SparseBlock>* blocks,
                               int64_t) override {
    dense[0] = 0;
    for (SparseBlock& b : *blocks) {
      std::memset(b.values.data(), 0, b.values.size() * sizeof(float));
    }
    return 0;
  }
  absl::Status Push(const float*, const std::vector<SparseBlock>&,
                    int64_t) override {
    return absl::OkStatus();
  }
};

class QuietSink : public ProgressSink {
 public:
  absl::Status Report(const Progress&) override { return absl::OkStatus(); }
};

absl::StatusOr<std::vector<FlightFeature>> ParseFeatures(
    const std::string& text) {
  std::vector<FlightFeature> out;
  for (absl::string_view name : absl::StrSplit(text, ',', absl::SkipEmpty())) {
    bool found = false;
    for (int n = 1; n <= kMaxFlightFeatureNumber && !found; ++n) {
      const auto f = static_cast<FlightFeature>(n);
      if (name == FlightFeatureName(f)) out.push_back(f), found = true;
    }
    if (!found) {
      return absl::InvalidArgumentError(
          absl::StrCat("unknown feature \"", name, "\""));
    }
  }
  return out;
}

absl::StatusOr<FlightFeatures> Load(const std::string& file, int shard,
                                    int shards,
                                    const FeatureHashOptions& options) {
  absl::StatusOr<FlightRows> rows = LoadFlights(file, shard, shards);
  if (!rows.ok()) return rows.status();
  return HashFlightFeatures(*rows, options);
}

absl::Status Run() {
  FeatureHashOptions hash;
  absl::StatusOr<std::vector<FlightFeature>> features =
      ParseFeatures(absl::GetFlag(FLAGS_features));
  if (!features.ok()) return features.status();
  hash.features = *features;
  const std::string dir = absl::GetFlag(FLAGS_data_dir);
  absl::StatusOr<FlightFeatures> train =
      Load(dir + "/train.psf", absl::GetFlag(FLAGS_shard),
           absl::GetFlag(FLAGS_shards), hash);
  if (!train.ok()) return train.status();
  absl::StatusOr<FlightFeatures> test = Load(dir + "/test.psf", 0, 1, hash);
  if (!test.ok()) return test.status();

  FlightsModelSpec spec;
  spec.type = absl::GetFlag(FLAGS_model) == "wd" ? FlightsModelType::kWideDeep
                                                 : FlightsModelType::kSparseLr;
  spec.slots = train->slots;
  spec.hidden_sizes = {32};
  spec.max_batch = absl::GetFlag(FLAGS_batch);
  ComputeOptions cpu;
  cpu.device = Device::kCpu;
  absl::StatusOr<std::unique_ptr<FlightsModel>> model =
      CreateFlightsModel(spec, cpu);
  if (!model.ok()) return model.status();

  NullStore null_store;
  InMemorySparseStoreOptions memory_options;
  memory_options.learning_rate = absl::GetFlag(FLAGS_lr);
  std::vector<float> dense((*model)->num_dense());
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> weight(-0.1f, 0.1f);
  for (size_t i = 1; i < dense.size(); ++i) dense[i] = weight(rng);
  InMemorySparseStore memory_store(dense, memory_options);
  const bool null = absl::GetFlag(FLAGS_store) == "null";
  SparseParamStore* store =
      null ? static_cast<SparseParamStore*>(&null_store) : &memory_store;

  TrainerOptions options;
  options.epochs = absl::GetFlag(FLAGS_epochs);
  options.batch_size = absl::GetFlag(FLAGS_batch);
  options.report_every_steps = 100;
  options.rank = absl::GetFlag(FLAGS_shard);
  QuietSink sink;
  const absl::Time start = absl::Now();
  if (absl::Status s =
          TrainSparse(options, *train, model->get(), store, &sink, nullptr);
      !s.ok()) {
    return s;
  }
  const double seconds = absl::ToDoubleSeconds(absl::Now() - start);
  const int64_t steps = TotalSteps(options, train->count);
  absl::StatusOr<SparseEvaluation> eval =
      EvaluateSparse(*test, options.batch_size, 0, model->get(), store);
  if (!eval.ok()) return eval.status();
  std::printf(
      "{\"model\": \"%s\", \"store\": \"%s\", \"slots\": %d, \"batch\": %d, "
      "\"examples\": %lld, \"seconds\": %.3f, \"examples_per_sec\": %.0f, "
      "\"us_per_step\": %.1f, \"test_log_loss\": %.4f, \"test_auc\": %.4f}\n",
      absl::GetFlag(FLAGS_model).c_str(), absl::GetFlag(FLAGS_store).c_str(),
      train->slots, options.batch_size,
      static_cast<long long>(train->count * options.epochs), seconds,
      train->count * options.epochs / seconds, 1e6 * seconds / steps,
      eval->stats.loss_sum / eval->stats.count, Auc(eval->histogram));
  return absl::OkStatus();
}

}  // namespace
}  // namespace ps::worker

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::Status status = ps::worker::Run();
  if (!status.ok()) {
    std::fprintf(stderr, "sparse_trainer_bench: %s\n",
                 status.ToString().c_str());
    return 1;
  }
  return 0;
}
