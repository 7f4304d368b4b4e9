// step_bench: times one training step (forward + backward, no optimizer
// update) of an MLP on the worker's compute backends, for comparison with
// PyTorch (bench/torch_step.py); bench/run_step_bench.sh runs both side by
// side and prints the table.
//
// A step is what the trainer pays per batch: Model::ForwardBackward from host
// parameters and batch to host gradients. On CUDA that includes the
// host<->device copies, so the GEMMs alone (the same shapes, on the device)
// and cuBLAS's best SGEMM rate on the same GPU are timed too: together they
// say how close the step's GEMMs come to what the GPU can do.
//
// Prints one JSON object on stdout.
#include <algorithm>
#include <chrono>
#include <cstdio>
#include <random>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/status/statusor.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "worker/cpu/cpu_mlp.h"
#include "worker/cuda/cuda_mlp.h"
#include "worker/cuda/gpu_runtime.h"
#include "worker/model/compute.h"
#include "worker/model/mlp_spec.h"

ABSL_FLAG(std::string, device, "cpu", "backend: cpu or cuda");
ABSL_FLAG(int, threads, 1, "OpenBLAS threads for the CPU backend");
ABSL_FLAG(std::string, layers, "784,1024,1024,10",
          "layer sizes from input to classes");
ABSL_FLAG(int, batch, 512, "rows per step");
ABSL_FLAG(int, warmup, 5, "untimed steps first");
ABSL_FLAG(int, steps, 30, "timed steps");
ABSL_FLAG(int, gpu, 0, "GPU index for --device=cuda");

extern "C" void openblas_set_num_threads(int);

