#include "common/job_spec.h"

#include <cmath>
#include <filesystem>
#include <system_error>

#include "absl/strings/escaping.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/model_layout.h"
#include "common/optimizer_spec.h"
#include "common/value_codec.h"
#include "google/protobuf/unknown_field_set.h"
#include "google/protobuf/util/json_util.h"

namespace ps {
namespace {

// Every checked field is an integer: its value and bounds print as integers
// ("1000000", not "1e+06").
absl::Status CheckRange(absl::string_view field, int64_t value, int64_t lo,
                        int64_t hi) {
  if (value >= lo && value <= hi) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat(
      field, ": ", value, " is out of range; allowed: [", lo, ", ", hi, "]"));
}

// A path with a NUL byte names another path to every system call (which
// reads up to the NUL) than to the checks made on the whole string.
absl::Status CheckNoNul(absl::string_view field, const std::string& path,
                        absl::string_view allowed) {
  const size_t nul = path.find('\0');
  if (nul == std::string::npos) return absl::OkStatus();
  return absl::InvalidArgumentError(
      absl::StrCat(field, ": '", absl::CHexEscape(path), "' has a NUL byte at ",
                   nul, "; allowed: ", allowed));
}

// The first field of `message` (or of a message inside it) that this build's
// ps.v1 does not define, as "path: field number N"; "" when there is none.
// JSON specs are parsed with unknown fields as errors; a spec sent as binary
// protobuf keeps them as unknown fields, and must be refused the same way.
std::string FirstUnknownField(const google::protobuf::Message& message,
                              const std::string& path) {
  const google::protobuf::Reflection* reflection = message.GetReflection();
  const google::protobuf::UnknownFieldSet& unknown =
      reflection->GetUnknownFields(message);
  if (!unknown.empty()) {
    return absl::StrCat(
        path.empty() ? message.GetDescriptor()->full_name() : path,
        ": field number ", unknown.field(0).number());
  }
  std::vector<const google::protobuf::FieldDescriptor*> fields;
  reflection->ListFields(message, &fields);
  for (const google::protobuf::FieldDescriptor* f : fields) {
    if (f->cpp_type() != google::protobuf::FieldDescriptor::CPPTYPE_MESSAGE) {
      continue;
    }
    const std::string name =
        path.empty() ? f->json_name() : absl::StrCat(path, ".", f->json_name());
    if (f->is_repeated()) {
      for (int i = 0; i < reflection->FieldSize(message, f); ++i) {
        std::string found =
            FirstUnknownField(reflection->GetRepeatedMessage(message, f, i),
                              absl::StrCat(name, "[", i, "]"));
        if (!found.empty()) return found;
      }
    } else {
      std::string found =
          FirstUnknownField(reflection->GetMessage(message, f), name);
      if (!found.empty()) return found;
    }
  }
  return "";
}

absl::Status CheckHiddenSizes(
    absl::string_view field,
    const google::protobuf::RepeatedField<int32_t>& sizes) {
  for (int i = 0; i < sizes.size(); ++i) {
    absl::Status s =
        CheckRange(absl::StrCat(field, "[", i, "]"), sizes[i], 1, 65536);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

// An ensemble member's hidden sizes (its own, or model.hiddenSizes).
absl::Status ValidateMember(const v1::JobSpec& spec, int i) {
  const v1::EnsembleMember& m = spec.model().ensemble().members(i);
  const std::string field =
      absl::StrCat("model.ensemble.members[", i, "].hiddenSizes");
  if (spec.model().type() == v1::SOFTMAX && !m.hidden_sizes().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field, ": set for SOFTMAX; allowed: empty (or use model.type MLP)"));
  }
  if (spec.model().type() == v1::MLP && m.hidden_sizes().empty() &&
      spec.model().hidden_sizes().empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        field,
        ": empty and so is model.hiddenSizes; allowed: one or more "
        "sizes in [1, 65536] in either"));
  }
  return CheckHiddenSizes(field, m.hidden_sizes());
}

