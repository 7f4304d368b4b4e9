// rpc_metrics_bench: what the RPC metrics interceptor (common/rpc_metrics.h)
// costs per call, in one process: two in-process gRPC servers with a raw
// Pull that answers at once, one without metrics and one with them (as
// StartServer installs them), called in turn in blocks of --calls from one
// client thread, --repeats times.
//
// Prints the median wall time and process CPU time (client and server
// together) per call for each, and the median of the per-repeat
// differences, on - off, with their range. A CPU-time difference is what
// the interceptor and its metrics add to every call, whatever the message
// size; dataplane_bench gives the throughput of real servers.
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
#include "proto/ps/v1/ps.grpc.pb.h"

ABSL_FLAG(int, calls, 2000, "calls per block");
ABSL_FLAG(int, repeats, 21, "blocks per server, taken in turn");
ABSL_FLAG(int, response_bytes, 1024, "bytes of each answer's values");

namespace ps::bench {
namespace {

// Answers every Pull at once with the same bytes.
class EchoServer final : public v1::ParameterServer::WithRawCallbackMethod_Pull<
                             v1::ParameterServer::Service> {
 public:
  explicit EchoServer(int bytes) {
    v1::PullResponse answer;
    answer.set_values(std::string(bytes, 'v'));
    answer_ = answer.SerializeAsString();
  }
  grpc::ServerUnaryReactor* Pull(grpc::CallbackServerContext* ctx,
                                 const grpc::ByteBuffer*,
                                 grpc::ByteBuffer* response) override {
    grpc::Slice slice(answer_);
    *response = grpc::ByteBuffer(&slice, 1);
    grpc::ServerUnaryReactor* reactor = ctx->DefaultReactor();
    reactor->Finish(grpc::Status::OK);
    return reactor;
  }

 private:
  std::string answer_;
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

absl::Status Run() {
  EchoServer off_service(absl::GetFlag(FLAGS_response_bytes));
  EchoServer on_service(absl::GetFlag(FLAGS_response_bytes));
  Metrics metrics;
  const std::string name = v1::ParameterServer::service_full_name();
  absl::StatusOr<RunningServer> off =
      StartServer("127.0.0.1", 0, {&off_service}, {name});
  if (!off.ok()) return off.status();
  absl::StatusOr<RunningServer> on = StartServer(
      "127.0.0.1", 0, {&on_service}, {name}, {},
      {.registry = &metrics.registry(),
       .raw_methods = {"/" + name + "/Pull"}});
  if (!on.ok()) return on.status();
  auto off_stub = v1::ParameterServer::NewStub(MakeChannel(off->address));
  auto on_stub = v1::ParameterServer::NewStub(MakeChannel(on->address));
  const int calls = absl::GetFlag(FLAGS_calls);
  for (auto* stub : {off_stub.get(), on_stub.get()}) {  // warm up
    if (absl::StatusOr<Block> b = Calls(stub, calls); !b.ok()) {
      return b.status();
    }
  }
  std::vector<double> off_wall, off_cpu, on_wall, on_cpu, d_wall, d_cpu;
  for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
    absl::StatusOr<Block> a, b;
    if (r % 2 == 0) {
      a = Calls(off_stub.get(), calls);
      b = Calls(on_stub.get(), calls);
    } else {
      b = Calls(on_stub.get(), calls);
      a = Calls(off_stub.get(), calls);
    }
    if (!a.ok()) return a.status();
    if (!b.ok()) return b.status();
    off_wall.push_back(a->wall_us);
    off_cpu.push_back(a->cpu_us);
    on_wall.push_back(b->wall_us);
    on_cpu.push_back(b->cpu_us);
    d_wall.push_back(b->wall_us - a->wall_us);
    d_cpu.push_back(b->cpu_us - a->cpu_us);
  }
  off->server->Shutdown();
  on->server->Shutdown();
  absl::PrintF(
      "| metrics | wall us/call | CPU us/call (client + server) |\n"
      "|--|--:|--:|\n"
      "| off | %.2f | %.2f |\n| on | %.2f | %.2f |\n"
      "| on - off | %s | %s |\n\n"
      "Medians over %d blocks of %d unary Pull calls each (a %d-byte "
      "answer), off and on in turn; on - off is the median (range) of the "
      "per-block differences.\n",
      Median(off_wall), Median(off_cpu), Median(on_wall), Median(on_cpu),
      Spread(d_wall), Spread(d_cpu), absl::GetFlag(FLAGS_repeats), calls,
      absl::GetFlag(FLAGS_response_bytes));
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
