#include "common/rpc_metrics.h"

#include <chrono>

#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "common/metrics.h"
#include "google/protobuf/descriptor.h"
#include "google/protobuf/message_lite.h"
#include "grpcpp/support/byte_buffer.h"

namespace ps {

RpcMethodRecorder::RpcMethodRecorder(prometheus::Registry* registry,
                                     std::string service, std::string method)
    : families_{&prometheus::BuildCounter()
                     .Name("ps_rpc_server_handled_total")
                     .Help("RPCs completed by this server, by method and "
                           "status code")
                     .Register(*registry),
                &prometheus::BuildHistogram()
                     .Name("ps_rpc_server_handling_seconds")
                     .Help("Time from an RPC's start to its status, by method")
                     .Register(*registry),
                &prometheus::BuildCounter()
                     .Name("ps_rpc_server_received_bytes_total")
                     .Help("Request message bytes received (serialized), by "
                           "method")
                     .Register(*registry),
                &prometheus::BuildCounter()
                     .Name("ps_rpc_server_sent_bytes_total")
                     .Help("Response message bytes sent (serialized), by "
                           "method")
                     .Register(*registry)},
      labels_{{"service", std::move(service)}, {"method", std::move(method)}} {}

const RpcMethodRecorder::Series& RpcMethodRecorder::series() {
  absl::call_once(once_, [this] {
    series_.seconds = &families_.seconds->Add(labels_, LatencyBuckets());
    series_.received = &families_.received->Add(labels_);
    series_.sent = &families_.sent->Add(labels_);
  });
  return series_;
}

void RpcMethodRecorder::Received(int64_t bytes) {
  series().received->Increment(static_cast<double>(bytes));
}

void RpcMethodRecorder::Sent(int64_t bytes) {
  series().sent->Increment(static_cast<double>(bytes));
}

void RpcMethodRecorder::Handled(grpc::StatusCode code, double seconds) {
  int c = static_cast<int>(code);
  if (c < 0 || c >= kCodes) c = static_cast<int>(grpc::UNKNOWN);
  prometheus::Counter* counter = handled_[c].load(std::memory_order_acquire);
  if (counter == nullptr) {
    // Family::Add is thread-safe and returns the same child for the same
    // labels, so racing first calls agree.
    prometheus::Labels labels = labels_;
    labels["code"] = absl::StatusCodeToString(static_cast<absl::StatusCode>(c));
    counter = &families_.handled->Add(labels);
    handled_[c].store(counter, std::memory_order_release);
  }
  counter->Increment();
  series().seconds->Observe(seconds);
}

void RpcMethodRecorder::Record(grpc::StatusCode code, double seconds,
                               int64_t received, int64_t sent) {
  const Series& s = series();
  s.received->Increment(static_cast<double>(received));
  s.sent->Increment(static_cast<double>(sent));
  Handled(code, seconds);
}

namespace {

// How a method's handler takes its requests.
enum class RequestKind { kProto, kBytes, kUnknown };

// gRPC's own services in every server (common/rpc.cc enables both). The
// default health service is built on grpc::ByteBuffer (it encodes its
// messages itself); reflection on protobuf messages.
constexpr absl::string_view kHealthService = "grpc.health.v1.Health";
constexpr absl::string_view kReflectionService =
    "grpc.reflection.v1alpha.ServerReflection";

using Clock = std::chrono::steady_clock;

}  // namespace

struct RpcServerMetrics::Method {
  Method(prometheus::Registry* registry, absl::string_view service,
         absl::string_view method, RequestKind kind)
      : kind(kind),
        recorder(registry, std::string(service), std::string(method)) {}
  RequestKind kind;
  bool self_recorded = false;  // no interceptor
  RpcMethodRecorder recorder;
};

struct RpcServerMetrics::Table {
  // By path; built once, read without a lock.
  absl::flat_hash_map<std::string, std::unique_ptr<Method>> methods;
  std::unique_ptr<Method> unknown;
};

namespace {

// One call's interceptor.
class MetricsInterceptor final : public grpc::experimental::Interceptor {
 public:
  explicit MetricsInterceptor(RpcServerMetrics::Method* method)
      : method_(method), start_(Clock::now()) {}
  ~MetricsInterceptor() override {
    // A call that ended without sending a status (cancelled first).
    if (!done_) Finish(grpc::CANCELLED);
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
        method_->recorder.Sent(static_cast<int64_t>(b->Length()));
      }
    }
    if (m->QueryInterceptionHookPoint(Hook::PRE_SEND_STATUS)) {
      Finish(m->GetSendStatus().error_code());
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
    method_->recorder.Received(static_cast<int64_t>(bytes));
  }

  void Finish(grpc::StatusCode code) {
    done_ = true;
    const std::chrono::duration<double> elapsed = Clock::now() - start_;
    method_->recorder.Handled(code, elapsed.count());
  }

  RpcServerMetrics::Method* const method_;
  const Clock::time_point start_;
  bool done_ = false;
};

std::string PathOf(absl::string_view service, absl::string_view method) {
  return absl::StrCat("/", service, "/", method);
}

}  // namespace

class RpcServerMetrics::Factory final
    : public grpc::experimental::ServerInterceptorFactoryInterface {
 public:
  explicit Factory(std::shared_ptr<const RpcServerMetrics> metrics)
      : metrics_(std::move(metrics)) {}
  grpc::experimental::Interceptor* CreateServerInterceptor(
      grpc::experimental::ServerRpcInfo* info) override {
    Method* method = metrics_->Find(info->method());
    // No interceptor at all: gRPC then skips its interceptor machinery.
    if (method->self_recorded) return nullptr;
    return new MetricsInterceptor(method);
  }

 private:
  const std::shared_ptr<const RpcServerMetrics> metrics_;
};

absl::StatusOr<std::shared_ptr<const RpcServerMetrics>>
RpcServerMetrics::Create(prometheus::Registry* registry,
                         const RpcServerMethods& methods) {
  auto table = std::make_unique<Table>();
  auto add = [&](absl::string_view service, absl::string_view method,
                 RequestKind kind) {
    table->methods[PathOf(service, method)] =
        std::make_unique<Method>(registry, service, method, kind);
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
  auto find = [&](const std::string& path,
                  const char* what) -> absl::StatusOr<Method*> {
    auto it = table->methods.find(path);
    if (it == table->methods.end()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "RPC metrics: ", what, " method ", path, " is not a method of [",
          absl::StrJoin(methods.services, ", "), "]"));
    }
    return it->second.get();
  };
  for (const std::string& path : methods.raw_methods) {
    absl::StatusOr<Method*> m = find(path, "raw");
    if (!m.ok()) return m.status();
    (*m)->kind = RequestKind::kBytes;
  }
  for (const std::string& path : methods.self_recorded) {
    absl::StatusOr<Method*> m = find(path, "self-recorded");
    if (!m.ok()) return m.status();
    (*m)->self_recorded = true;
  }
  add(kHealthService, "Check", RequestKind::kBytes);
  add(kHealthService, "Watch", RequestKind::kBytes);
  add(kReflectionService, "ServerReflectionInfo", RequestKind::kProto);
  table->unknown = std::make_unique<Method>(registry, "unknown", "unknown",
                                            RequestKind::kUnknown);
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
