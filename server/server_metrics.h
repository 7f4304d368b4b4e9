// ps_server's own metrics, and the RPC metrics of its data-plane methods,
// which PsService records itself (server/data_plane_call.h; the other
// methods' are recorded by the RPC layer's interceptor:
// common/rpc_metrics.h).
//
// Recorded as things happen, with no labels (process-wide, cheap on the data
// plane: every child is resolved when this object is made):
//   ps_server_push_apply_seconds        histogram: applying one push (or
//                                       adding it to BSP's sums), with its
//                                       de-duplication and clocks
//   ps_server_pull_wait_seconds         histogram: a pull's time in the pull
//                                       scheduler: its wait for the job's
//                                       clocks under BSP/SSP (microseconds
//                                       when it could read at once)
//   ps_server_pull_staleness            histogram: clocks of other workers'
//                                       updates a pull's values may miss
//   ps_server_forwarded_pushes_total    counter: pushes a primary forwarded,
//                                       one per backup
//   ps_server_forward_failures_total    counter: forwards that failed (the
//                                       push was refused)
//   ps_server_group_copy_bytes_total    counter: snapshot bytes this primary
//                                       sent to re-replicate a group
//   ps_server_checkpoint_bytes_total    counter: checkpoint bytes written
//
// Computed when scraped, from the TableStore, so that a job's series go
// away with its tables (the job label is bounded by the jobs held):
//   ps_server_table_bytes{job,table}    gauge: bytes held, optimizer state
//                                       and index included
//   ps_server_table_values{job,table}   gauge: float32 values held
//   ps_server_table_rows{job,table}     gauge: rows of a sparse table
//   ps_server_job_pushes_applied_total{job}   counter
//   ps_server_job_pulls_total{job}            counter
//   ps_server_job_pulls_waited_total{job}     counter: pulls that waited
//   ps_server_groups{job,role}          gauge: replica groups held, by role
//
// Thread-safe.
#ifndef PS_SERVER_SERVER_METRICS_H_
#define PS_SERVER_SERVER_METRICS_H_

#include <cstdint>
#include <memory>

#include "common/metrics.h"
#include "common/rpc_metrics.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"
#include "server/table_store.h"

namespace ps::server {

class ServerMetrics {
 public:
  // Adds the families to `metrics`, and a collector reading `store`; both
  // must outlive this object.
  ServerMetrics(Metrics* metrics, const TableStore* store);

  void PushApplied(double seconds) { push_apply_->Observe(seconds); }
  // `staleness` < 0: the pull did not get to read (an error ended it).
  void PullAnswered(double wait_seconds, int64_t staleness) {
    pull_wait_->Observe(wait_seconds);
    if (staleness >= 0) staleness_->Observe(static_cast<double>(staleness));
  }
  void Forwarded(int backups, bool ok) {
    forwarded_->Increment(backups);
    if (!ok) forward_failures_->Increment();
  }
  void GroupCopied(int64_t bytes) {
    copy_bytes_->Increment(static_cast<double>(bytes));
  }
  void CheckpointWritten(int64_t bytes) {
    checkpoint_bytes_->Increment(static_cast<double>(bytes));
  }

  // The ps_rpc_server_* series of the data-plane methods.
  RpcMethodRecorder* pull_rpc() { return &pull_rpc_; }
  RpcMethodRecorder* push_rpc() { return &push_rpc_; }
  RpcMethodRecorder* replicate_rpc() { return &replicate_rpc_; }

 private:
  void CollectTables(std::vector<prometheus::MetricFamily>* out) const;
  void CollectJobs(std::vector<prometheus::MetricFamily>* out) const;

  const TableStore* const store_;
  prometheus::Histogram* push_apply_;
  prometheus::Histogram* pull_wait_;
  prometheus::Histogram* staleness_;
  prometheus::Counter* forwarded_;
  prometheus::Counter* forward_failures_;
  prometheus::Counter* copy_bytes_;
  prometheus::Counter* checkpoint_bytes_;
  RpcMethodRecorder pull_rpc_, push_rpc_, replicate_rpc_;
  std::unique_ptr<Metrics::Collector> collector_;  // last: unregisters first
};

}  // namespace ps::server

#endif  // PS_SERVER_SERVER_METRICS_H_
