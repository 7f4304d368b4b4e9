// For tests: the value of one series of a Metrics.
#ifndef PS_COMMON_METRICS_TESTING_H_
#define PS_COMMON_METRICS_TESTING_H_

#include <map>
#include <string>

#include "common/metrics.h"

namespace ps {

// The sample of family `name` with exactly `labels`: a counter's or
// gauge's value, a histogram's count; -1 when there is none.
inline double MetricValue(const Metrics& metrics, const std::string& name,
                          const std::map<std::string, std::string>& labels =
                              {}) {
  for (const prometheus::MetricFamily& f : metrics.Collect()) {
    if (f.name != name) continue;
    for (const prometheus::ClientMetric& m : f.metric) {
      std::map<std::string, std::string> have;
      for (const auto& l : m.label) have[l.name] = l.value;
      if (have != labels) continue;
      switch (f.type) {
        case prometheus::MetricType::Counter:
          return m.counter.value;
        case prometheus::MetricType::Histogram:
          return static_cast<double>(m.histogram.sample_count);
        default:
          return m.gauge.value;
      }
    }
  }
  return -1;
}

}  // namespace ps

#endif  // PS_COMMON_METRICS_TESTING_H_
