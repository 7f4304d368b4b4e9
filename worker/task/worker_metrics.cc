#include "worker/task/worker_metrics.h"

#include <algorithm>

namespace ps::worker {

WorkerMetrics::WorkerMetrics(Metrics* metrics)
    : steps_(prometheus::BuildCounter()
                 .Name("ps_worker_steps_total")
                 .Help("Training steps this worker did for a job")
                 .Register(metrics->registry())),
      examples_(prometheus::BuildCounter()
                    .Name("ps_worker_examples_total")
                    .Help("Training examples this worker went through for a "
                          "job")
                    .Register(metrics->registry())),
      loss_(prometheus::BuildGauge()
                .Name("ps_worker_loss")
                .Help("Training loss over the latest report window")
                .Register(metrics->registry())),
      accuracy_(prometheus::BuildGauge()
                    .Name("ps_worker_accuracy")
                    .Help("Training accuracy over the latest report window")
                    .Register(metrics->registry())),
      speed_(prometheus::BuildGauge()
                 .Name("ps_worker_examples_per_second")
                 .Help("Training examples per second over the latest report "
                       "window")
                 .Register(metrics->registry())),
      tasks_(prometheus::BuildCounter()
                 .Name("ps_worker_tasks_total")
                 .Help("Tasks this worker ended, by result")
                 .Register(metrics->registry())) {}

WorkerMetrics::Job& WorkerMetrics::Find(const std::string& job_id) {
  auto it = std::find_if(jobs_.begin(), jobs_.end(),
                         [&](const Job& j) { return j.id == job_id; });
  if (it != jobs_.end()) return *it;
  if (jobs_.size() >= kKeptJobs) {
    const Job& old = jobs_.front();
    steps_.Remove(old.steps);
    examples_.Remove(old.examples);
    loss_.Remove(old.loss);
    accuracy_.Remove(old.accuracy);
    speed_.Remove(old.speed);
    jobs_.pop_front();
  }
  const prometheus::Labels labels = {{"job_id", job_id}};
  jobs_.push_back(Job{job_id, &steps_.Add(labels), &examples_.Add(labels),
                      &loss_.Add(labels), &accuracy_.Add(labels),
                      &speed_.Add(labels)});
  return jobs_.back();
}

void WorkerMetrics::Reported(const std::string& job_id, int64_t steps,
                             const Progress& p) {
  absl::MutexLock lock(&mu_);
  Job& job = Find(job_id);
  job.steps->Increment(static_cast<double>(std::max<int64_t>(steps, 0)));
  job.examples->Increment(static_cast<double>(p.window_examples));
  job.loss->Set(p.loss);
  job.accuracy->Set(p.accuracy);
  job.speed->Set(p.examples_per_sec);
}

void WorkerMetrics::TaskEnded(const absl::Status& outcome) {
  const char* result = outcome.ok()                 ? "ok"
                       : absl::IsCancelled(outcome) ? "cancelled"
                                                    : "failed";
  tasks_.Add({{"result", result}}).Increment();
}

}  // namespace ps::worker