namespace ps::worker {
namespace {

using gpu::Transpose;

struct Timing {
  double median_ms = 0;
  double min_ms = 0;
};

Timing Summarize(std::vector<double> ms) {
  std::sort(ms.begin(), ms.end());
  return {ms[ms.size() / 2], ms.front()};
}

// FLOPs of the step's GEMMs: per layer the forward product and the weight
// gradient, and the input gradient for every layer but the first.
double StepGemmFlops(const std::vector<int64_t>& sizes, int64_t rows) {
  double flops = 0;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    const double mnk = 2.0 * rows * sizes[l] * sizes[l + 1];
    flops += (l == 0 ? 2 : 3) * mnk;
  }
  return flops;
}

absl::StatusOr<Timing> TimeSteps(Model& model,
                                 const std::vector<int64_t>& sizes,
                                 int64_t rows) {
  std::mt19937 rng(1);
  std::uniform_real_distribution<float> uniform(-0.05f, 0.05f);
  std::vector<float> params(model.num_params()), grads(params.size());
  std::vector<float> x(rows * sizes.front());
  for (float& v : params) v = uniform(rng);
  for (float& v : x) v = 20 * uniform(rng);
  std::vector<int32_t> y(rows);
  for (int32_t& v : y) v = static_cast<int32_t>(rng() % sizes.back());
  const Batch batch{x.data(), y.data(), rows, sizes.front()};
  std::vector<double> ms;
  const int warmup = absl::GetFlag(FLAGS_warmup);
  for (int i = 0; i < warmup + absl::GetFlag(FLAGS_steps); ++i) {
    BatchStats stats;
    const auto start = std::chrono::steady_clock::now();
    absl::Status s =
        model.ForwardBackward(params.data(), batch, grads.data(), &stats);
    const auto end = std::chrono::steady_clock::now();
    if (!s.ok()) return s;
    if (i >= warmup) {
      ms.push_back(
          std::chrono::duration<double, std::milli>(end - start).count());
    }
  }
  return Summarize(ms);
}

// Runs `gemms` (which queues GEMMs on stream) `reps` times between timed
// events after two untimed runs; returns milliseconds per run.
template <typename Fn>
absl::StatusOr<double> TimeOnDevice(const gpu::Stream& stream, int reps,
                                    Fn&& gemms) {
  absl::StatusOr<gpu::Event> start =
      gpu::Event::Create(gpu::Event::Timing::kEnabled);
  absl::StatusOr<gpu::Event> end =
      gpu::Event::Create(gpu::Event::Timing::kEnabled);
  if (!start.ok()) return start.status();
  if (!end.ok()) return end.status();
  for (int i = 0; i < 2; ++i) {
    if (absl::Status s = gemms(); !s.ok()) return s;
  }
  if (absl::Status s = stream.Record(*start); !s.ok()) return s;
  for (int i = 0; i < reps; ++i) {
    if (absl::Status s = gemms(); !s.ok()) return s;
  }
  if (absl::Status s = stream.Record(*end); !s.ok()) return s;
  if (absl::Status s = end->Synchronize(); !s.ok()) return s;
  absl::StatusOr<float> ms = gpu::ElapsedMilliseconds(*start, *end);
  if (!ms.ok()) return ms.status();
  return *ms / reps;
}

// Device memory for n floats, zeroed (garbage could hold NaNs).
absl::StatusOr<gpu::DeviceArray<float>> Zeros(const gpu::Stream& stream,
                                              int64_t n) {
  absl::StatusOr<gpu::DeviceArray<float>> a =
      gpu::DeviceArray<float>::Allocate(n);
  if (!a.ok()) return a.status();
  if (absl::Status s = stream.Zero(a->data(), n * sizeof(float)); !s.ok()) {
    return s;
  }
  return a;
}

// The step's GEMMs alone, in the order and shapes CudaDenseStack runs them,
// on device-resident data: milliseconds per step.
absl::StatusOr<double> GemmOnlyMs(const gpu::Stream& stream,
                                  const gpu::Blas& blas,
                                  const std::vector<int64_t>& sizes,
                                  int64_t rows) {
  const int64_t widest = *std::max_element(sizes.begin(), sizes.end());
  absl::StatusOr<gpu::DeviceArray<float>> w = Zeros(stream, widest * widest);
  absl::StatusOr<gpu::DeviceArray<float>> a = Zeros(stream, rows * widest);
  absl::StatusOr<gpu::DeviceArray<float>> b = Zeros(stream, rows * widest);
  absl::StatusOr<gpu::DeviceArray<float>> g = Zeros(stream, widest * widest);
  if (!w.ok() || !a.ok() || !b.ok() || !g.ok()) {
    return absl::ResourceExhaustedError("allocating GEMM operands");
  }
  auto gemms = [&]() -> absl::Status {
    const int layers = static_cast<int>(sizes.size()) - 1;
    for (int l = 0; l < layers; ++l) {
      absl::Status s =
          blas.Gemm(Transpose::kNo, Transpose::kNo, rows, sizes[l + 1],
                    sizes[l], a->data(), w->data(), 0.0f, b->data());
      if (!s.ok()) return s;
    }
    for (int l = layers - 1; l >= 0; --l) {
      absl::Status s =
          blas.Gemm(Transpose::kYes, Transpose::kNo, sizes[l], sizes[l + 1],
                    rows, a->data(), b->data(), 0.0f, g->data());
      if (s.ok() && l > 0) {
        s = blas.Gemm(Transpose::kNo, Transpose::kYes, rows, sizes[l],
                      sizes[l + 1], b->data(), w->data(), 0.0f, a->data());
      }
      if (!s.ok()) return s;
    }
    return absl::OkStatus();
  };
  return TimeOnDevice(stream, 50, gemms);
}

// cuBLAS's best FP32 GEMM rate on this GPU (same math mode as the backend:
// no TF32), over a few large square sizes: TFLOP/s and the size reaching it.
absl::StatusOr<std::pair<double, int64_t>> CublasPeak(const gpu::Stream& stream,
                                                      const gpu::Blas& blas) {
  std::pair<double, int64_t> best = {0, 0};
  for (int64_t n : {2048, 4096, 8192}) {
    absl::StatusOr<gpu::DeviceArray<float>> a = Zeros(stream, n * n);
    absl::StatusOr<gpu::DeviceArray<float>> b = Zeros(stream, n * n);
    absl::StatusOr<gpu::DeviceArray<float>> c = Zeros(stream, n * n);
    if (!a.ok() || !b.ok() || !c.ok()) break;  // Too big for this GPU.
    absl::StatusOr<double> ms = TimeOnDevice(stream, 10, [&] {
      return blas.Gemm(Transpose::kNo, Transpose::kNo, n, n, n, a->data(),
                       b->data(), 0.0f, c->data());
    });
    if (!ms.ok()) return ms.status();
    const double tflops = 2.0 * n * n * n / (*ms * 1e-3) / 1e12;
    if (tflops > best.first) best = {tflops, n};
  }
  return best;
}

std::string Header(const std::string& impl, const std::string& device,
                   const std::vector<int64_t>& sizes, int64_t rows, int threads,
                   const Timing& t) {
  char buf[512];
  std::snprintf(buf, sizeof(buf),
                "{\"impl\": \"%s\", \"device\": \"%s\", \"threads\": %d, "
                "\"batch\": %lld, \"layers\": [%s], \"median_ms\": %.3f, "
                "\"min_ms\": %.3f",
                impl.c_str(), device.c_str(), threads,
                static_cast<long long>(rows),
                absl::StrJoin(sizes, ", ").c_str(), t.median_ms, t.min_ms);
  return buf;
}

int RunCpu(const std::vector<int64_t>& sizes, int64_t rows) {
  const int threads = absl::GetFlag(FLAGS_threads);
  openblas_set_num_threads(threads);
  absl::StatusOr<std::unique_ptr<Model>> model = CreateCpuMlp(sizes, rows);
  absl::StatusOr<Timing> t =
      model.ok() ? TimeSteps(**model, sizes, rows) : model.status();
  if (!t.ok()) {
    std::fprintf(stderr, "%s\n", t.status().ToString().c_str());
    return 1;
  }
  std::printf("%s}\n",
              Header("ps-cpu", "cpu", sizes, rows, threads, *t).c_str());
  return 0;
}

int RunCuda(const std::vector<int64_t>& sizes, int64_t rows) {
  const int gpu_index = absl::GetFlag(FLAGS_gpu);
  absl::StatusOr<Placement> where =
      ResolveDevice({.device = Device::kCuda, .gpu_index = gpu_index});
  absl::StatusOr<std::unique_ptr<Model>> model =
      where.ok() ? CreateCudaMlp(sizes, rows, gpu_index) : where.status();
  absl::StatusOr<Timing> t =
      model.ok() ? TimeSteps(**model, sizes, rows) : model.status();
  absl::StatusOr<gpu::Stream> stream = gpu::Stream::Create();
  absl::StatusOr<gpu::Blas> blas =
      stream.ok() ? gpu::Blas::Create(*stream) : stream.status();
  absl::StatusOr<double> gemm_ms =
      blas.ok() ? GemmOnlyMs(*stream, *blas, sizes, rows) : blas.status();
  absl::StatusOr<std::pair<double, int64_t>> peak =
      gemm_ms.ok() ? CublasPeak(*stream, *blas) : gemm_ms.status();
  if (!t.ok() || !peak.ok()) {
    std::fprintf(stderr, "%s\n",
                 (t.ok() ? peak.status() : t.status()).ToString().c_str());
    return 1;
  }
  const double flops = StepGemmFlops(sizes, rows);
  std::printf(
      "%s, \"step_gemm_tflops\": %.2f, \"gemm_only_ms\": %.3f, "
      "\"gemm_only_tflops\": %.2f, \"cublas_peak_tflops\": %.2f, "
      "\"cublas_peak_n\": %lld}\n",
      Header("ps-cuda", where->description, sizes, rows, 0, *t).c_str(),
      flops / (t->median_ms * 1e-3) / 1e12, *gemm_ms,
      flops / (*gemm_ms * 1e-3) / 1e12, peak->first,
      static_cast<long long>(peak->second));
  return 0;
}

}  // namespace
}  // namespace ps::worker

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  std::vector<int64_t> sizes;
  for (absl::string_view part :
       absl::StrSplit(absl::GetFlag(FLAGS_layers), ',')) {
    int64_t size = 0;
    if (!absl::SimpleAtoi(part, &size)) {
      std::fprintf(stderr, "--layers: \"%s\" is not a number\n",
                   std::string(part).c_str());
      return 2;
    }
    sizes.push_back(size);
  }
  const std::string device = absl::GetFlag(FLAGS_device);
  if (device == "cpu")
    return ps::worker::RunCpu(sizes, absl::GetFlag(FLAGS_batch));
  if (device == "cuda")
    return ps::worker::RunCuda(sizes, absl::GetFlag(FLAGS_batch));
  std::fprintf(stderr, "--device=%s: allowed: cpu, cuda\n", device.c_str());
  return 2;
}
