// Where a pending job runs: whether the cluster has room for it now, which
// workers and servers it gets, its partition map, and the CreateTables
// request each of its servers receives. Pure functions of their arguments:
// no lock, no clock, no RPC (JobManager supplies the members and sends the
// requests).
#ifndef PS_COORDINATOR_JOB_PLACEMENT_H_
#define PS_COORDINATOR_JOB_PLACEMENT_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "coordinator/membership.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::coordinator {

// What a job of `spec` waits for, given the idle workers and live servers;
// "" when it can start. A job needs cluster.num_workers idle workers and
// cluster.num_servers live servers (every live server, at least one, when
// num_servers is 0).
std::string WhatJobWaitsFor(const v1::JobSpec& spec, int idle_workers,
                            int live_servers);

struct Placement {
  std::vector<std::string> worker_ids;  // by rank
  v1::PartitionMap partition_map;
};

// Places a job that can start (WhatJobWaitsFor is ""): the first
// num_workers of `idle_workers` by rank, the first servers of
// `live_servers`, and the model's tables partitioned over them at epoch
// *next_epoch, which is advanced once the model's tables are known.
// Fails as ModelTables (common/model_layout.h) or BuildPartitionMap
// (common/partition.h) does.
absl::StatusOr<Placement> PlaceJob(const v1::JobSpec& spec,
                                   const std::vector<std::string>& idle_workers,
                                   const std::vector<MemberInfo>& live_servers,
                                   uint64_t* next_epoch);

// Copies of each piece a job of `spec` keeps on `servers` servers
// (ClusterSpec.replicas; 0 picks 2 when there are two or more servers).
int WantedReplicas(const v1::JobSpec& spec, int servers);

// One CreateTables call: the server it goes to and the request.
struct TableCreation {
  v1::ServerEndpoint server;
  v1::CreateTablesRequest request;
};

// The CreateTables request of every replica of every group of the placed
// `job`, group by group: the job's consistency, its workers by rank, all
// its tables, the group's dense ranges and sparse partitions, and the
// replica's role (and, for the primary, its backups).
std::vector<TableCreation> CreateTablesRequests(const v1::Job& job);

// The same for one replica of group `group` of `job`, with the map's
// epoch; `role` JOINING for a copy being made.
v1::CreateTablesRequest GroupRequest(const v1::Job& job, int group,
                                     v1::ReplicaRole role);

// Every server that holds or held a group of the job (its placement and
// every replica a failover or a copy added), each once.
std::vector<v1::ServerEndpoint> ServersOfJob(const v1::Job& job);

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_JOB_PLACEMENT_H_
