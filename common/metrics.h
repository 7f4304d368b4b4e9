// A process's Prometheus metrics: one registry that every component adds
// its metric families to, and collectors that compute families when
// scraped. common/metrics_endpoint.h serves them all over HTTP.
//
// Ownership: main() owns one Metrics (no singleton: tests make their own)
// and passes a pointer to the components, which must not outlive it. A
// component given none (null) records nothing: metrics are off.
//
// Naming (docs/design.md, "Observability"): every family the project adds
// is called ps_<daemon or layer>_<what>_<unit>, counters end in _total,
// durations are in seconds and sizes in bytes; label values come from
// bounded sets (method names, status codes, roles, states, ids of live jobs
// and members), never a key, a step or a request id.
#ifndef PS_COMMON_METRICS_H_
#define PS_COMMON_METRICS_H_

#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "prometheus/metric_family.h"
#include "prometheus/registry.h"

namespace ps {

// Histogram bucket bounds, few on purpose: each observation is a linear
// search over them under the histogram's lock.
// RPC and apply times, 100 us to 10 s.
const std::vector<double>& LatencyBuckets();
// Waits that may be long (a BSP pull waiting for the slowest worker),
// 100 us (no wait at all) to 60 s.
const std::vector<double>& WaitBuckets();
// Staleness in clocks: 0, 1, 2, 4, ... 64.
const std::vector<double>& StalenessBuckets();

class Metrics {
 public:
  // Fills `out` with families computed now (at scrape time). Called on the
  // HTTP endpoint's thread, and by any caller of Collect(), concurrently
  // with itself: it must be thread-safe, cheap, and must not add or remove
  // collectors.
  using CollectFn = std::function<void(std::vector<prometheus::MetricFamily>*)>;

  // Keeps a collector registered; destroying it unregisters the collector,
  // waiting for a scrape that is calling it to finish. It may outlive the
  // Metrics.
  class Collector {
   public:
    ~Collector();
    Collector(const Collector&) = delete;
    Collector& operator=(const Collector&) = delete;

   private:
    friend class Metrics;
    struct Entry;
    explicit Collector(std::shared_ptr<Entry> entry)
        : entry_(std::move(entry)) {}
    std::shared_ptr<Entry> entry_;
  };

  Metrics();
  ~Metrics();
  Metrics(const Metrics&) = delete;
  Metrics& operator=(const Metrics&) = delete;

  // Where components build their counters, gauges and histograms
  // (prometheus::BuildCounter() ... .Register(registry())). Thread-safe.
  prometheus::Registry& registry();

  // Registers `collect` until the returned handle is destroyed.
  [[nodiscard]] std::unique_ptr<Collector> AddCollector(CollectFn collect);

  // Every family now: the registry's, then each collector's.
  std::vector<prometheus::MetricFamily> Collect() const;
  // The same in Prometheus' text exposition format (what /metrics serves).
  std::string Text() const;

 private:
  class Impl;
  std::shared_ptr<Impl> impl_;
};

// Helpers for collectors: a family (append it to the collector's output
// once its samples are in), and one sample of it.
prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type);
// A sample of a gauge or counter family (by the family's type).
void AddSample(prometheus::MetricFamily* family,
               std::vector<std::pair<std::string, std::string>> labels,
               double value);

}  // namespace ps

#endif  // PS_COMMON_METRICS_H_
