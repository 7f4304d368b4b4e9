#include "client/in_process_servers.h"

#include <string>

#include "common/partition.h"
#include "common/rpc.h"

namespace ps::client {

v1::TableDef TestTable(const std::string& name, int64_t size, int dim) {
  v1::TableDef t;
  t.set_name(name);
  t.set_size(size);
  t.mutable_init()->set_kind(v1::Initializer::UNIFORM);
  t.mutable_init()->set_scale(1);
  t.mutable_init()->set_seed(5);
  t.mutable_optimizer()->set_type(v1::SGD);
  t.mutable_optimizer()->set_learning_rate(1);
  if (dim > 0) {
    t.set_kind(v1::SPARSE);
    t.set_dim(dim);
  }
  return t;
}

absl::StatusOr<std::unique_ptr<InProcessServers>> InProcessServers::Start(
    int n) {
  std::unique_ptr<InProcessServers> out(new InProcessServers());
  for (int i = 0; i < n; ++i) {
    out->stores_.push_back(std::make_unique<server::TableStore>());
    out->services_.push_back(
        std::make_unique<server::PsService>(out->stores_.back().get()));
    auto running = StartServer("127.0.0.1", 0, {out->services_.back().get()});
    if (!running.ok()) return running.status();
    out->endpoints_.emplace_back().set_member_id("s-" + std::to_string(i));
    out->endpoints_.back().set_address(running->address);
    out->servers_.push_back(std::move(running->server));
  }
  return out;
}

InProcessServers::~InProcessServers() {
  for (int i = 0; i < static_cast<int>(servers_.size()); ++i) Stop(i);
}

absl::Status InProcessServers::CreateTables(
    const v1::CreateTablesRequest& request, const v1::PartitionMap& map) {
  for (int i = 0; i < static_cast<int>(stores_.size()); ++i) {
    v1::CreateTablesRequest mine = request;
    mine.set_epoch(map.epoch());
    mine.set_group(i);
    for (const auto& r : RangesOf(map, i)) *mine.add_ranges() = r;
    if (request.sparse_partitions() > 0) {
      for (uint32_t p : PartitionsOf(map, i)) mine.add_owned_partitions(p);
    }
    absl::Status s = stores_[i]->CreateTables(mine);
    if (!s.ok()) return s;
  }
  return absl::OkStatus();
}

absl::StatusOr<v1::PartitionMap> InProcessServers::CreateJob(
    const std::string& job_id, uint64_t epoch,
    const std::vector<v1::TableDef>& tables) {
  absl::StatusOr<v1::PartitionMap> map =
      BuildPartitionMap(epoch, endpoints_, tables);
  if (!map.ok()) return map.status();
  v1::CreateTablesRequest request;
  request.set_job_id(job_id);
  for (const v1::TableDef& t : tables) *request.add_tables() = t;
  request.set_sparse_partitions(map->sparse_partitions());
  absl::Status s = CreateTables(request, *map);
  if (!s.ok()) return s;
  return map;
}

void InProcessServers::Stop(int i) {
  if (servers_[i] == nullptr) return;
  servers_[i]->Shutdown(DeadlineIn(absl::Seconds(1)));
  servers_[i].reset();
}

}  // namespace ps::client
