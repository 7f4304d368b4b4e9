// The job the push_request and pull_request fuzz targets send their
// requests to, and the seeds (write_seeds.cc) are requests of: job "job-1",
// group 0 at epoch 5, with
//   "w"    DENSE, 64 values (ADAM), this server holding [16, 48)
//   "b"    DENSE, 4 values (SGD), held whole
//   "emb"  SPARSE, dim 4 (ADAGRAD)
//   "wide" SPARSE, dim 1 (FTRL)
// and 8 sparse partitions, of which this server owns 1, 2, 5 and 6. The
// setup byte (RequestPieces::setup) picks the consistency model and the
// role: bits 0-1 ASP with workers "w0" and "w1", SSP(1) with them, BSP
// with them, or ASP with no workers (no clocks tracked); bit 2 makes the
// group a BACKUP (pushes then come from its primary, pulls are refused).
#ifndef PS_FUZZ_DATA_PLANE_JOB_H_
#define PS_FUZZ_DATA_PLANE_JOB_H_

#include <cstdint>
#include <string>

#include "proto/ps/v1/ps.pb.h"

namespace ps::fuzz {

inline constexpr char kJobId[] = "job-1";
inline constexpr uint64_t kEpoch = 5;
inline constexpr int kGroup = 0;

struct JobSetup {
  v1::Consistency mode = v1::ASP;
  bool with_workers = true;
  bool backup = false;  // the group is a BACKUP here
};
JobSetup SetupOf(uint8_t setup);
uint8_t SetupByte(const JobSetup& setup);

// The CreateTablesRequest of the job under `setup`.
v1::CreateTablesRequest DataPlaneJob(const JobSetup& setup);

// Row width of the job's table `name`: its dim when SPARSE, 0 otherwise
// (DENSE or unknown).
int SparseDim(const std::string& name);

// Whether this server owns `key`'s sparse partition.
bool OwnsKey(uint64_t key);

}  // namespace ps::fuzz

#endif  // PS_FUZZ_DATA_PLANE_JOB_H_
