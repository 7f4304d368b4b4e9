#include "common/metrics.h"

#include <list>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "prometheus/text_serializer.h"

namespace ps {

const std::vector<double>& LatencyBuckets() {
  static const auto* const kBuckets = new std::vector<double>{
      0.0001, 0.0005, 0.001, 0.0025, 0.005, 0.01,
      0.025,  0.05,   0.1,   0.25,   1,     10};
  return *kBuckets;
}

const std::vector<double>& WaitBuckets() {
  static const auto* const kBuckets = new std::vector<double>{
      0.0001, 0.001, 0.005, 0.025, 0.1, 0.5, 2.5, 10, 60};
  return *kBuckets;
}

const std::vector<double>& StalenessBuckets() {
  static const auto* const kBuckets =
      new std::vector<double>{0, 1, 2, 4, 8, 16, 32, 64};
  return *kBuckets;
}

struct Metrics::Collector::Entry {
  CollectFn collect;
  std::weak_ptr<Metrics::Impl> owner;
};

// The registry and the collectors; shared with the collectors' handles
// through weak pointers, so a handle may outlive its Metrics.
class Metrics::Impl {
 public:
  std::vector<prometheus::MetricFamily> Collect() const {
    std::vector<prometheus::MetricFamily> out = registry.Collect();
    // Held while collectors run: removing one waits for them (the
    // collector's owner is about to be destroyed).
    absl::ReaderMutexLock lock(&mu);
    for (const auto& entry : collectors) entry->collect(&out);
    return out;
  }

  prometheus::Registry registry;
  mutable absl::Mutex mu;
  std::list<std::shared_ptr<Collector::Entry>> collectors ABSL_GUARDED_BY(mu);
};

Metrics::Collector::~Collector() {
  std::shared_ptr<Impl> owner = entry_->owner.lock();
  if (owner == nullptr) return;
  absl::MutexLock lock(&owner->mu);
  owner->collectors.remove(entry_);
}

Metrics::Metrics() : impl_(std::make_shared<Impl>()) {}
Metrics::~Metrics() = default;

prometheus::Registry& Metrics::registry() { return impl_->registry; }

std::unique_ptr<Metrics::Collector> Metrics::AddCollector(CollectFn collect) {
  auto entry = std::make_shared<Collector::Entry>();
  entry->collect = std::move(collect);
  entry->owner = impl_;
  {
    absl::MutexLock lock(&impl_->mu);
    impl_->collectors.push_back(entry);
  }
  return std::unique_ptr<Collector>(new Collector(std::move(entry)));
}

std::vector<prometheus::MetricFamily> Metrics::Collect() const {
  return impl_->Collect();
}

std::string Metrics::Text() const {
  return prometheus::TextSerializer().Serialize(Collect());
}

prometheus::MetricFamily MakeFamily(std::string name, std::string help,
                                    prometheus::MetricType type) {
  prometheus::MetricFamily f;
  f.name = std::move(name);
  f.help = std::move(help);
  f.type = type;
  return f;
}

void AddSample(prometheus::MetricFamily* family,
               std::vector<std::pair<std::string, std::string>> labels,
               double value) {
  prometheus::ClientMetric& m = family->metric.emplace_back();
  for (auto& [name, v] : labels) {
    m.label.push_back({std::move(name), std::move(v)});
  }
  if (family->type == prometheus::MetricType::Counter) {
    m.counter.value = value;
  } else {
    m.gauge.value = value;
  }
}

}  // namespace ps
