// Checkpoint write and restore throughput against the disk's own, in one
// run: standalone ps_server daemons hold one dense table (SGD, so the
// checkpoint is the model's size) split over --servers groups, made once
// (a training job's tables, checkpointed again and again); each repeat
//   disk write: one thread per server writes its share to a file (4 MiB
//            writes, fsync);
//   write:   WriteCheckpoint on every group's primary at once (snapshot in
//            memory, pushes held meanwhile: the pause; then CRC, write +
//            fsync + rename);
//   disk read: a second job's tables made; the checkpoint's files dropped
//            from the page cache and read, one thread each (4 MiB reads);
//   restore: the files dropped again, LoadCheckpoint on every server at
//            once (read, CRC, install), the second job dropped.
// With --resume_servers=M, the last repeat's checkpoint is also restored
// re-partitioned onto M servers (a resume on another server count), timed,
// with each server's peak memory during its load above what it held
// before (VmHWM, reset through /proc/PID/clear_refs, less VmRSS).
// Dropping from the page cache: with --drop_caches (the default) and the
// right to, sync and /proc/sys/vm/drop_caches (the whole machine's clean
// cache: run it on a machine doing nothing else); otherwise, or where that
// is refused, posix_fadvise(DONTNEED) on the files, which some VMs ignore
// (the reads then come from memory). The table says which.
// Prints a Markdown table of medians. Run from the repository root:
//   bazel build -c opt //bench:checkpoint_bench //server:ps_server
//   bazel-bin/bench/checkpoint_bench --model_bytes=1G --servers=2
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "absl/flags/flag.h"
#include "absl/flags/parse.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/clock.h"
#include "bench/bench_cluster.h"
#include "common/partition.h"
#include "common/rpc.h"
#include "common/status.h"
#include "proto/ps/v1/ps.grpc.pb.h"

ABSL_FLAG(std::string, server_binary, "", "ps_server binary (see bench_cluster.h)");
ABSL_FLAG(std::string, model_bytes, "1G", "model size; K, M, G suffixes are binary");
ABSL_FLAG(int, servers, 2, "servers (one replica group each)");
ABSL_FLAG(int, repeats, 3, "measurements of each kind; the table gives medians");
ABSL_FLAG(int, resume_servers, 0,
          "also restore the last checkpoint re-partitioned onto this many "
          "servers (0: not); must differ from --servers");
ABSL_FLAG(std::string, work_dir, "",
          "server logs and the files written (on the disk measured); empty: a "
          "new /tmp/ckpt-bench.XXXXXX, removed afterwards");
ABSL_FLAG(bool, drop_caches, true,
          "drop the page cache with /proc/sys/vm/drop_caches before each "
          "read (needs root); else posix_fadvise(DONTNEED) on the files");