// Weights: every member's or none, each >= 0, not all 0; a holdout only
// when they are fitted.
absl::Status ValidateEnsembleWeights(const v1::EnsembleSpec& e) {
  int weighted = 0;
  double sum = 0;
  for (int i = 0; i < e.members_size(); ++i) {
    if (!e.members(i).has_weight()) continue;
    ++weighted;
    const float w = e.members(i).weight();
    if (!(w >= 0) || std::isinf(w)) {
      return absl::InvalidArgumentError(
          absl::StrCat("model.ensemble.members[", i, "].weight: ", w,
                       "; allowed: a finite number >= 0"));
    }
    sum += w;
  }
  if (weighted != 0 && weighted != e.members_size()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.ensemble.members[].weight: set for ", weighted, " of ",
        e.members_size(),
        " members; allowed: every member's (fixed weights) or none (fitted)"));
  }
  if (weighted != 0 && sum <= 0) {
    return absl::InvalidArgumentError(
        "model.ensemble.members[].weight: all 0; allowed: at least one > 0");
  }
  const float h = e.holdout_fraction();
  if (weighted != 0 && h != 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "model.ensemble.holdoutFraction: ", h,
        " with fixed weights; allowed: unset (nothing is fitted)"));
  }
  if (h != 0 && !(h >= 0.01f && h <= 0.5f)) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.ensemble.holdoutFraction: ", h,
                     " is out of range; allowed: 0 (0.1) or [0.01, 0.5]"));
  }
  return absl::OkStatus();
}

absl::Status ValidateEnsemble(const v1::JobSpec& spec) {
  const v1::EnsembleSpec& e = spec.model().ensemble();
  if (absl::Status s =
          CheckRange("model.ensemble.members", e.members_size(), 2, 16);
      !s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat(s.message(), " members (unset model.ensemble for one)"));
  }
  if (absl::Status s = MemberLayerSizes(spec).status(); !s.ok()) return s;
  for (int i = 0; i < e.members_size(); ++i) {
    if (absl::Status s = ValidateMember(spec, i); !s.ok()) return s;
  }
  if (absl::Status s =
          CheckHiddenSizes("model.hiddenSizes", spec.model().hidden_sizes());
      !s.ok()) {
    return s;
  }
  return ValidateEnsembleWeights(e);
}

absl::Status ValidateModel(const v1::JobSpec& spec) {
  if (spec.model().has_ensemble()) return ValidateEnsemble(spec);
  if (spec.model().type() == v1::MLP && spec.model().hidden_sizes().empty()) {
    return absl::InvalidArgumentError(
        "model.hiddenSizes: empty for MLP; allowed: one or more sizes in "
        "[1, 65536] (or use model.type SOFTMAX)");
  }
  for (int i = 0; i < spec.model().hidden_sizes_size(); ++i) {
    absl::Status s = CheckRange(absl::StrCat("model.hiddenSizes[", i, "]"),
                                spec.model().hidden_sizes(i), 1, 65536);
    if (!s.ok()) return s;
  }
  return LayerSizes(spec).status();
}

// What averaging and federated training need: BSP (a clock is a round), a
// dense model, and for mixing plain SGD (a rank's push must make its copy
// its local model) and an n x n row-stochastic matrix.
absl::Status ValidateLearningModes(const v1::JobSpec& spec) {
  const v1::TrainingSpec& t = spec.training();
  if (!t.has_averaging() && !t.has_federated()) return absl::OkStatus();
  const std::string mode =
      t.has_averaging() ? "training.averaging" : "training.federated";
  if (t.has_averaging() && t.has_federated()) {
    return absl::InvalidArgumentError(
        "training.averaging, training.federated: both set; allowed: one "
        "learning mode at a time");
  }
  if (spec.model().has_ensemble()) {
    return absl::InvalidArgumentError(absl::StrCat(
        mode, ": set with model.ensemble; allowed: an ensemble trains its "
        "members step by step (no learning mode)"));
  }
  if (t.consistency() != v1::BSP) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.consistency: ", v1::Consistency_Name(t.consistency()),
        " with ", mode, "; allowed: BSP (one clock is one round)"));
  }
  if (IsSparseModel(spec.model().type())) {
    return absl::InvalidArgumentError(
        absl::StrCat("model.type: ", v1::ModelType_Name(spec.model().type()),
                     " with ", mode, "; allowed: SOFTMAX, MLP (dense models)"));
  }
  if (t.has_federated()) {
    const float c = t.federated().client_fraction();
    if (!(c > 0 && c <= 1)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "training.federated.clientFraction: ", c, "; allowed: (0, 1]"));
    }
    return CheckRange("training.federated.localEpochs",
                      t.federated().local_epochs(), 1, 100);
  }
  if (absl::Status s = CheckRange("training.averaging.localSteps",
                                  t.averaging().local_steps(), 1, 100000);
      !s.ok()) {
    return s;
  }
  return ValidateMixing(spec);
}

}  // namespace

