#include "server/server_metrics.h"

#include <map>
#include <string>
#include <utility>

namespace ps::server {
namespace {

using prometheus::MetricType;

constexpr char kService[] = "ps.v1.ParameterServer";

prometheus::Histogram* Histogram(Metrics* m, const std::string& name,
                                 const std::string& help,
                                 const std::vector<double>& buckets) {
  return &prometheus::BuildHistogram()
              .Name(name)
              .Help(help)
              .Register(m->registry())
              .Add({}, buckets);
}

prometheus::Counter* Counter(Metrics* m, const std::string& name,
                             const std::string& help) {
  return &prometheus::BuildCounter()
              .Name(name)
              .Help(help)
              .Register(m->registry())
              .Add({});
}

}  // namespace

ServerMetrics::ServerMetrics(Metrics* metrics, const TableStore* store)
    : store_(store),
      push_apply_(Histogram(metrics, "ps_server_push_apply_seconds",
                            "Time to apply one push (under BSP: to add it to "
                            "the clock's sums), de-duplication and clocks "
                            "included",
                            LatencyBuckets())),
      pull_wait_(Histogram(metrics, "ps_server_pull_wait_seconds",
                           "Time a pull waited for its job's clocks "
                           "(BSP/SSP) before it could read",
                           WaitBuckets())),
      staleness_(Histogram(metrics, "ps_server_pull_staleness",
                           "Clocks of other workers' updates the values a "
                           "pull read may miss",
                           StalenessBuckets())),
      forwarded_(Counter(metrics, "ps_server_forwarded_pushes_total",
                         "Pushes this server forwarded to a backup as a "
                         "group's primary, one per backup")),
      forward_failures_(Counter(metrics, "ps_server_forward_failures_total",
                                "Forwards to backups that failed (the push "
                                "was refused)")),
      copy_bytes_(Counter(metrics, "ps_server_group_copy_bytes_total",
                          "Snapshot bytes sent to copy a group to a new "
                          "backup (re-replication)")),
      checkpoint_bytes_(Counter(metrics, "ps_server_checkpoint_bytes_total",
                                "Checkpoint bytes written")),
      pull_rpc_(&metrics->registry(), kService, "Pull"),
      push_rpc_(&metrics->registry(), kService, "Push"),
      replicate_rpc_(&metrics->registry(), kService, "Replicate") {
  collector_ = metrics->AddCollector([this](auto* out) {
    CollectTables(out);
    CollectJobs(out);
  });
}

void ServerMetrics::CollectTables(
    std::vector<prometheus::MetricFamily>* out) const {
  struct Held {
    int64_t bytes = 0, values = 0, rows = 0;
    bool sparse = false;
  };
  // By (job, table), over the job's groups here.
  std::map<std::pair<std::string, std::string>, Held> held;
  for (const v1::TableStatus& t : store_->Status()) {
    Held& h = held[{t.job_id(), t.table()}];
    h.bytes += t.bytes();
    h.values += t.values();
    h.rows += t.rows();
    h.sparse = t.kind() == v1::SPARSE;
  }
  auto bytes = MakeFamily("ps_server_table_bytes",
                          "Bytes of a job's table held here, optimizer state "
                          "and index included",
                          MetricType::Gauge);
  auto values = MakeFamily("ps_server_table_values",
                           "float32 values of a job's table held here",
                           MetricType::Gauge);
  auto rows =
      MakeFamily("ps_server_table_rows",
                 "Rows of a job's sparse table held here", MetricType::Gauge);
  for (const auto& [key, h] : held) {
    const auto& [job, table] = key;
    AddSample(&bytes, {{"job_id", job}, {"table", table}}, h.bytes);
    AddSample(&values, {{"job_id", job}, {"table", table}}, h.values);
    if (h.sparse) AddSample(&rows, {{"job_id", job}, {"table", table}}, h.rows);
  }
  for (auto* f : {&bytes, &values, &rows}) out->push_back(std::move(*f));
}

void ServerMetrics::CollectJobs(
    std::vector<prometheus::MetricFamily>* out) const {
  struct Job {
    int64_t pushes = 0, pulls = 0, waited = 0;
    std::map<std::string, int> roles;
  };
  std::map<std::string, Job> jobs;
  for (const v1::JobServerStats& s : store_->JobStats()) {
    Job& j = jobs[s.job_id()];
    j.pushes += s.pushes_applied();
    j.pulls += s.pulls();
    j.waited += s.pulls_waited();
    ++j.roles[v1::ReplicaRole_Name(s.role())];
  }
  auto pushes =
      MakeFamily("ps_server_job_pushes_applied_total",
                 "Pushes applied to a job's groups here", MetricType::Counter);
  auto pulls =
      MakeFamily("ps_server_job_pulls_total",
                 "Pulls a job's groups here answered", MetricType::Counter);
  auto waited = MakeFamily("ps_server_job_pulls_waited_total",
                           "Pulls of a job that waited for its clocks",
                           MetricType::Counter);
  auto groups = MakeFamily("ps_server_groups",
                           "Replica groups of a job held here, by role",
                           MetricType::Gauge);
  for (const auto& [id, j] : jobs) {
    AddSample(&pushes, {{"job_id", id}}, j.pushes);
    AddSample(&pulls, {{"job_id", id}}, j.pulls);
    AddSample(&waited, {{"job_id", id}}, j.waited);
    for (const auto& [role, n] : j.roles) {
      AddSample(&groups, {{"job_id", id}, {"role", role}}, n);
    }
  }
  for (auto* f : {&pushes, &pulls, &waited, &groups}) {
    out->push_back(std::move(*f));
  }
}

}  // namespace ps::server
