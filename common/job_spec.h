// The job spec: parsing from JSON and validation. The schema itself is
// ps.v1.JobSpec in proto/ps/v1/ps.proto, defined once.
//
// Every error is InvalidArgument (or NotFound for a missing data file) with a
// message of the form "<field>: <value> ...; allowed: <what is allowed>",
// but FailedPrecondition when no server is live.
#ifndef PS_COMMON_JOB_SPEC_H_
#define PS_COMMON_JOB_SPEC_H_

#include <string>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps {

// Parses the protobuf JSON form of a JobSpec; unknown fields are errors.
absl::StatusOr<v1::JobSpec> ParseJobSpecJson(const std::string& json);

// Checks what can be checked without the cluster: types, ranges, sizes,
// paths (no NUL byte, which would cut them short for every system call).
absl::Status ValidateJobSpec(const v1::JobSpec& spec);
// training.averaging.mixing alone (part of ValidateJobSpec): empty, or
// n x n for n = cluster.numWorkers, entries in [0, 1], rows summing to 1
// within 1e-6, and optimizer SGD without a schedule.
absl::Status ValidateMixing(const v1::JobSpec& spec);
// training.checkpoint alone (part of ValidateJobSpec): counts in range, and
// a dir (absolute, no "..", no NUL byte) exactly when checkpoints are on.
absl::Status ValidateCheckpointSpec(const v1::CheckpointSpec& checkpoint);

// What the coordinator knows when a job is submitted.
struct ClusterLimits {
  int live_workers = 0;
  int live_servers = 0;
};

// Checks the spec against the cluster and the coordinator's filesystem: enough
// registered members, and the dataset's files present under data.dir.
absl::Status ValidateJobSpecForCluster(const v1::JobSpec& spec,
                                       const ClusterLimits& limits);

// Data files a job reads, relative to data.dir.
std::vector<std::string> DataFiles(const v1::JobSpec& spec);

}  // namespace ps

#endif  // PS_COMMON_JOB_SPEC_H_
