#include "common/metrics.h"

#include <netdb.h>
#include <sys/socket.h>
#include <unistd.h>

#include <exception>
#include <list>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "prometheus/exposer.h"
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

// The registry and the collectors; shared with the endpoint through a weak
// pointer, so an endpoint that outlives its Metrics serves nothing instead
// of freed memory.
class Metrics::Impl final : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
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

std::weak_ptr<prometheus::Collectable> Metrics::collectable() const {
  return impl_;
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

MetricsEndpoint::MetricsEndpoint(std::unique_ptr<prometheus::Exposer> exposer,
                                 std::string address, int port)
    : exposer_(std::move(exposer)), address_(std::move(address)), port_(port) {}

namespace {

// Opens and closes one connection to host:port, to wake a server blocked in
// poll(); errors do not matter.
void Poke(const std::string& host, int port) {
  addrinfo hints{};
  hints.ai_family = AF_INET;
  hints.ai_socktype = SOCK_STREAM;
  addrinfo* found = nullptr;
  if (getaddrinfo(host.c_str(), std::to_string(port).c_str(), &hints,
                  &found) != 0) {
    return;
  }
  const int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  if (fd >= 0) {
    connect(fd, found->ai_addr, found->ai_addrlen);
    close(fd);
  }
  freeaddrinfo(found);
}

}  // namespace

MetricsEndpoint::~MetricsEndpoint() {
  // civetweb's stop waits for its listening thread, which checks for it
  // only between poll()s of up to 2 s; a connection ends the poll at once,
  // so a daemon's shutdown is not held up.
  absl::Notification stopped;
  std::thread poker([&] {
    const std::string host = address_.substr(0, address_.rfind(':'));
    do {
      Poke(host, port_);
    } while (!stopped.WaitForNotificationWithTimeout(absl::Milliseconds(20)));
  });
  exposer_.reset();
  stopped.Notify();
  poker.join();
}

absl::StatusOr<std::unique_ptr<MetricsEndpoint>> MetricsEndpoint::Start(
    const std::string& host, int port, const Metrics* metrics) {
  const std::string wanted = absl::StrCat(host, ":", port);
  std::unique_ptr<prometheus::Exposer> exposer;
  // prometheus-cpp reports a failed bind by throwing (civetweb's
  // CivetException); this is the one place it can, so it is caught here.
  try {
    exposer = std::make_unique<prometheus::Exposer>(wanted, /*num_threads=*/2);
  } catch (const std::exception& e) {
    return absl::UnavailableError(absl::StrCat(
        "cannot serve metrics on ", wanted,
        " (address in use, or not an IPv4 address of this machine): ",
        e.what()));
  }
  const std::vector<int> ports = exposer->GetListeningPorts();
  if (ports.empty() || ports[0] <= 0) {
    return absl::UnavailableError(
        absl::StrCat("metrics endpoint on ", wanted, " has no port"));
  }
  exposer->RegisterCollectable(metrics->collectable());
  return std::unique_ptr<MetricsEndpoint>(new MetricsEndpoint(
      std::move(exposer), absl::StrCat(host, ":", ports[0]), ports[0]));
}

}  // namespace ps