namespace ps::bench {
namespace {

constexpr size_t kBlock = size_t{4} << 20;

absl::StatusOr<int64_t> ParseBytes(const std::string& text) {
  int64_t scale = 1;
  std::string digits = text;
  if (!text.empty()) {
    const char unit = text.back();
    scale = unit == 'K' ? 1 << 10 : unit == 'M' ? 1 << 20 : unit == 'G' ? 1 << 30 : 1;
    if (scale > 1) digits.pop_back();
  }
  int64_t n = 0;
  if (!absl::SimpleAtoi(digits, &n) || n <= 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--model_bytes: '", text, "'; allowed: a size such as 1G or 512M"));
  }
  return n * scale;
}

double Median(std::vector<double> v) {
  std::sort(v.begin(), v.end());
  return v[v.size() / 2];
}

// How the files were dropped from the page cache, for the table.
std::string g_dropped_by = "posix_fadvise(DONTNEED)";

void DropFromCache(const std::vector<std::string>& paths) {
  if (absl::GetFlag(FLAGS_drop_caches)) {
    sync();
    const int fd = open("/proc/sys/vm/drop_caches", O_WRONLY);
    if (fd >= 0) {
      const bool dropped = ::write(fd, "1", 1) == 1;
      close(fd);
      if (dropped) {
        g_dropped_by = "/proc/sys/vm/drop_caches";
        return;
      }
    }
  }
  for (const std::string& path : paths) {
    const int fd = open(path.c_str(), O_RDONLY);
    if (fd < 0) continue;
    posix_fadvise(fd, 0, 0, POSIX_FADV_DONTNEED);
    close(fd);
  }
}

// Runs body(i) for i in [0, n) on threads of their own; the wall seconds.
template <typename F>
double Timed(int n, F body) {
  const absl::Time start = absl::Now();
  std::vector<std::thread> threads;
  for (int i = 0; i < n; ++i) threads.emplace_back([&, i] { body(i); });
  for (auto& t : threads) t.join();
  return absl::ToDoubleSeconds(absl::Now() - start);
}

// Reads each of `paths` on a thread of its own in 4 MiB reads, after
// dropping them from the page cache; the wall seconds.
double ReadSeconds(const std::vector<std::string>& paths) {
  DropFromCache(paths);
  return Timed(static_cast<int>(paths.size()), [&](int i) {
    std::vector<char> in(kBlock);
    const int fd = open(paths[i].c_str(), O_RDONLY);
    while (::read(fd, in.data(), kBlock) > 0) {
    }
    close(fd);
  });
}

// The disk alone: each thread writes `bytes` to its file and fsyncs. The
// wall seconds.
double DiskWriteSeconds(const std::string& dir, int n, int64_t bytes) {
  std::vector<char> block(kBlock, 'x');
  auto path = [&](int i) { return absl::StrCat(dir, "/disk-", i); };
  const double write = Timed(n, [&](int i) {
    const int fd = open(path(i).c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    for (int64_t left = bytes; left > 0; left -= kBlock) {
      if (::write(fd, block.data(), std::min<int64_t>(left, kBlock)) < 0) break;
    }
    fsync(fd);
    close(fd);
  });
  for (int i = 0; i < n; ++i) std::filesystem::remove(path(i));
  return write;
}

struct Row {
  std::vector<double> disk_write, disk_read, write, restore, pause_ms;
};

// LoadCheckpoint of `base` for groups [0, n) at once, group g on
// stubs[g]: the wall seconds, or the first group's error.
absl::StatusOr<double> LoadAll(
    const std::vector<std::unique_ptr<v1::ParameterServer::Stub>>& stubs,
    int n, const v1::LoadCheckpointRequest& base) {
  std::vector<absl::Status> status(n);
  const double seconds = Timed(n, [&](int g) {
    v1::LoadCheckpointRequest request = base;
    request.set_group(g);
    v1::LoadCheckpointResponse response;
    grpc::ClientContext ctx;
    ctx.set_deadline(DeadlineIn(absl::Minutes(5)));
    status[g] = FromGrpcStatus(stubs[g]->LoadCheckpoint(&ctx, request, &response));
  });
  for (int g = 0; g < n; ++g) {
    if (!status[g].ok()) return status[g];
  }
  return seconds;
}

// A line of /proc/PID/status in bytes ("VmRSS", "VmHWM"), or -1.
int64_t StatusBytes(pid_t pid, const std::string& field) {
  std::ifstream in(absl::StrCat("/proc/", pid, "/status"));
  for (std::string line; std::getline(in, line);) {
    if (absl::StartsWith(line, field + ":")) {
      int64_t kb = 0;
      std::istringstream(line.substr(field.size() + 1)) >> kb;
      return kb * 1024;
    }
  }
  return -1;
}

// The checkpoint of `old_map` (`files`) restored onto the first `m` of
// `servers`, re-partitioned: a line giving its speed and each server's
// peak memory during the load above what it held before.
absl::StatusOr<std::string> RestoreRepartitioned(
    const std::vector<ServerProcess>& servers,
    const std::vector<std::unique_ptr<v1::ParameterServer::Stub>>& stubs,
    int m, const v1::PartitionMap& old_map, const v1::TableDef& table,
    const std::vector<v1::CheckpointFileRef>& files, int64_t bytes) {
  std::vector<v1::ServerEndpoint> endpoints;
  for (int i = 0; i < m; ++i) endpoints.push_back(servers[i].endpoint);
  absl::StatusOr<v1::PartitionMap> map = BuildPartitionMap(1, endpoints, {table});
  if (!map.ok()) return map.status();
  PlaceReplicaGroups(1, &*map);
  const std::string job = "ckpt-bench-resized";
  if (absl::Status s = CreateTables(job, *map); !s.ok()) return s;
  std::vector<std::string> paths;
  for (const v1::CheckpointFileRef& f : files) paths.push_back(f.path());
  DropFromCache(paths);
  std::vector<int64_t> before(m);
  for (int i = 0; i < m; ++i) {
    const pid_t pid = servers[i].process->pid();
    std::ofstream(absl::StrCat("/proc/", pid, "/clear_refs")) << "5";
    before[i] = StatusBytes(pid, "VmRSS");
  }
  v1::LoadCheckpointRequest base;
  base.set_job_id(job);
  base.set_epoch(map->epoch());
  *base.mutable_old_map() = old_map;
  *base.mutable_map() = *map;
  for (const v1::CheckpointFileRef& f : files) *base.add_files() = f;
  absl::StatusOr<double> loaded = LoadAll(stubs, m, base);
  if (!loaded.ok()) return loaded.status();
  const double seconds = *loaded;
  std::string peaks;
  for (int i = 0; i < m; ++i) {
    const int64_t peak = StatusBytes(servers[i].process->pid(), "VmHWM");
    absl::StrAppendFormat(&peaks, "%s%.0f", i == 0 ? "" : " / ",
                          (peak - before[i]) / 1e6);
  }
  if (absl::Status s = DropTables(job, *map); !s.ok()) return s;
  return absl::StrFormat(
      "\nrestore re-partitioned from %d onto %d servers: %.3f GB/s (%.2f s); "
      "each server's peak memory during its load above its tables: %s MB "
      "(the checkpoint %.0f MB, a new group's share %.0f MB)\n",
      old_map.servers_size(), m, bytes / 1e9 / seconds, seconds, peaks,
      bytes / 1e6, bytes / 1e6 / m);
}

absl::Status Run() {
  absl::StatusOr<int64_t> bytes = ParseBytes(absl::GetFlag(FLAGS_model_bytes));
  if (!bytes.ok()) return bytes.status();
  const int n = absl::GetFlag(FLAGS_servers);
  const int resume = absl::GetFlag(FLAGS_resume_servers);
  if (resume < 0 || resume == n) {
    return absl::InvalidArgumentError(absl::StrCat(
        "--resume_servers: ", resume, "; allowed: 0 (none) or a server count "
        "other than --servers (", n, ")"));
  }
  absl::StatusOr<std::string> binary =
      FindServerBinary(absl::GetFlag(FLAGS_server_binary));
  if (!binary.ok()) return binary.status();
  absl::StatusOr<std::string> dir =
      MakeWorkDir(absl::GetFlag(FLAGS_work_dir), "ckpt-bench");
  if (!dir.ok()) return dir.status();
  absl::StatusOr<std::vector<ServerProcess>> servers =
      StartServers(*binary, std::max(n, resume), *dir, {"--max_memory_gb=8"});
  if (!servers.ok()) return servers.status();
  std::vector<v1::ServerEndpoint> endpoints;
  std::vector<std::unique_ptr<v1::ParameterServer::Stub>> stubs;
  for (const ServerProcess& s : *servers) {
    if (endpoints.size() < static_cast<size_t>(n)) endpoints.push_back(s.endpoint);
    stubs.push_back(v1::ParameterServer::NewStub(MakeChannel(s.endpoint.address())));
  }
  v1::TableDef table;
  table.set_name("w");
  table.set_size(*bytes / 4);
  table.mutable_init()->set_kind(v1::Initializer::UNIFORM);
  table.mutable_init()->set_scale(0.1f);
  table.mutable_optimizer()->set_type(v1::SGD);
  table.mutable_optimizer()->set_learning_rate(1e-3f);
  absl::StatusOr<v1::PartitionMap> map = BuildPartitionMap(1, endpoints, {table});
  if (!map.ok()) return map.status();
  PlaceReplicaGroups(1, &*map);
  const std::string job = "ckpt-bench";
  const std::string restored = "ckpt-bench-restored";
  if (absl::Status s = CreateTables(job, *map); !s.ok()) return s;
  Row row;
  std::string resized;  // --resume_servers' line
  for (int r = 0; r < absl::GetFlag(FLAGS_repeats); ++r) {
    row.disk_write.push_back(DiskWriteSeconds(*dir, n, *bytes / n));
    const std::string ckpt = absl::StrCat(*dir, "/ckpt-", r);
    std::vector<v1::WriteCheckpointResponse> written(n);
    std::vector<absl::Status> status(n);
    row.write.push_back(Timed(n, [&](int g) {
      v1::WriteCheckpointRequest request;
      request.set_job_id(job);
      request.set_group(g);
      request.set_epoch(map->epoch());
      request.set_path(absl::StrCat(ckpt, "/group-", g, ".snap"));
      grpc::ClientContext ctx;
      ctx.set_deadline(DeadlineIn(absl::Minutes(5)));
      status[g] = FromGrpcStatus(stubs[g]->WriteCheckpoint(&ctx, request, &written[g]));
    }));
    double pause = 0;
    for (int g = 0; g < n; ++g) {
      if (!status[g].ok()) return status[g];
      pause = std::max(pause, written[g].pause_us() / 1e3);
    }
    row.pause_ms.push_back(pause);
    if (absl::Status s = CreateTables(restored, *map); !s.ok()) return s;
    std::vector<std::string> paths;
    v1::LoadCheckpointRequest base;
    base.set_job_id(restored);
    base.set_epoch(map->epoch());
    *base.mutable_old_map() = *map;
    *base.mutable_map() = *map;
    for (int g = 0; g < n; ++g) {
      v1::CheckpointFileRef* f = base.add_files();
      f->set_group(g);
      f->set_path(absl::StrCat(ckpt, "/group-", g, ".snap"));
      f->set_size(written[g].size());
      f->set_crc32(written[g].crc32());
      paths.push_back(f->path());
    }
    // The disk's read of the same files just before they are restored: on
    // a VM the speed of a virtual disk's read depends on what the host
    // still caches, so another file read at another time is no anchor.
    row.disk_read.push_back(ReadSeconds(paths));
    DropFromCache(paths);
    absl::StatusOr<double> loaded = LoadAll(stubs, n, base);
    if (!loaded.ok()) return loaded.status();
    row.restore.push_back(*loaded);
    if (absl::Status s = DropTables(restored, *map); !s.ok()) return s;
    if (resume > 0 && r + 1 == absl::GetFlag(FLAGS_repeats)) {
      std::vector<v1::CheckpointFileRef> files(base.files().begin(),
                                               base.files().end());
      absl::StatusOr<std::string> line = RestoreRepartitioned(
          *servers, stubs, resume, *map, table, files, *bytes);
      if (!line.ok()) return line.status();
      resized = *line;
    }
    std::filesystem::remove_all(ckpt);
  }
  if (absl::Status s = DropTables(job, *map); !s.ok()) return s;
  const double gb = *bytes / 1e9;
  const double dw = gb / Median(row.disk_write), dr = gb / Median(row.disk_read);
  const double w = gb / Median(row.write), l = gb / Median(row.restore);
  absl::PrintF("model %.2f GB (SGD: values only) on %d servers, %d repeats, medians; "
               "files dropped from the page cache before reads by %s\n\n",
               gb, n, absl::GetFlag(FLAGS_repeats), g_dropped_by);
  absl::PrintF("| | GB/s | disk GB/s (same threads) | ratio |\n|---|--:|--:|--:|\n");
  absl::PrintF("| checkpoint write | %.3f | %.3f | %.2f |\n", w, dw, w / dw);
  absl::PrintF("| restore (load) | %.3f | %.3f | %.2f |\n", l, dr, l / dr);
  // The first checkpoint maps its buffer; later ones reuse it.
  std::string each;
  for (size_t r = 0; r < row.write.size(); ++r) {
    absl::StrAppendFormat(&each, "%s%.3f (%.2f)", r == 0 ? "" : ", ",
                          gb / row.write[r], row.disk_write[r] / row.write[r]);
  }
  absl::PrintF("\ncheckpoint write GB/s by repeat (ratio to that repeat's disk "
               "write), the first mapping its buffer: %s\n", each);
  each.clear();
  for (size_t r = 0; r < row.restore.size(); ++r) {
    absl::StrAppendFormat(&each, "%s%.3f (%.2f)", r == 0 ? "" : ", ",
                          gb / row.restore[r],
                          row.disk_read[r] / row.restore[r]);
  }
  absl::PrintF("restore GB/s by repeat (ratio to that repeat's disk read): "
               "%s\n", each);
  absl::PrintF("\npushes held per checkpoint (the training pause): %.1f ms median, "
               "%.1f ms max\n", Median(row.pause_ms),
               *std::max_element(row.pause_ms.begin(), row.pause_ms.end()));
  absl::PrintF("%s", resized);
  for (ServerProcess& s : *servers) s.process->Stop();
  RemoveWorkDir(absl::GetFlag(FLAGS_work_dir), *dir);
  return absl::OkStatus();
}

}  // namespace
}  // namespace ps::bench

int main(int argc, char** argv) {
  absl::ParseCommandLine(argc, argv);
  absl::Status s = ps::bench::Run();
  if (!s.ok()) {
    absl::FPrintF(stderr, "checkpoint_bench: %s\n", s.ToString());
    return 1;
  }
  return 0;
}
