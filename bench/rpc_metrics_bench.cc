// rpc_metrics_bench: what RPC metrics (common/rpc_metrics.h) cost per call,
// in one process: three in-process gRPC servers with a raw Pull that
// answers at once: without metrics, with the interceptor StartServer
// installs, and recording the call in the handler (RpcMethodRecorder, as
// PsService does for the data plane). They are called in turn in blocks of
// --calls from one client thread, --repeats times.
//
// Prints the median wall time and process CPU time (client and server
// together) per call for each, and the median of the per-repeat
// differences from the server without metrics, with their range. A
// CPU-time difference is what the metrics add to every call, whatever the
// message size; dataplane_bench gives the throughput of real servers.
#include <time.h>

#include <algorithm>
#include <chrono>
#include <iostream>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/flags/usage.h"
#include "absl/strings/str_format.h"
#include "common/daemon.h"
#include "common/metrics.h"
#include "common/rpc.h"
#include "common/rpc_metrics.h"
#include "proto/ps/v1/ps.grpc.pb.h"

ABSL_FLAG(int, calls, 2000, "calls per block");
ABSL_FLAG(int, repeats, 21, "blocks per server, taken in turn");
ABSL_FLAG(int, response_bytes, 1024, "bytes of each answer's values");

namespace ps::bench {
namespace {

// Answers every Pull at once with the same bytes; records it with
// `recorder` unless null.
class EchoServer final : public v1::ParameterServer::WithRawCallbackMethod_Pull<
                             v1::ParameterServer::Service> {
 public:
  EchoServer(int bytes, RpcMethodRecorder* recorder) : recorder_(recorder) {
    v1::PullResponse answer;
    answer.set_values(std::string(bytes, 'v'));
    answer_ = answer.SerializeAsString();
  }
  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* ctx,
                                 const grpc::ByteBuffer* request,
                                 grpc::ByteBuffer* response) override {
    const auto start = std::chrono::steady_clock::now();
    grpc::Slice slice(answer_);
    *response = grpc::ByteBuffer(&slice, 1);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    if (recorder_ != nullptr) {
      const std::chrono::duration<double> took =
          std::chrono::steady_clock::now() - start;
      recorder_->Record(grpc::StatusCode::OK, took.count(),
                        static_cast<int64_t>(request->Length()),
                        static_cast<int64_t>(response->Length()));
    }
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::string answer_;
  RpcMethodRecorder* const recorder_;
};

double ProcessCpuSeconds() {
  timespec t{};
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec + t.tv_nsec * 1e-9;
}

struct Block {
  double wall_us = 0, cpu_us = 0;  // per call
};

absl::StatusOr<Block> Calls(v1::ParameterServer::Stub* stub, int n) {
  v1::PullRequest request;
  request.set_job_id("bench");
  v1::PullResponse response;
  const auto start = std::chrono::steady_clock::now();
  const double cpu = ProcessCpuSeconds();
  for (int i = 0; i < n; ++i) {
    grpc::ClientContext ctx;
    grpc::Status s = stub->Pull(&ctx, request, &response);
    if (!s.ok()) return absl::InternalError(s.error_message());
  }
  const std::chrono::duration<double> wall =
      std::chrono::steady_clock::now() - start;
  return Block{1e6 * wall.count() / n, 1e6 * (ProcessCpuSeconds() - cpu) / n};
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

std::string Spread(const std::vector<double>& v) {
  const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
  return absl::StrFormat("%+.2f (%+.2f to %+.2f)", Median(v), *lo, *hi);
}

// One server of the comparison.
struct Variant {
  std::string name;
  std::unique_ptr<EchoServer> service;
  RunningServer server;
  std::unique_ptr<v1::ParameterServer::Stub> stub;
  std::vector<double> wall, cpu, d_wall, d_cpu;  // per block
};

absl::Status Run() {
  Metrics metrics;
  const std::string name = v1::ParameterServer::service_full_name();
  const std::string pull = "/" + name + "/Pull";
  RpcMethodRecorder recorder(&metrics.registry(), name, "Pull");
  const int bytes = absl::GetFlag(FLAGS_response_bytes);
  std::vector<Variant> variants(3);
  variants[0].name = "off";
  variants[1].name = "interceptor";
  variants[2].name = "in the handler";
  for (int i = 0; i < 3; ++i) {
    Variant& v = variants[i];
    v.service = std::make_unique<EchoServer>(bytes, i == 2 ? &recorder : nullptr);
    ServerMetrics with;
    if (i > 0) with = {.registry = &metrics.registry(), .raw_methods = {pull}};
    if (i == 2) with.self_recorded = {pull};
    absl::StatusOr<RunningServer> server =
        StartServer("127.0.0.1", 0, {v.service.get()}, {name}, {}, with);
    if (!server.ok()) return server.status();
    v.server = *std::move(server);
    v.stub = v1::ParameterServer::NewStub(MakeChannel(v.server.address));
  }
  const int calls = absl::GetFlag(FLAGS_calls);
  for (Variant& v : variants) {  // warm up
    if (absl::StatusOr<Block> b = Calls(v.stub.get(), calls); !b.ok()) {
      return b.status();
    }
  }
  for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
    std::vector<Block> blocks(variants.size());
    for (size_t k = 0; k < variants.size(); ++k) {
      const size_t i = (k + r) % variants.size();  // each goes first in turn
      absl::StatusOr<Block> b = Calls(variants[i].stub.get(), calls);
      if (!b.ok()) return b.status();
      blocks[i] = *b;
    }
    for (size_t i = 0; i < variants.size(); ++i) {
      variants[i].wall.push_back(blocks[i].wall_us);
      variants[i].cpu.push_back(blocks[i].cpu_us);
      variants[i].d_wall.push_back(blocks[i].wall_us - blocks[0].wall_us);
      variants[i].d_cpu.push_back(blocks[i].cpu_us - blocks[0].cpu_us);
    }
  }
  absl::PrintF(
      "| metrics | wall us/call | CPU us/call (client + server) | wall - off "
      "| CPU - off |\n|--|--:|--:|--:|--:|\n");
  for (Variant& v : variants) {
    v.server.server->Shutdown();
    absl::PrintF("| %s | %.2f | %.2f | %s | %s |\n", v.name, Median(v.wall),
                 Median(v.cpu), Spread(v.d_wall), Spread(v.d_cpu));
  }
  absl::PrintF(
      "\nMedians over %d blocks of %d unary Pull calls each (a %d-byte "
      "answer), the servers in turn; the differences are the median (range) "
      "of each block's difference from the block of the server without "
      "metrics in the same repeat.\n",
      absl::GetFlag(FLAGS_repeats), calls, bytes);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ps::bench

int main(int argc, char** argv) {
  absl::SetProgramUsageMessage(
      "rpc_metrics_bench [--calls=2000] [--repeats=21]");
  absl::ParseCommandLine(argc, argv);
  ps::DisableMutexDeadlockDetection();
  if (absl::Status s = ps::bench::Run(); !s.ok()) {
    std::cerr << "rpc_metrics_bench: " << s << "\n";
    return 1;
  }
  return 0;
}