absl::Status ValidateMixing(const v1::JobSpec& spec) {
  const auto& w = spec.training().averaging().mixing();
  if (w.empty()) return absl::OkStatus();
  const int64_t n = spec.cluster().num_workers();
  if (w.size() != n * n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.averaging.mixing: ", w.size(), " entries; allowed: n*n = ",
        n * n, " for cluster.numWorkers ", n, " (row-major)"));
  }
  const v1::OptimizerSpec& o = spec.optimizer();
  if (o.type() != v1::SGD || o.has_schedule()) {
    return absl::InvalidArgumentError(
        "optimizer: not plain SGD with a constant rate, with "
        "training.averaging.mixing; allowed: type SGD without a schedule");
  }
  for (int64_t i = 0; i < n; ++i) {
    double row = 0;
    for (int64_t j = 0; j < n; ++j) {
      const float v = w[i * n + j];
      if (!(v >= 0 && v <= 1)) {
        return absl::InvalidArgumentError(
            absl::StrCat("training.averaging.mixing[", i * n + j, "] (row ", i,
                         ", column ", j, "): ", v, "; allowed: [0, 1]"));
      }
      row += v;
    }
    if (std::abs(row - 1) > 1e-6) {
      return absl::InvalidArgumentError(
          absl::StrCat("training.averaging.mixing: row ", i, " sums to ", row,
                       "; allowed: every row sums to 1 (within 1e-6)"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::JobSpec> ParseJobSpecJson(const std::string& json) {
  v1::JobSpec spec;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto status =
      google::protobuf::util::JsonStringToMessage(json, &spec, options);
  if (!status.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("job spec is not valid JSON for ps.v1.JobSpec: ",
                     status.message().as_string()));
  }
  return spec;
}

absl::Status ValidateJobSpec(const v1::JobSpec& spec) {
  if (std::string unknown = FirstUnknownField(spec, ""); !unknown.empty()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job spec has a field this cluster does not know: ", unknown,
        "; allowed: the fields of ps.v1.JobSpec in proto/ps/v1/ps.proto (was "
        "the client built from a newer proto?)"));
  }
  if (spec.name().size() > 128) {
    return absl::InvalidArgumentError(absl::StrCat(
        "name: ", spec.name().size(), " characters; allowed: at most 128"));
  }
  for (const absl::Status& s :
       {ValidateModel(spec), ValidateOptimizerSpec(spec.optimizer()),
        CheckRange("training.epochs", spec.training().epochs(), 1, 1000),
        CheckRange("training.batchSize", spec.training().batch_size(), 1,
                   65536),
        CheckRange("training.reportEverySteps",
                   spec.training().report_every_steps(), 0, 1000000),
        CheckRange("cluster.numWorkers", spec.cluster().num_workers(), 1, 4096),
        CheckRange("training.staleness", spec.training().staleness(), 0, 1000),
        CheckRange("cluster.numServers", spec.cluster().num_servers(), 0,
                   4096),
        CheckRange("cluster.replicas", spec.cluster().replicas(), 0, 4096)}) {
    if (!s.ok()) return s;
  }
  if (!v1::Consistency_IsValid(spec.training().consistency())) {
    return absl::InvalidArgumentError(
        absl::StrCat("training.consistency: ", spec.training().consistency(),
                     "; allowed: ASP, BSP, SSP"));
  }
  if (spec.training().staleness() != 0 &&
      spec.training().consistency() != v1::SSP) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.staleness: ", spec.training().staleness(),
        " is only meaningful with consistency SSP; allowed: 0 for ",
        v1::Consistency_Name(spec.training().consistency())));
  }
  if (!v1::DataSpec::Shard_IsValid(spec.data().shard())) {
    return absl::InvalidArgumentError(
        absl::StrCat("data.shard: ", spec.data().shard(),
                     "; allowed: CONTIGUOUS, BY_LABEL"));
  }
  if (spec.data().shard() == v1::DataSpec::BY_LABEL &&
      spec.data().dataset() != v1::FASHION_MNIST) {
    return absl::InvalidArgumentError(absl::StrCat(
        "data.shard: BY_LABEL with ", v1::Dataset_Name(spec.data().dataset()),
        "; allowed: BY_LABEL with FASHION_MNIST only"));
  }
  if (spec.data().shard() == v1::DataSpec::BY_LABEL &&
      spec.model().has_ensemble()) {
    return absl::InvalidArgumentError(
        "data.shard: BY_LABEL with model.ensemble; allowed: CONTIGUOUS (an "
        "ensemble holds out the split's last rows to fit its weights)");
  }
  if (absl::Status s = ValidateLearningModes(spec); !s.ok()) return s;
  if (spec.data().dir().empty()) {
    return absl::InvalidArgumentError(
        "data.dir: empty; allowed: a folder readable by the coordinator and "
        "every worker");
  }
  if (absl::Status s = CheckNoNul("data.dir", spec.data().dir(),
                                  "a folder path without NUL bytes");
      !s.ok()) {
    return s;
  }
  if (absl::Status s = ValidateCompression(spec.training().compression());
      !s.ok()) {
    return s;
  }
  return ValidateCheckpointSpec(spec.training().checkpoint());
}

