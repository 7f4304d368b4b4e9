// ps_worker's own metrics, from its tasks' progress reports (each RPC its
// small gRPC server answers is the RPC layer's: common/rpc_metrics.h):
//
//   ps_worker_steps_total{job}              counter: training steps done
//   ps_worker_examples_total{job}           counter: training examples
//   ps_worker_loss{job}                     gauge: training loss over the
//                                           latest report window
//   ps_worker_accuracy{job}                 gauge: training accuracy over it
//   ps_worker_examples_per_second{job}      gauge: over it
//   ps_worker_tasks_total{result}           counter: tasks ended, by result
//                                           (ok, failed, cancelled)
//
// The job label is bounded: a worker keeps the series of its kKeptJobs
// latest jobs and removes older ones. Recorded every report_every_steps
// steps, not per step. Thread-safe.
#ifndef PS_WORKER_TASK_WORKER_METRICS_H_
#define PS_WORKER_TASK_WORKER_METRICS_H_

#include <deque>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "common/metrics.h"
#include "prometheus/counter.h"
#include "prometheus/gauge.h"
#include "worker/train/trainer.h"

namespace ps::worker {

class WorkerMetrics {
 public:
  static constexpr int kKeptJobs = 4;

  // Adds the families to `metrics`, which must outlive this object.
  explicit WorkerMetrics(Metrics* metrics);

  // A progress report of a task of `job_id` that has done `steps` steps
  // since its last report (or since it started).
  void Reported(const std::string& job_id, int64_t steps, const Progress& p);
  // A task ended with `outcome` (CANCELLED counts as cancelled).
  void TaskEnded(const absl::Status& outcome);

 private:
  struct Job {
    std::string id;
    prometheus::Counter* steps;
    prometheus::Counter* examples;
    prometheus::Gauge* loss;
    prometheus::Gauge* accuracy;
    prometheus::Gauge* speed;
  };
  // The job's series, made (and the oldest job's removed) when new.
  Job& Find(const std::string& job_id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  prometheus::Family<prometheus::Counter>& steps_;
  prometheus::Family<prometheus::Counter>& examples_;
  prometheus::Family<prometheus::Gauge>& loss_;
  prometheus::Family<prometheus::Gauge>& accuracy_;
  prometheus::Family<prometheus::Gauge>& speed_;
  prometheus::Family<prometheus::Counter>& tasks_;
  absl::Mutex mu_;
  std::deque<Job> jobs_ ABSL_GUARDED_BY(mu_);  // oldest first
};

}  // namespace ps::worker

#endif  // PS_WORKER_TASK_WORKER_METRICS_H_
