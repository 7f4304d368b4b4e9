#include "common/rpc_metrics.h"

#include <array>
#include <atomic>
#include <chrono>

#include "absl/base/call_once.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/metrics.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message_lite.h"
#include "grpcpp/support/byte_buffer.h"
#include "prometheus/counter.h"
#include "prometheus/histogram.h"

namespace ps {

namespace {

constexpr int kCodes = 17;  // grpc::StatusCode OK .. UNAUTHENTICATED

// How a method's handler takes its requests.
enum class RequestKind { kProto, kBytes, kUnknown };

// gRPC's own services in every server (common/rpc.cc enables both). The
// default health service is built on grpc::ByteBuffer (it encodes its
// messages itself); reflection on protobuf messages.
constexpr absl::string_view kHealthService = "grpc.health.v1.Health";
constexpr absl::string_view kReflectionService =
    "grpc.reflection.v1alpha.ServerReflection";

// The families every method's series belong to.
struct Families {
  prometheus::Family<prometheus::Counter>* handled;
  prometheus::Family<prometheus::Histogram>* seconds;
  prometheus::Family<prometheus::Counter>* received;
  prometheus::Family<prometheus::Counter>* sent;
};

}  // namespace

// A method's series, made on its first call: a server's scrape shows the
// methods it was called with, not every method of its services.
struct RpcServerMetrics::Method {
  RequestKind kind = RequestKind::kUnknown;
  prometheus::Labels labels;  // service, method
  const Families* families = nullptr;

  struct Series {
    prometheus::Histogram* seconds;
    prometheus::Counter* received;
    prometheus::Counter* sent;
  };
  // After the first call, one atomic load.
  const Series& Get() {
    absl::call_once(once, [this] {
      series.seconds = &families->seconds->Add(labels, LatencyBuckets());
      series.received = &families->received->Add(labels);
      series.sent = &families->sent->Add(labels);
    });
    return series;
  }

  void Handled(int code, double elapsed) {
    if (code < 0 || code >= kCodes) code = static_cast<int>(grpc::UNKNOWN);
    prometheus::Counter* c = handled[code].load(std::memory_order_acquire);
    if (c == nullptr) {
      // Family::Add is thread-safe and returns the same child for the same
      // labels, so racing first calls agree.
      prometheus::Labels l = labels;
      l["code"] = absl::StatusCodeToString(static_cast<absl::StatusCode>(code));
      c = &families->handled->Add(l);
      handled[code].store(c, std::memory_order_release);
    }
    c->Increment();
    series.seconds->Observe(elapsed);
  }

 private:
  absl::once_flag once;
  Series series{};
  // By status code, added to the family on first use.
  std::array<std::atomic<prometheus::Counter*>, kCodes> handled{};
};

struct RpcServerMetrics::Table {
  Families families;
  // By path; built once, read without a lock.
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods;
  std::unique_ptr<Method> unknown;
};

namespace {

using Clock = std::chrono::steady_clock;

// One call's interceptor.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit MetricsInterceptor(RpcServerMetrics::Method* method)
      : method_(method), series_(method->Get()), start_(Clock::now()) {}
  ~MetricsInterceptor() override {
    // A call that ended without sending a status (cancelled first).
    if (!done_) Finish(static_cast<int>(grpc::CANCELLED));
  }

  void Intercept(grpc::experimental::InterceptorBatchMethods* m) override {
    using Hook = grpc::experimental::InterceptionHookPoints;
    if (m->QueryInterceptionHookPoint(Hook::POST_RECV_MESSAGE)) {
      Received(m->GetRecvMessage());
    }
    if (m->QueryInterceptionHookPoint(Hook::PRE_SEND_MESSAGE)) {
      // Serializes the message here rather than later in the same batch (no
      // extra copy); a ByteBuffer answer only gains a reference.
      if (const grpc::ByteBuffer* b = m->GetSerializedSendMessage()) {
        series_.sent->Increment(static_cast<double>(b->Length()));
      }
    }
    if (m->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
      Finish(static_cast<int>(m->GetSendStatus().error_code()));
    }
    m->Proceed();
  }

 private:
  void Received(const void* message) {
    if (message == nullptr) return;  // end of a client stream
    size_t bytes = 0;
    switch (method_->kind) {
      case RequestKind::kBytes:
        bytes = static_cast<const grpc::ByteBuffer*>(message)->Length();
        break;
      case RequestKind::kProto:
        // The generated message's MessageLite base is at its start, so the
        // handler's pointer to it is a pointer to the base.
        bytes = static_cast<const google::protobuf::MessageLite*>(message)
                    ->ByteSizeLong();
        break;
      case RequestKind::kUnknown:
        return;
    }
    series_.received->Increment(static_cast<double>(bytes));
  }