absl::Status ValidateCheckpointSpec(const v1::CheckpointSpec& c) {
  for (const absl::Status& s :
       {CheckRange("training.checkpoint.everySteps", c.every_steps(), 0,
                   1000000000),
        CheckRange("training.checkpoint.everySeconds", c.every_seconds(), 0,
                   86400 * 365),
        CheckRange("training.checkpoint.keep", c.keep(), 0, 1000)}) {
    if (!s.ok()) return s;
  }
  if (c.dir().empty()) {
    if (c.every_steps() != 0 || c.every_seconds() != 0 || c.keep() != 0) {
      return absl::InvalidArgumentError(
          "training.checkpoint.dir: empty; allowed: an absolute folder that "
          "the coordinator and every server see, when checkpoints are on");
    }
    return absl::OkStatus();
  }
  // Every file call stops at a NUL: "/home/x\0y" would be /home/x to the
  // coordinator's cleanup of a failed checkpoint (remove_all), not a
  // folder under the job's.
  if (absl::Status s = CheckNoNul("training.checkpoint.dir", c.dir(),
                                  "an absolute path without '..' or NUL bytes");
      !s.ok()) {
    return s;
  }
  if (c.dir()[0] != '/' || c.dir().find("/../") != std::string::npos ||
      absl::EndsWith(c.dir(), "/..")) {
    return absl::InvalidArgumentError(absl::StrCat(
        "training.checkpoint.dir: '", c.dir(),
        "'; allowed: an absolute path without '..'"));
  }
  return absl::OkStatus();
}

std::vector<std::string> DataFiles(const v1::JobSpec& spec) {
  switch (spec.data().dataset()) {
    case v1::FASHION_MNIST:
      return {"train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz",
              "t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"};
    case v1::FLIGHTS:
      return {"train.psf", "test.psf"};
    default:
      return {};
  }
}

absl::Status ValidateJobSpecForCluster(const v1::JobSpec& spec,
                                       const ClusterLimits& limits) {
  absl::Status s = ValidateJobSpec(spec);
  if (!s.ok()) return s;
  if (spec.cluster().num_workers() > limits.live_workers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster.numWorkers: ", spec.cluster().num_workers(), " but only ",
        limits.live_workers, " workers are registered and alive; allowed: [1, ",
        limits.live_workers, "]"));
  }
  if (limits.live_servers == 0) {
    return absl::FailedPreconditionError(
        "no live parameter servers are registered; start ps_server first");
  }
  if (spec.cluster().num_servers() > limits.live_servers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster.numServers: ", spec.cluster().num_servers(), " but only ",
        limits.live_servers, " servers are alive; allowed: 0 (all) or [1, ",
        limits.live_servers, "]"));
  }
  const int servers = spec.cluster().num_servers() > 0
                          ? spec.cluster().num_servers()
                          : limits.live_servers;
  if (spec.cluster().replicas() > servers) {
    return absl::InvalidArgumentError(absl::StrCat(
        "cluster.replicas: ", spec.cluster().replicas(), " copies need as many "
        "servers, but the job gets ", servers, "; allowed: 0 (2 when the job "
        "has two or more servers, else 1) or [1, ", servers, "]"));
  }
  for (const std::string& name : DataFiles(spec)) {
    std::filesystem::path path =
        std::filesystem::path(spec.data().dir()) / name;
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) {
      return absl::NotFoundError(absl::StrCat(
          "data.dir: missing data file ", path.string(),
          "; allowed: a folder holding ", absl::StrJoin(DataFiles(spec), ", "),
          spec.data().dataset() == v1::FLIGHTS
              ? " (written by deploy/flights/setup.sh)"
              : ""));
    }
  }
  return absl::OkStatus();
}

}  // namespace ps
