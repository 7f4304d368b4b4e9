#include "coordinator/coordinator_metrics.h"

#include <map>
#include <string>
#include <utility>

namespace ps::coordinator {
namespace {

using prometheus::MetricFamily;
using prometheus::MetricType;

MetricFamily Gauge(std::string name, std::string help) {
  return MakeFamily(std::move(name), std::move(help), MetricType::Gauge);
}

MetricFamily Counter(std::string name, std::string help, double value) {
  MetricFamily f =
      MakeFamily(std::move(name), std::move(help), MetricType::Counter);
  AddSample(&f, {}, value);
  return f;
}

// A counter family with a sample per result.
MetricFamily Results(std::string name, std::string help, double ok,
                     double failed) {
  MetricFamily f =
      MakeFamily(std::move(name), std::move(help), MetricType::Counter);
  AddSample(&f, {{"result", "ok"}}, ok);
  AddSample(&f, {{"result", "failed"}}, failed);
  return f;
}

}  // namespace

CoordinatorMetrics::CoordinatorMetrics(Metrics* metrics,
                                       const Membership* members,
                                       const JobManager* jobs, Clock clock)
    : members_(members), jobs_(jobs), clock_(std::move(clock)) {
  collector_ = metrics->AddCollector([this](auto* out) {
    CollectMembers(out);
    CollectJobs(out);
    CollectEvents(out);
  });
}

void CoordinatorMetrics::CollectMembers(std::vector<MetricFamily>* out) const {
  const absl::Time now = clock_();
  // Every role and state, so that a count that falls to zero reads 0.
  std::map<std::pair<std::string, std::string>, int> counts;
  for (v1::Role role : {v1::SERVER, v1::WORKER}) {
    for (v1::MemberState state : {v1::ALIVE, v1::DEAD}) {
      counts[{v1::Role_Name(role), v1::MemberState_Name(state)}] = 0;
    }
  }
  MetricFamily age = Gauge("ps_coordinator_member_heartbeat_age_seconds",
                           "Time since a live member's last heartbeat; its "
                           "lease runs out at ps_coordinator_lease_seconds");
  for (const MemberInfo& m : members_->All()) {
    const std::string role = v1::Role_Name(m.role);
    ++counts[{role, m.alive ? "ALIVE" : "DEAD"}];
    if (m.alive) {
      AddSample(&age, {{"member", m.id}, {"role", role}},
                absl::ToDoubleSeconds(now - m.last_heartbeat));
    }
  }
  MetricFamily members = Gauge("ps_coordinator_members",
                               "Members listed, by role and lease state");
  for (const auto& [key, n] : counts) {
    AddSample(&members, {{"role", key.first}, {"state", key.second}}, n);
  }
  MetricFamily lease =
      Gauge("ps_coordinator_lease_seconds",
            "A member that sends no heartbeat for this long is declared dead");
  AddSample(&lease, {}, absl::ToDoubleSeconds(members_->lease()));
  out->push_back(std::move(members));
  out->push_back(std::move(age));
  out->push_back(std::move(lease));
}

void CoordinatorMetrics::CollectJobs(std::vector<MetricFamily>* out) const {
  std::map<std::string, int> states;
  for (v1::JobState s :
       {v1::PENDING, v1::RUNNING, v1::SUCCEEDED, v1::FAILED, v1::CANCELLED}) {
    states[v1::JobState_Name(s)] = 0;
  }
  MetricFamily steps = Gauge("ps_coordinator_job_steps",
                             "Steps a running job has done, summed over ranks");
  MetricFamily total = Gauge("ps_coordinator_job_total_steps",
                             "Steps a running job will do, summed over ranks");
  MetricFamily loss = Gauge("ps_coordinator_job_loss",
                            "A running job's training loss over its latest "
                            "report window");
  MetricFamily accuracy = Gauge("ps_coordinator_job_accuracy",
                                "A running job's training accuracy over its "
                                "latest report window");
  MetricFamily speed = Gauge("ps_coordinator_job_examples_per_second",
                             "A running job's training examples per second, "
                             "summed over ranks");
  MetricFamily staleness = Gauge("ps_coordinator_job_max_staleness",
                                 "Largest staleness of any pull of a running "
                                 "job so far, in clocks");
  for (const v1::Job& job : jobs_->List()) {
    ++states[v1::JobState_Name(job.state())];
    if (job.state() != v1::RUNNING) continue;
    const v1::JobProgress& p = job.progress();
    const std::vector<std::pair<std::string, std::string>> id = {
        {"job_id", job.id()}};
    AddSample(&steps, id, static_cast<double>(p.step()));
    AddSample(&total, id, static_cast<double>(p.total_steps()));
    AddSample(&loss, id, p.loss());
    AddSample(&accuracy, id, p.accuracy());
    AddSample(&speed, id, p.examples_per_sec());
    AddSample(&staleness, id, static_cast<double>(p.max_staleness()));
  }
  MetricFamily jobs = Gauge("ps_coordinator_jobs", "Jobs by state");
  for (const auto& [state, n] : states) {
    AddSample(&jobs, {{"state", state}}, n);
  }
  out->push_back(std::move(jobs));
  for (MetricFamily* f :
       {&steps, &total, &loss, &accuracy, &speed, &staleness}) {
    out->push_back(std::move(*f));
  }
}

void CoordinatorMetrics::CollectEvents(std::vector<MetricFamily>* out) const {
  const JobEventCounts e = jobs_->EventCounts();
  out->push_back(Counter("ps_coordinator_server_failovers_total",
                         "Servers of running jobs that died while the jobs "
                         "went on at a new epoch",
                         e.server_failovers));
  out->push_back(Counter("ps_coordinator_primaries_promoted_total",
                         "Replica groups whose backup took over from a dead "
                         "primary",
                         e.primaries_promoted));
  out->push_back(Counter("ps_coordinator_worker_replacements_total",
                         "Ranks of lost workers taken over by other workers",
                         e.ranks_handed_over));
  out->push_back(Results("ps_coordinator_re_replications_total",
                         "Copies of replica groups to new backups, by result",
                         e.groups_re_replicated, e.re_replications_failed));
  out->push_back(Results("ps_coordinator_checkpoints_total",
                         "Checkpoints of running jobs, by result",
                         e.checkpoints_written, e.checkpoints_failed));
  out->push_back(Counter("ps_coordinator_job_resumes_total",
                         "Job attempts queued to resume from a checkpoint",
                         e.jobs_resumed));
}

}  // namespace ps::coordinator
