// Pure functions that combine per-rank reports into the job's view.
#ifndef PS_COORDINATOR_JOB_PROGRESS_H_
#define PS_COORDINATOR_JOB_PROGRESS_H_

#include <vector>

#include "proto/ps/v1/ps.pb.h"

namespace ps::coordinator {

// Steps and throughput are summed over ranks, epoch is the slowest rank's,
// loss and accuracy are averaged over ranks that reported. ETA assumes the
// current aggregate rate holds. Ranks that have not reported count as step 0.
v1::JobProgress AggregateProgress(
    const std::vector<v1::ReportProgressRequest>& by_rank, int batch_size);

// Accuracy and mean loss over the union of the ranks' test shards; for a
// federated job also per round (JobResult.rounds, ascending by round); for
// an ensemble also each member's (JobResult.members), by member index.
v1::JobResult CombineEvaluations(
    const std::vector<v1::CompleteTaskRequest>& by_rank);

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_JOB_PROGRESS_H_
