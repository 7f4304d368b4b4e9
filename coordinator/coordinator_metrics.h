// ps_coordinator's own metrics (each RPC's count, time and bytes are the
// RPC layer's: common/rpc_metrics.h), all computed when scraped from
// Membership and JobManager, so nothing is recorded on any call path and
// a job's or member's series go away with it:
//
//   ps_coordinator_members{role,state}            gauge: members listed, by
//                                                 role and ALIVE/DEAD
//   ps_coordinator_member_heartbeat_age_seconds{member,role}
//                                                 gauge: time since a live
//                                                 member's last heartbeat
//                                                 (its lease runs out at the
//                                                 lease length)
//   ps_coordinator_lease_seconds                  gauge: the lease length
//   ps_coordinator_jobs{state}                    gauge: jobs by state
//   ps_coordinator_job_steps{job}                 gauge: steps done, summed
//                                                 over ranks (running jobs)
//   ps_coordinator_job_total_steps{job}           gauge
//   ps_coordinator_job_loss{job}                  gauge: training loss over
//                                                 the latest report window
//   ps_coordinator_job_accuracy{job}              gauge: training accuracy
//   ps_coordinator_job_examples_per_second{job}   gauge: summed over ranks
//   ps_coordinator_job_max_staleness{job}         gauge
//   ps_coordinator_server_failovers_total         counter (JobEventCounts)
//   ps_coordinator_primaries_promoted_total       counter
//   ps_coordinator_worker_replacements_total      counter
//   ps_coordinator_re_replications_total{result}  counter: ok, failed
//   ps_coordinator_checkpoints_total{result}      counter: ok, failed
//   ps_coordinator_job_resumes_total              counter
//
// The job label is bounded by the jobs running now, the member label by
// the members listed (dead ones are forgotten after a while). Counters
// start from zero when the coordinator restarts.
#ifndef PS_COORDINATOR_COORDINATOR_METRICS_H_
#define PS_COORDINATOR_COORDINATOR_METRICS_H_

#include <memory>
#include <vector>

#include "common/metrics.h"
#include "coordinator/job_manager.h"
#include "coordinator/membership.h"

namespace ps::coordinator {

class CoordinatorMetrics {
 public:
  // Adds a collector to `metrics` that reads `members` and `jobs`; all
  // three must outlive this object. `clock` gives heartbeat ages.
  CoordinatorMetrics(Metrics* metrics, const Membership* members,
                     const JobManager* jobs, Clock clock);

 private:
  void CollectMembers(std::vector<prometheus::MetricFamily>* out) const;
  void CollectJobs(std::vector<prometheus::MetricFamily>* out) const;
  void CollectEvents(std::vector<prometheus::MetricFamily>* out) const;

  const Membership* const members_;
  const JobManager* const jobs_;
  const Clock clock_;
  std::unique_ptr<Metrics::Collector> collector_;  // last: unregisters first
};

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_COORDINATOR_METRICS_H_
