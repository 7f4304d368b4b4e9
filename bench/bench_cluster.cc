#include "bench/bench_cluster.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <system_error>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/partition.h"
#include "common/rpc.h"
#include "common/status.h"
#include "nlohmann/json.hpp"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::bench {
namespace {

constexpr absl::Duration kStartTimeout = absl::Seconds(20);
constexpr absl::Duration kRpcTimeout = absl::Seconds(30);

// A loopback port that was free a moment ago (iperf3 cannot pick its own).
absl::StatusOr<int> FreeLoopbackPort() {
  int fd = socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) return absl::InternalError(std::strerror(errno));
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  socklen_t len = sizeof(addr);
  const bool ok =
      bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0 &&
      getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) == 0;
  const int err = errno;
  close(fd);
  if (!ok)
    return absl::InternalError(absl::StrCat("bind: ", std::strerror(err)));
  return ntohs(addr.sin_port);
}

absl::StatusOr<std::string> ReadFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read ", path));
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// Waits for `process` to exit; stops it and fails after `timeout`.
absl::Status WaitForExit(Subprocess* process, absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  while (process->Running()) {
    if (absl::Now() > deadline) {
      process->Stop(absl::Seconds(1));
      return absl::DeadlineExceededError(
          absl::StrCat("pid ", process->pid(), " still running after ",
                       absl::FormatDuration(timeout)));
    }
    absl::SleepFor(absl::Milliseconds(20));
  }
  return absl::OkStatus();
}

// One iperf3 client run; UNAVAILABLE while the server is not listening yet.
absl::StatusOr<double> RunIperfClient(const std::string& iperf3, int port,
                                      absl::Duration duration,
                                      const std::string& json_path) {
  std::remove(json_path.c_str());  // Subprocess appends to its log
  const int64_t secs = std::max<int64_t>(1, absl::ToInt64Seconds(duration));
  absl::StatusOr<std::unique_ptr<Subprocess>> client =
      Subprocess::Start({iperf3, "-c", "127.0.0.1", "-p", absl::StrCat(port),
                         "-t", absl::StrCat(secs), "-J"},
                        json_path);
  if (!client.ok()) return client.status();
  if (absl::Status s = WaitForExit(client->get(), duration + absl::Seconds(15));
      !s.ok()) {
    return s;
  }
  absl::StatusOr<std::string> json = ReadFile(json_path);
  if (!json.ok()) return json.status();
  if ((*client)->exit_code() != 0) {
    return absl::UnavailableError(absl::StrCat(
        "iperf3 client exited with ", *(*client)->exit_code(), ": ", *json));
  }
  // A refused connection (the server not listening yet) shows up here.
  return ParseIperfReceivedBytesPerSecond(*json);
}

}  // namespace

absl::StatusOr<std::vector<ServerProcess>> StartServers(
    const std::string& binary, int count, const std::string& work_dir,
    const std::vector<std::string>& extra_flags) {
  std::vector<ServerProcess> servers(count);
  std::vector<std::string> port_files(count);
  for (int i = 0; i < count; ++i) {
    port_files[i] = absl::StrCat(work_dir, "/server-", i, ".port");
    std::remove(port_files[i].c_str());
    std::vector<std::string> argv = {binary, "--port=0",
                                      "--port_file=" + port_files[i],
                                      "--log_level=warn"};
    argv.insert(argv.end(), extra_flags.begin(), extra_flags.end());
    // Plaintext unless the caller gave TLS flags.
    if (std::none_of(extra_flags.begin(), extra_flags.end(),
                     [](const std::string& f) {
                       return absl::StartsWith(f, "--tls_");
                     })) {
      argv.push_back("--insecure");
    }
    absl::StatusOr<std::unique_ptr<Subprocess>> process = Subprocess::Start(
        argv, absl::StrCat(work_dir, "/server-", i, ".log"));
    if (!process.ok()) return process.status();
    servers[i].process = *std::move(process);
    servers[i].endpoint.set_member_id(absl::StrCat("bench-s", i));
  }
  for (int i = 0; i < count; ++i) {
    absl::StatusOr<std::string> address =
        WaitForFileLine(port_files[i], kStartTimeout, servers[i].process.get());
    if (!address.ok()) {
      return Annotate(address.status(),
                      absl::StrCat("ps_server ", i, " (log ",
                                   servers[i].process->log_path(), ")"));
    }
    servers[i].endpoint.set_address(*address);
  }
  return servers;
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(q * v.size()));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

absl::StatusOr<std::string> FindServerBinary(const std::string& flag) {
  std::string path = flag;
  if (path.empty()) {
    const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
    path = absl::StrCat(workspace ? workspace : ".",
                        "/bazel-bin/server/ps_server");
  }
  if (access(path.c_str(), X_OK) != 0) {
    return absl::NotFoundError(
        absl::StrCat("ps_server binary ", path,
                     " is not executable; build //server:ps_server or pass "
                     "--server_binary"));
  }
  return path;
}

absl::StatusOr<std::string> MakeWorkDir(const std::string& flag,
                                        const std::string& prefix) {
  if (!flag.empty()) {
    if (mkdir(flag.c_str(), 0755) != 0 && errno != EEXIST) {
      return absl::PermissionDeniedError(
          absl::StrCat("--work_dir ", flag, ": ", strerror(errno)));
    }
    return flag;
  }
  std::string pattern = absl::StrCat("/tmp/", prefix, ".XXXXXX");
  if (mkdtemp(pattern.data()) == nullptr) {
    return absl::InternalError(absl::StrCat("mkdtemp: ", strerror(errno)));
  }
  return pattern;
}

