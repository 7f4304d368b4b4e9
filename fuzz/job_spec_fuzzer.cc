// libFuzzer target: a job spec as a user submits it (common/job_spec.h):
// ParseJobSpecJson on any bytes, then ValidateJobSpec, then
// ValidateJobSpecForCluster for clusters of a few sizes (none; one of each;
// exactly what the spec asks for; the most the spec may ask for; and two
// counts taken from the input's bytes). A spec the coordinator accepts is
// laid out as tables (ModelTables, common/model_layout.h) that the servers
// must accept (ValidateTableDef, MakeUpdateRule).
//
// Besides what the sanitizers catch, it aborts when:
//   - a refused parse is not INVALID_ARGUMENT saying so;
//   - ValidateJobSpec refuses with other than INVALID_ARGUMENT, or a
//     message without "allowed";
//   - ValidateJobSpecForCluster does not refuse as ValidateJobSpec did, or
//     refuses a valid spec with other than INVALID_ARGUMENT (with
//     "allowed"), NOT_FOUND (a data file) or FAILED_PRECONDITION (no live
//     servers); or accepts a spec for a cluster but refuses it for a larger
//     one;
//   - a spec ValidateJobSpec accepts has a data dir with a NUL, a
//     checkpoint dir with a NUL or a ".." part, or a model that ModelTables
//     cannot lay out or the servers refuse.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_split.h"
#include "common/job_spec.h"
#include "common/model_layout.h"
#include "server/table_defs.h"
#include "server/update_rule.h"

namespace {

namespace v1 = ::ps::v1;
using ::ps::ClusterLimits;

bool SaysAllowed(const absl::Status& s) {
  return absl::StrContains(s.message(), "allowed");
}

// What the checkpoint dir's contract promises (job_spec.h): absolute, no
// ".." part, and (a path to open) no NUL.
bool SafeDir(const std::string& dir) {
  if (dir.empty()) return true;
  if (dir[0] != '/' || dir.find('\0') != std::string::npos) return false;
  for (absl::string_view part : absl::StrSplit(dir, '/')) {
    if (part == "..") return false;
  }
  return true;
}

void CheckModel(const v1::JobSpec& spec) {
  absl::StatusOr<std::vector<v1::TableDef>> tables = ps::ModelTables(spec);
  if (!tables.ok()) abort();
  for (const v1::TableDef& t : *tables) {
    if (!ps::server::ValidateTableDef(t).ok() ||
        !ps::server::MakeUpdateRule(t.optimizer()).ok()) {
      abort();
    }
  }
}

// ValidateJobSpecForCluster for `limits`, given ValidateJobSpec's answer.
absl::Status ForCluster(const v1::JobSpec& spec, const absl::Status& valid,
                        const ClusterLimits& limits) {
  const absl::Status s = ps::ValidateJobSpecForCluster(spec, limits);
  if (!valid.ok()) {
    if (s != valid) abort();
    return s;
  }
  switch (s.code()) {
    case absl::StatusCode::kOk:
    case absl::StatusCode::kNotFound:
      break;
    case absl::StatusCode::kInvalidArgument:
      if (!SaysAllowed(s)) abort();
      break;
    case absl::StatusCode::kFailedPrecondition:
      if (limits.live_servers != 0) abort();
      break;
    default:
      abort();
  }
  return s;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string json(reinterpret_cast<const char*>(data), size);
  absl::StatusOr<v1::JobSpec> spec = ps::ParseJobSpecJson(json);
  if (!spec.ok()) {
    if (spec.status().code() != absl::StatusCode::kInvalidArgument ||
        !absl::StartsWith(spec.status().message(),
                          "job spec is not valid JSON for ps.v1.JobSpec")) {
      abort();
    }
    return 0;
  }
  const absl::Status valid = ps::ValidateJobSpec(*spec);
  if (!valid.ok() && (valid.code() != absl::StatusCode::kInvalidArgument ||
                      !SaysAllowed(valid))) {
    abort();
  }
  const uint8_t a = size > 0 ? data[0] : 0, b = size > 1 ? data[size - 1] : 0;
  const ClusterLimits largest{.live_workers = 4096, .live_servers = 4096};
  const std::vector<ClusterLimits> clusters = {
      {0, 0},
      {1, 1},
      {spec->cluster().num_workers(), spec->cluster().num_servers()},
      {a % 9, b % 6},
  };
  const bool fits_largest = ForCluster(*spec, valid, largest).ok();
  for (const ClusterLimits& limits : clusters) {
    // What fits a cluster fits a larger one.
    if (ForCluster(*spec, valid, limits).ok() && !fits_largest) abort();
  }
  if (valid.ok()) {
    if (!SafeDir(spec->training().checkpoint().dir()) ||
        spec->data().dir().find('\0') != std::string::npos) {
      abort();
    }
    CheckModel(*spec);
  }
  return 0;
}
