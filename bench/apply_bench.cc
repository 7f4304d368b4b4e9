// Benchmark of the server's apply step: each update rule applied to a whole
// dense table, the way DenseShard::Apply receives it (one Apply call per
// pushed chunk, state planes offset to the chunk), next to plain memory
// loops over arrays of the same size measured in the same run. The apply
// step streams through memory, so its speed is reported as bytes touched per
// second and as a fraction of what a trivial loop achieves.
//
// Bytes counted per value (GB = 1e9 bytes), reads plus writes of 4 B floats:
//   triad  a = b + s*c   read b, c; write a                         12
//   copy   memcpy        read, write                                 8
//   axpy   a += s*b      read a, b; write a (in place, like SGD)     12
//   SGD                  read w, g; write w                         12
//   SGD + warm-up        SGD plus the step count, read and written  20
//   MOMENTUM, ADAGRAD    w, one state plane read and written; g     20
//   FTRL                 w, z, n read and written; g                28
//   ADAM, ADAMW          w, m, v, step count read and written; g    36
// Write-allocate traffic (reading a line before overwriting it, as the triad
// and copy do for their destinations) is not counted, as in STREAM. The
// rules update in place and so never pay it; the in-place axpy is the loop
// with SGD's exact access pattern, so it is reported as a second yardstick.
//
// Usage: bazel build //bench:apply_bench && bazel-bin/bench/apply_bench
//   [--values=67108864] [--chunk=1048576] [--reps=9]
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/update_rule.h"

ABSL_FLAG(int64_t, values, int64_t{64} << 20, "table size in floats");
ABSL_FLAG(int64_t, chunk, int64_t{1} << 20,
          "values per Apply call (1M floats: a 4 MB push)");
ABSL_FLAG(int, reps, 9, "timed rounds, after one untimed round");

namespace ps::bench {
namespace {

using server::kMaxStatePlanes;
using server::MakeUpdateRule;
using server::UpdateRule;

// One line of the table: a pass over the whole table and the bytes it
// counts. Rows are timed in turn within each repetition, so that a noisy
// neighbour on the machine slows the loops and the rules alike.
struct Row {
  std::string name;
  int bytes_per_value;
  std::function<void()> pass;
  std::vector<double> gbs = {};  // One per timed rep, sorted at the end.

