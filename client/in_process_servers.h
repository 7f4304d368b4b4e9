// Parameter servers running inside a test's own process, on loopback port 0:
// real gRPC services over real TableStores, for tests of code that talks to
// servers (PsClient, export) without starting processes.
//
// Not thread-safe; the destructor shuts down every server still running.
#ifndef PS_CLIENT_IN_PROCESS_SERVERS_H_
#define PS_CLIENT_IN_PROCESS_SERVERS_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "grpcpp/server.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/ps_service.h"
#include "server/table_store.h"

namespace ps::client {

// A table for tests: dense with `size` values, or (dim > 0) sparse with
// rows of `dim`; initial values uniform in [-1, 1] from seed 5, SGD at
// learning rate 1.
v1::TableDef TestTable(const std::string& name, int64_t size, int dim = 0);

class InProcessServers {
 public:
  // Starts `n` servers, member ids "s-0", "s-1", ...
  static absl::StatusOr<std::unique_ptr<InProcessServers>> Start(int n);
  ~InProcessServers();

  // Member id and address of each server, for BuildPartitionMap.
  const std::vector<v1::ServerEndpoint>& endpoints() const {
    return endpoints_;
  }
  server::TableStore* store(int i) { return stores_[i].get(); }

  // Sends `request` (job, tables, consistency, ...) to every server with the
  // epoch, ranges and, when request.sparse_partitions() > 0, partitions
  // that `map` gives that server.
  absl::Status CreateTables(const v1::CreateTablesRequest& request,
                            const v1::PartitionMap& map);

  // Plans `tables` over these servers (map epoch `epoch`) and creates them,
  // sparse partitions included, for job `job_id` on every server.
  absl::StatusOr<v1::PartitionMap> CreateJob(
      const std::string& job_id, uint64_t epoch,
      const std::vector<v1::TableDef>& tables);

  // Shuts server i down: its address refuses connections from now on.
  void Stop(int i);

 private:
  InProcessServers() = default;

  std::vector<std::unique_ptr<server::TableStore>> stores_;
  std::vector<std::unique_ptr<server::PsService>> services_;
  std::vector<std::unique_ptr<grpc::Server>> servers_;
  std::vector<v1::ServerEndpoint> endpoints_;
};

}  // namespace ps::client

#endif  // PS_CLIENT_IN_PROCESS_SERVERS_H_