  void Finish(int code) {
    done_ = true;
    const std::chrono::duration<double> elapsed = Clock::now() - start_;
    method_->Handled(code, elapsed.count());
  }

  RpcServerMetrics::Method* const method_;
  const RpcServerMetrics::Method::Series& series_;
  const Clock::time_point start_;
  bool done_ = false;
};

}  // namespace

class RpcServerMetrics::Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(std::shared_ptr<const RpcServerMetrics> metrics)
      : metrics_(std::move(metrics)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    return new MetricsInterceptor(metrics_->Find(info->method()));
  }

 private:
  const std::shared_ptr<const RpcServerMetrics> metrics_;
};

namespace {

Families MakeFamilies(prometheus::Registry* r) {
  return Families{
      &prometheus::BuildCounter()
           .Name("ps_rpc_server_handled_total")
           .Help("RPCs completed by this server, by method and status code")
           .Register(*r),
      &prometheus::BuildHistogram()
           .Name("ps_rpc_server_handling_seconds")
           .Help("Time from an RPC's start to its status, by method")
           .Register(*r),
      &prometheus::BuildCounter()
           .Name("ps_rpc_server_received_bytes_total")
           .Help("Request message bytes received (serialized), by method")
           .Register(*r),
      &prometheus::BuildCounter()
           .Name("ps_rpc_server_sent_bytes_total")
           .Help("Response message bytes sent (serialized), by method")
           .Register(*r)};
}

std::string PathOf(absl::string_view service, absl::string_view method) {
  return absl::StrCat("/", service, "/", method);
}

}  // namespace

absl::StatusOr<std::shared_ptr<const RpcServerMetrics>>
RpcServerMetrics::Create(prometheus::Registry* registry,
                         const RpcServerMethods& methods) {
  auto table = std::make_unique<Table>();
  table->families = MakeFamilies(registry);
  auto make = [&](absl::string_view service, absl::string_view method,
                  RequestKind kind) {
    auto m = std::make_unique<Method>();
    m->kind = kind;
    m->labels = {{"service", std::string(service)},
                 {"method", std::string(method)}};
    m->families = &table->families;
    return m;
  };
  auto add = [&](absl::string_view service, absl::string_view method,
                 RequestKind kind) {
    table->methods[PathOf(service, method)] = make(service, method, kind);
  };
  for (const std::string& name : methods.services) {
    const google::protobuf::ServiceDescriptor* service =
        google::protobuf::DescriptorPool::generated_pool()->FindServiceByName(
            name);
    if (service == nullptr) {
      return absl::InvalidArgumentError(absl::StrCat(
          "RPC metrics: service ", name, " is not a generated service"));
    }
    for (int i = 0; i < service->method_count(); ++i) {
      add(name, service->method(i)->name(), RequestKind::kProto);
    }
  }
  for (const std::string& path : methods.raw_methods) {
    auto it = table->methods.find(path);
    if (it == table->methods.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "RPC metrics: raw method ", path, " is not a method of [",
          absl::StrJoin(methods.services, ", "), "]"));
    }
    it->second->kind = RequestKind::kBytes;
  }
  add(kHealthService, "Check", RequestKind::kBytes);
  add(kHealthService, "Watch", RequestKind::kBytes);
  add(kReflectionService, "ServerReflectionInfo", RequestKind::kProto);
  table->unknown = make("unknown", "unknown", RequestKind::kUnknown);
  std::shared_ptr<RpcServerMetrics> out(new RpcServerMetrics());
  out->table_ = std::move(table);
  return out;
}

RpcServerMetrics::~RpcServerMetrics() = default;

RpcServerMetrics::Method* RpcServerMetrics::Find(const char* path) const {
  if (path != nullptr) {
    auto it = table_->methods.find(absl::string_view(path));
    if (it != table_->methods.end()) return it->second.get();
  }
  return table_->unknown.get();
}

std::unique_ptr<grpc::experimental::ServerInterceptorFactoryInterface>
RpcServerMetrics::InterceptorFactory(
    std::shared_ptr<const RpcServerMetrics> metrics) {
  return std::make_unique<Factory>(std::move(metrics));
}

}  // namespace ps
