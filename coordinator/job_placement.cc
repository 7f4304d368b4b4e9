#include "coordinator/job_placement.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/model_layout.h"
#include "common/partition.h"

namespace ps::coordinator {
namespace {

// Servers a job of `spec` uses when `live` are live.
int WantedServers(const v1::JobSpec& spec, int live) {
  return spec.cluster().num_servers() > 0 ? spec.cluster().num_servers() : live;
}

}  // namespace

std::string WhatJobWaitsFor(const v1::JobSpec& spec, int idle_workers,
                            int live_servers) {
  const int want_servers = WantedServers(spec, live_servers);
  if (idle_workers >= spec.cluster().num_workers() && live_servers > 0 &&
      live_servers >= want_servers) {
    return "";
  }
  return absl::StrCat("waiting for ", spec.cluster().num_workers(),
                      " idle workers (", idle_workers, " idle) and ",
                      std::max(want_servers, 1), " live servers (",
                      live_servers, " live)");
}

absl::StatusOr<Placement> PlaceJob(const v1::JobSpec& spec,
                                   const std::vector<std::string>& idle_workers,
                                   const std::vector<MemberInfo>& live_servers,
                                   uint64_t* next_epoch) {
  const int want_servers =
      WantedServers(spec, static_cast<int>(live_servers.size()));
  std::vector<v1::ServerEndpoint> endpoints;
  for (int i = 0; i < want_servers; ++i) {
    v1::ServerEndpoint& e = endpoints.emplace_back();
    e.set_member_id(live_servers[i].id);
    e.set_address(live_servers[i].address);
  }
  absl::StatusOr<std::vector<v1::TableDef>> tables = ModelTables(spec);
  if (!tables.ok()) return tables.status();
  absl::StatusOr<v1::PartitionMap> map =
      BuildPartitionMap((*next_epoch)++, endpoints, *tables);
  if (!map.ok()) return map.status();
  PlaceReplicaGroups(WantedReplicas(spec, want_servers), &*map);
  Placement placement;
  placement.worker_ids.assign(
      idle_workers.begin(),
      idle_workers.begin() + spec.cluster().num_workers());
  placement.partition_map = *std::move(map);
  return placement;
}

int WantedReplicas(const v1::JobSpec& spec, int servers) {
  const int asked = spec.cluster().replicas();
  if (asked > 0) return std::min(asked, std::max(servers, 1));
  return servers >= 2 ? 2 : 1;
}

v1::CreateTablesRequest GroupRequest(const v1::Job& job, int group,
                                     v1::ReplicaRole role) {
  const v1::PartitionMap& map = job.partition_map();
  v1::CreateTablesRequest request;
  request.set_job_id(job.id());
  request.set_epoch(map.epoch());
  request.set_consistency(job.spec().training().consistency());
  request.set_staleness(job.spec().training().staleness());
  // The ids the servers know the ranks by: a rank taken over by another
  // worker keeps its first worker's (Job.push_worker_ids).
  *request.mutable_worker_ids() = job.push_worker_ids_size() > 0
                                      ? job.push_worker_ids()
                                      : job.worker_ids();
  *request.mutable_tables() = map.tables();
  for (v1::DenseRange& range : RangesOf(map, group)) {
    *request.add_ranges() = std::move(range);
  }
  request.set_sparse_partitions(map.sparse_partitions());
  for (uint32_t p : PartitionsOf(map, group)) request.add_owned_partitions(p);
  request.set_group(group);
  request.set_role(role);
  return request;
}

std::vector<TableCreation> CreateTablesRequests(const v1::Job& job) {
  const v1::PartitionMap& map = job.partition_map();
  std::vector<TableCreation> out;
  for (int g = 0; g < map.servers_size(); ++g) {
    if (map.groups_size() == 0) {
      out.push_back({map.servers(g), GroupRequest(job, g, v1::PRIMARY)});
      continue;
    }
    const v1::ReplicaGroup& group = map.groups(g);
    for (int k = 0; k < group.replicas_size(); ++k) {
      TableCreation& c = out.emplace_back();
      c.server = group.replicas(k);
      c.request = GroupRequest(job, g, k == 0 ? v1::PRIMARY : v1::BACKUP);
      if (k == 0) {
        for (int b = 1; b < group.replicas_size(); ++b) {
          *c.request.add_backups() = group.replicas(b);
        }
      }
    }
  }
  return out;
}

// Every server that holds or held a group of the job.
std::vector<v1::ServerEndpoint> ServersOfJob(const v1::Job& job) {
  std::vector<v1::ServerEndpoint> out(job.partition_map().servers().begin(),
                                      job.partition_map().servers().end());
  for (const v1::ReplicaGroup& g : job.partition_map().groups()) {
    for (const v1::ServerEndpoint& e : g.replicas()) {
      bool known = false;
      for (const v1::ServerEndpoint& o : out) {
        known |= o.member_id() == e.member_id();
      }
      if (!known) out.push_back(e);
    }
  }
  return out;
}

}  // namespace ps::coordinator