void RemoveWorkDir(const std::string& flag, const std::string& dir) {
  if (!flag.empty()) return;
  std::error_code ignored;
  std::filesystem::remove_all(dir, ignored);
}

absl::Status CreateTables(const std::string& job_id,
                          const v1::PartitionMap& map,
                          const RpcSecurity* security,
                          const std::string& job_key) {
  for (int c = 0; c < map.servers_size() * std::max(map.replicas(), 1); ++c) {
    // Group i's copy k: its primary (k = 0) names the backups.
    const int i = c % map.servers_size();
    const int k = c / map.servers_size();
    const v1::ServerEndpoint& server =
        map.groups_size() > 0 ? map.groups(i).replicas(k) : map.servers(i);
    v1::CreateTablesRequest request;
    request.set_job_id(job_id);
    request.set_epoch(map.epoch());
    *request.mutable_tables() = map.tables();
    for (v1::DenseRange& r : RangesOf(map, i)) *request.add_ranges() = r;
    request.set_sparse_partitions(map.sparse_partitions());
    for (uint32_t p : PartitionsOf(map, i)) request.add_owned_partitions(p);
    request.set_group(i);
    request.set_job_key(job_key);
    request.set_role(k == 0 ? v1::PRIMARY : v1::BACKUP);
    if (k == 0 && map.groups_size() > 0) {
      for (int b = 1; b < map.groups(i).replicas_size(); ++b) {
        *request.add_backups() = map.groups(i).replicas(b);
      }
    }
    auto stub = v1::ParameterServer::NewStub(
        MakeChannel(security, server.address()));
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kRpcTimeout));
    v1::CreateTablesResponse response;
    absl::Status s =
        FromGrpcStatus(stub->CreateTables(&context, request, &response));
    if (!s.ok()) {
      return Annotate(s,
                      absl::StrCat("create tables on ", server.address()));
    }
  }
  return absl::OkStatus();
}

absl::Status DropTables(const std::string& job_id,
                        const v1::PartitionMap& map,
                        const RpcSecurity* security) {
  for (const v1::ServerEndpoint& server : map.servers()) {
    v1::DropTablesRequest request;
    request.set_job_id(job_id);
    auto stub = v1::ParameterServer::NewStub(
        MakeChannel(security, server.address()));
    grpc::ClientContext context;
    context.set_deadline(DeadlineIn(kRpcTimeout));
    v1::DropTablesResponse response;
    absl::Status s =
        FromGrpcStatus(stub->DropTables(&context, request, &response));
    if (!s.ok()) {
      return Annotate(s, absl::StrCat("drop tables on ", server.address()));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<double> IperfLoopbackBytesPerSecond(
    const std::string& iperf3, absl::Duration duration,
    const std::string& work_dir) {
  absl::StatusOr<int> port = FreeLoopbackPort();
  if (!port.ok()) return port.status();
  absl::StatusOr<std::unique_ptr<Subprocess>> server = Subprocess::Start(
      {iperf3, "-s", "-1", "-p", absl::StrCat(*port), "-B", "127.0.0.1"},
      work_dir + "/iperf3-server.log");
  if (!server.ok()) return server.status();
  const std::string json_path = work_dir + "/iperf3-client.json";
  // The server needs a moment before it listens; a refused client is
  // retried (it does not use up the server's single test).
  absl::Status last = absl::UnavailableError("iperf3 server never listened");
  for (int attempt = 0; attempt < 50 && (*server)->Running(); ++attempt) {
    absl::StatusOr<double> rate =
        RunIperfClient(iperf3, *port, duration, json_path);
    if (rate.ok() || !absl::IsUnavailable(rate.status())) return rate;
    last = rate.status();
    absl::SleepFor(absl::Milliseconds(100));
  }
  return Annotate(last, absl::StrCat("iperf3 on port ", *port, " (server log ",
                                     (*server)->log_path(), ")"));
}

absl::StatusOr<double> ParseIperfReceivedBytesPerSecond(
    const std::string& json) {
  const nlohmann::json doc =
      nlohmann::json::parse(json, nullptr, /*allow_exceptions=*/false);
  if (doc.is_discarded()) {
    return absl::DataLossError("iperf3 output is not JSON");
  }
  // iperf3 3.12 exits 0 even when it fails, reporting only here.
  if (doc.is_object() && doc.contains("error") && doc["error"].is_string()) {
    return absl::UnavailableError(
        absl::StrCat("iperf3: ", doc["error"].get<std::string>()));
  }
  const nlohmann::json* node = &doc;
  for (const char* key : {"end", "sum_received", "bits_per_second"}) {
    if (!node->is_object() || !node->contains(key)) {
      return absl::DataLossError(absl::StrCat(
          "iperf3 JSON has no end.sum_received.bits_per_second (missing ", key,
          ")"));
    }
    node = &(*node)[key];
  }
  if (!node->is_number()) {
    return absl::DataLossError("iperf3 bits_per_second is not a number");
  }
  return node->get<double>() / 8;
}

}  // namespace ps::bench