  double best() const { return gbs.back(); }
  double median() const { return gbs[gbs.size() / 2]; }
};

// One untimed round (page faults, caches), then `reps` timed rounds.
void RunRounds(std::vector<Row>& rows, int64_t values, int reps) {
  for (int rep = -1; rep < reps; ++rep) {
    for (Row& row : rows) {
      const auto start = std::chrono::steady_clock::now();
      row.pass();
      const std::chrono::duration<double> took =
          std::chrono::steady_clock::now() - start;
      if (rep < 0) continue;
      row.gbs.push_back(static_cast<double>(row.bytes_per_value) * values /
                        1e9 / took.count());
    }
  }
  for (Row& row : rows) std::sort(row.gbs.begin(), row.gbs.end());
}

// Blocks of constant length so that GCC's -O2 vectoriser handles the loop,
// as it does the update rules' (see server/apply_loop.h); a scalar triad
// would understate the bandwidth the rules are compared against.
constexpr int64_t kBlock = 2048;

void TriadBlock(float* __restrict a, const float* __restrict b,
                const float* __restrict c, float s) {
  for (int64_t i = 0; i < kBlock; ++i) a[i] = b[i] + s * c[i];
}

void AxpyBlock(float* __restrict a, const float* __restrict b, float s) {
  for (int64_t i = 0; i < kBlock; ++i) a[i] += s * b[i];
}

void Axpy(float* a, const float* b, float s, int64_t n) {
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) AxpyBlock(a + i, b + i, s);
  for (; i < n; ++i) a[i] += s * b[i];
}

void Triad(float* a, const float* b, const float* c, float s, int64_t n) {
  int64_t i = 0;
  for (; i + kBlock <= n; i += kBlock) TriadBlock(a + i, b + i, c + i, s);
  for (; i < n; ++i) a[i] = b[i] + s * c[i];
}

// A gradient of small values without denormals, cheap to generate.
void FillGradient(std::vector<float>& g) {
  uint32_t x = 2463534242u;
  for (float& v : g) {
    x ^= x << 13;
    x ^= x >> 17;
    x ^= x << 5;
    v = (static_cast<float>(x >> 8) / 16777216.0f - 0.5f) * 0.02f;
  }
}

struct RuleCase {
  std::string name;
  int bytes_per_value;
  v1::OptimizerSpec spec;
};

std::vector<RuleCase> RuleCases() {
  auto spec = [](v1::OptimizerType type, float lr) {
    v1::OptimizerSpec s;
    s.set_type(type);
    s.set_learning_rate(lr);
    return s;
  };
  v1::OptimizerSpec warmup = spec(v1::SGD, 1e-3f);
  warmup.mutable_schedule()->set_warmup_steps(1000);
  return {
      {"SGD", 12, spec(v1::SGD, 1e-3f)},
      {"SGD + warm-up", 20, warmup},
      {"MOMENTUM", 20, spec(v1::MOMENTUM, 1e-3f)},
      {"ADAGRAD", 20, spec(v1::ADAGRAD, 1e-2f)},
      {"FTRL", 28, spec(v1::FTRL, 0.1f)},
      {"ADAM", 36, spec(v1::ADAM, 1e-3f)},
      {"ADAMW", 36, spec(v1::ADAMW, 1e-3f)},
  };
}

// The arrays the rows work on, allocated once: the loops' a, b, c; the
// rules' shared values and gradient; and each rule's own zeroed planes.
struct Arrays {
  explicit Arrays(int64_t n) : n(n), a(n), b(n, 1.0f), c(n, 2.0f), w(n, 0.5f) {
    g.resize(n);
    FillGradient(g);
  }
  int64_t n;
  std::vector<float> a, b, c, w, g;
  std::vector<std::vector<float>> planes;  // One vector per rule.
};

std::vector<Row> LoopRows(Arrays& x) {
  const int64_t n = x.n;
  std::vector<Row> rows;
  rows.push_back({"triad a = b + s*c", 12, [&x, n] {
                    Triad(x.a.data(), x.b.data(), x.c.data(), 0.5f, n);
                  }});
  rows.push_back({"copy (memcpy)", 8, [&x, n] {
                    std::memcpy(x.a.data(), x.b.data(), n * sizeof(float));
                  }});
  // Tiny s keeps a from growing into denormals or infinities.
  rows.push_back({"axpy a += s*b (in place)", 12,
                  [&x, n] { Axpy(x.a.data(), x.c.data(), 1e-9f, n); }});
  return rows;
}

// A rule's pass applies it chunk by chunk as DenseShard::Apply would.
std::vector<Row> RuleRows(Arrays& x, int64_t chunk,
                          std::vector<std::unique_ptr<UpdateRule>>& rules) {
  std::vector<Row> rows;
  for (const RuleCase& c : RuleCases()) {
    absl::StatusOr<std::unique_ptr<UpdateRule>> rule = MakeUpdateRule(c.spec);
    if (!rule.ok()) {
      std::fprintf(stderr, "%s: %s\n", c.name.c_str(),
                   std::string(rule.status().message()).c_str());
      continue;
    }
    const UpdateRule* r = rule->get();
    rules.push_back(*std::move(rule));
    x.planes.emplace_back(static_cast<size_t>(x.n) * r->StateFloats(), 0.0f);
    float* state = x.planes.back().data();
    rows.push_back({c.name, c.bytes_per_value, [&x, r, state, chunk] {
                      const int64_t n = x.n;
                      float* planes[kMaxStatePlanes];
                      for (int64_t at = 0; at < n; at += chunk) {
                        for (int k = 0; k < r->StateFloats(); ++k) {
                          planes[k] = state + k * n + at;
                        }
                        r->Apply(x.w.data() + at, planes, x.g.data() + at,
                                 std::min(chunk, n - at));
                      }
                    }});
  }
  return rows;
}

// Ratios compare best with best and median with median.
void PrintTable(const std::vector<Row>& rows, const Row& triad,
                const Row& axpy) {
  std::printf(
      "| rule | bytes/value | GB/s best | GB/s median | ratio to triad "
      "(best, median) | ratio to in-place axpy (best, median) |\n"
      "|---|---:|---:|---:|---:|---:|\n");
  for (const Row& r : rows) {
    std::printf("| %s | %d | %.2f | %.2f | %.2f, %.2f | %.2f, %.2f |\n",
                r.name.c_str(), r.bytes_per_value, r.best(), r.median(),
                r.best() / triad.best(), r.median() / triad.median(),
                r.best() / axpy.best(), r.median() / axpy.median());
  }
}

}  // namespace
}  // namespace ps::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  const int64_t n = absl::GetFlag(FLAGS_values);
  const int64_t chunk = absl::GetFlag(FLAGS_chunk);
  const int reps = absl::GetFlag(FLAGS_reps);
  if (n <= 0 || chunk <= 0 || reps <= 0) {
    std::fprintf(stderr, "--values, --chunk and --reps must be positive\n");
    return 2;
  }
  std::printf("%lld values (%.0f MiB per array), chunks of %lld, %d reps\n\n",
              static_cast<long long>(n), n * 4.0 / (1 << 20),
              static_cast<long long>(chunk), reps);
  ps::bench::Arrays arrays(n);
  std::vector<std::unique_ptr<ps::server::UpdateRule>> rules;
  std::vector<ps::bench::Row> rows = ps::bench::LoopRows(arrays);
  for (ps::bench::Row& row : ps::bench::RuleRows(arrays, chunk, rules)) {
    rows.push_back(std::move(row));
  }
  ps::bench::RunRounds(rows, n, reps);
  ps::bench::PrintTable(rows, rows[0], rows[2]);
  // Keeps the loops' results observable.
  if (arrays.a[n / 2] == 42.0f) std::printf("unlikely\n");
  return 0;
}
