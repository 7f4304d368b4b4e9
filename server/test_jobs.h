// Requests of small test jobs, shared by the tests of TableStore's
// consistency models, pull_answer, PullScheduler and PsService. Every job is
// at epoch 1 with one dense table "w", all on this server, zeros, SGD with
// learning rate 1 (so a push of g makes the values -g).
//
// The two-worker job: job "j" with workers a and b, "w" of 4 values.
#ifndef PS_SERVER_TEST_JOBS_H_
#define PS_SERVER_TEST_JOBS_H_

#include <cstdint>
#include <string>
#include <vector>

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

// A one-table job: job `job_id` under ASP, "w" of `size` values.
v1::CreateTablesRequest CreateOneTableJob(const std::string& job_id,
                                          int64_t size);

// A sparse job: job `job_id` under ASP with one SPARSE table `table` of
// rows of `dim`, zeros, SGD with learning rate 1, its one partition here.
v1::CreateTablesRequest CreateSparseJob(const std::string& job_id,
                                        const std::string& table, int dim);

// A gradient of `size` values that differ along the table: value i is
// i % 1000 + 1.
std::vector<float> RampGradient(int64_t size);

// A push of `g` to "w" [0, g.size()) of `job_id`, from no named worker.
v1::PushRequest PushAllOfW(const std::string& job_id,
                           const std::vector<float>& g);

// The first float of a pull's values; 0 when there is none.
float FirstValue(const v1::PullResponse& response);

}  // namespace ps::server

#endif  // PS_SERVER_TEST_JOBS_H_
