// Test requests for one small job: job "j" at epoch 1 with workers a and b
// and one dense table "w" of 4 values, all on this server, zeros, SGD with
// learning rate 1 (so a push of g makes the values -g). Shared by the tests
// of TableStore's consistency models, PullScheduler and PsService.
#ifndef PS_SERVER_TWO_WORKER_JOB_H_
#define PS_SERVER_TWO_WORKER_JOB_H_

#include <cstdint>
#include <string>

#include "proto/ps/v1/ps.pb.h"

namespace ps::server {

// Creates the job under `mode` with `staleness` (SSP's bound).
v1::CreateTablesRequest CreateTwoWorkerJob(v1::Consistency mode, int staleness);

// A push of `g` to all of "w" by `worker` for its clock `clock`, the only
// push of that clock, numbered `seq`.
v1::PushRequest PushToW(const std::string& worker, int64_t clock, float g,
                        uint64_t seq);

// A pull of all of "w" by a worker at clock `clock`.
v1::PullRequest PullOfW(int64_t clock);

// The first float of a pull's values; 0 when there is none.
float FirstValue(const v1::PullResponse& response);

}  // namespace ps::server

#endif  // PS_SERVER_TWO_WORKER_JOB_H_
