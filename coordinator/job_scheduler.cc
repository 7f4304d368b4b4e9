// JobManager: periodic work — lease expiry, starting pending jobs, dropping
// the tables of ended jobs.
#include <functional>
#include <thread>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "common/logging.h"
#include "common/model_layout.h"
#include "common/partition.h"
#include "coordinator/job_manager.h"

namespace ps::coordinator {

namespace {

// Runs call(0) .. call(n - 1) on threads of their own and returns their
// statuses, so that one server that does not answer delays the others by
// nothing.
std::vector<absl::Status> RunConcurrently(
    int n, const std::function<absl::Status(int)>& call) {
  std::vector<absl::Status> out(n);
  std::vector<std::thread> threads;
  threads.reserve(n);
  for (int i = 0; i < n; ++i) {
    threads.emplace_back([&, i] { out[i] = call(i); });
  }
  for (std::thread& t : threads) t.join();
  return out;
}

}  // namespace

void JobManager::ExpireLeases() { FailJobsOf(members_->Expire()); }

void JobManager::RunServerWork() {
  StartNextPending();
  RunDrops();
}

void JobManager::Tick() {
  ExpireLeases();
  RunServerWork();
}

void JobManager::FailJobsOf(const std::vector<MemberInfo>& dead) {
  if (dead.empty()) return;
  absl::MutexLock lock(&mu_);
  for (const MemberInfo& m : dead) {
    Logger("jobs")->warn("{} at {} lost its lease", m.id, m.address);
    for (auto& [n, r] : jobs_) {
      // A PENDING job with a partition map is creating its tables.
      const bool placed = r.job.state() == v1::PENDING &&
                          r.job.partition_map().servers_size() > 0;
      if (r.job.state() != v1::RUNNING && !placed) continue;
      std::string role;
      for (int rank = 0; rank < r.job.worker_ids_size(); ++rank) {
        if (r.job.worker_ids(rank) == m.id) role = absl::StrCat("rank ", rank);
      }
      for (const auto& s : r.job.partition_map().servers()) {
        if (s.member_id() == m.id) role = "a parameter server of the job";
      }
      if (role.empty()) continue;
      Finish(&r, v1::FAILED,
             absl::StrCat(m.id, " (", role, ", ", m.address,
                          ") sent no heartbeat within its lease of ",
                          absl::FormatDuration(members_->lease()),
                          ": presumed dead"));
    }
  }
}

void JobManager::StartNextPending() {
  v1::Job job;
  {
    absl::MutexLock lock(&mu_);
    Record* r = nullptr;
    for (auto& [n, rec] : jobs_) {
      if (rec.job.state() == v1::PENDING) {
        r = &rec;
        break;
      }
    }
    if (r == nullptr) return;
    const v1::JobSpec& spec = r->job.spec();
    std::vector<std::string> idle;
    for (const MemberInfo& w : members_->Live(v1::WORKER)) {
      if (!busy_.contains(w.id)) idle.push_back(w.id);
    }
    std::vector<MemberInfo> live_servers = members_->Live(v1::SERVER);
    const int want_servers = spec.cluster().num_servers() > 0
                                 ? spec.cluster().num_servers()
                                 : static_cast<int>(live_servers.size());
    if (static_cast<int>(idle.size()) < spec.cluster().num_workers() ||
        live_servers.empty() ||
        static_cast<int>(live_servers.size()) < want_servers) {
      const std::string waiting = absl::StrCat(
          "waiting for ", spec.cluster().num_workers(), " idle workers (",
          idle.size(), " idle) and ", std::max(want_servers, 1),
          " live servers (", live_servers.size(), " live)");
      if (clock_() - absl::FromUnixMillis(r->job.submit_time_ms()) >
          options_.pending_timeout) {
        Finish(r, v1::FAILED,
               absl::StrCat("not started within ",
                            absl::FormatDuration(options_.pending_timeout),
                            ": ", waiting));
      } else if (r->job.reason() != waiting) {
        r->job.set_reason(waiting);
        Changed(r);
      }
      return;
    }
    std::vector<v1::ServerEndpoint> endpoints;
    for (int i = 0; i < want_servers; ++i) {
      v1::ServerEndpoint& e = endpoints.emplace_back();
      e.set_member_id(live_servers[i].id);
      e.set_address(live_servers[i].address);
    }
    absl::StatusOr<std::vector<v1::TableDef>> tables = ModelTables(spec);
    absl::StatusOr<v1::PartitionMap> map =
        tables.ok() ? BuildPartitionMap(next_epoch_++, endpoints, *tables)
                    : absl::StatusOr<v1::PartitionMap>(tables.status());
    if (!map.ok()) {
      Finish(r, v1::FAILED, std::string(map.status().message()));
      return;
    }
    *r->job.mutable_partition_map() = *map;
    for (int i = 0; i < spec.cluster().num_workers(); ++i) {
      r->job.add_worker_ids(idle[i]);
      busy_[idle[i]] = r->job.id();
      last_job_[idle[i]] = r->job.id();
    }
    r->job.set_reason("creating tables");
    job = r->job;
  }
  // Table creation talks to the servers: no lock held.
  absl::Status created = CreateAllTables(job);
  absl::MutexLock lock(&mu_);
  absl::StatusOr<Record*> r = Find(job.id());
  if (!r.ok() || (*r)->job.state() != v1::PENDING)
    return;  // cancelled meanwhile
  if (!created.ok()) {
    Finish(*r, v1::FAILED, std::string(created.message()));
    return;
  }
  const int n = job.worker_ids_size();
  (*r)->progress.assign(n, v1::ReportProgressRequest());
  (*r)->completed.assign(n, v1::CompleteTaskRequest());
  (*r)->done.assign(n, false);
  (*r)->job.set_state(v1::RUNNING);
  (*r)->job.set_reason("");
  (*r)->job.set_start_time_ms(NowMs());
  Changed(*r);
  Logger("jobs")->info("{} RUNNING on workers [{}], {} servers, epoch {}",
                       job.id(), absl::StrJoin(job.worker_ids(), ", "),
                       job.partition_map().servers_size(),
                       job.partition_map().epoch());
}

absl::Status JobManager::CreateAllTables(const v1::Job& job) {
  const v1::PartitionMap& map = job.partition_map();
  std::vector<v1::CreateTablesRequest> requests;
  for (int i = 0; i < map.servers_size(); ++i) {
    v1::CreateTablesRequest request;
    request.set_job_id(job.id());
    request.set_epoch(map.epoch());
    request.set_consistency(job.spec().training().consistency());
    request.set_staleness(job.spec().training().staleness());
    *request.mutable_worker_ids() = job.worker_ids();
    *request.mutable_tables() = map.tables();
    for (v1::DenseRange& range : RangesOf(map, i)) {
      *request.add_ranges() = std::move(range);
    }
    request.set_sparse_partitions(map.sparse_partitions());
    for (uint32_t p : PartitionsOf(map, i)) request.add_owned_partitions(p);
    requests.push_back(std::move(request));
  }
  for (const absl::Status& s : RunConcurrently(map.servers_size(), [&](int i) {
         return servers_->CreateTables(map.servers(i), requests[i]);
       })) {
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

void JobManager::RunDrops() {
  std::vector<Drop> drops;
  {
    absl::MutexLock lock(&mu_);
    drops.swap(drops_);
  }
  std::vector<std::pair<const v1::ServerEndpoint*, const std::string*>> calls;
  for (const Drop& d : drops) {
    for (const v1::ServerEndpoint& s : d.servers)
      calls.push_back({&s, &d.job_id});
  }
  const std::vector<absl::Status> done =
      RunConcurrently(static_cast<int>(calls.size()), [&](int i) {
        return servers_->DropTables(*calls[i].first, *calls[i].second);
      });
  for (size_t i = 0; i < done.size(); ++i) {
    // A dead server has lost the tables anyway; nothing to retry.
    if (!done[i].ok()) {
      Logger("jobs")->warn("{}: {}", *calls[i].second, done[i].ToString());
    }
  }
}

}  // namespace ps::coordinator
