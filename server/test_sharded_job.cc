#include "server/test_sharded_job.h"

#include <algorithm>
#include <cstring>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/hash.h"
#include "common/partition.h"

namespace ps::server {
namespace {

const char* const kWorkers[] = {"w0", "w1"};

v1::TableDef Table(const std::string& name, v1::TableKind kind, int64_t size,
                   v1::OptimizerType optimizer, float lr, uint64_t seed) {
  v1::TableDef t;
  t.set_name(name);
  t.set_kind(kind);
  if (kind == v1::SPARSE) {
    t.set_dim(kShardedDim);
  } else {
    t.set_size(size);
    t.add_shape(size);
  }
  t.mutable_init()->set_kind(seed == 0 ? v1::Initializer::ZEROS
                                       : v1::Initializer::UNIFORM);
  if (seed != 0) {
    t.mutable_init()->set_scale(0.1f);
    t.mutable_init()->set_seed(seed);
  }
  t.mutable_optimizer()->set_type(optimizer);
  t.mutable_optimizer()->set_learning_rate(lr);
  return t;
}

// Rank `rank`'s gradient of step `step` for value `index` of `table`
// (index key * dim + j for row j of a sparse key): in [-0.5, 0.5).
float Gradient(const std::string& table, uint64_t index, int64_t step,
               int rank) {
  const uint64_t h = SplitMix64(
      index * 0x100000001b3ULL ^ (static_cast<uint64_t>(step) << 40) ^
      (static_cast<uint64_t>(rank) << 56) ^ static_cast<uint64_t>(table[0]));
  return static_cast<float>(static_cast<double>(h >> 40) / (1 << 24) - 0.5);
}

// The keys of "e" rank `rank` pushes at step `step`: ascending, distinct.
std::vector<uint64_t> StepKeys(int64_t step, int rank) {
  std::vector<uint64_t> keys;
  for (uint64_t j = 0; j < 60; ++j) {
    keys.push_back(SplitMix64(step * 7919 + rank * 104729 + j) % kShardedKeys);
  }
  std::sort(keys.begin(), keys.end());
  keys.erase(std::unique(keys.begin(), keys.end()), keys.end());
  return keys;
}

void AppendFloat(std::string* out, float f) {
  out->append(reinterpret_cast<const char*>(&f), sizeof(f));
}

std::string KeyBytes(const std::vector<uint64_t>& keys) {
  return std::string(reinterpret_cast<const char*>(keys.data()),
                     keys.size() * sizeof(uint64_t));
}

void AppendValues(const std::string& bytes, std::vector<float>* out) {
  const size_t at = out->size();
  out->resize(at + bytes.size() / sizeof(float));
  std::memcpy(out->data() + at, bytes.data(), bytes.size());
}

}  // namespace

std::vector<v1::TableDef> ShardedTables() {
  return {Table("a", v1::DENSE, 2 * kMinSplitValues + 5, v1::ADAM, 0.01f, 11),
          Table("b", v1::DENSE, 300, v1::MOMENTUM, 0.1f, 0),
          Table("e", v1::SPARSE, 0, v1::ADAM, 0.02f, 5)};
}

v1::PartitionMap ShardedMap(int servers, uint64_t epoch) {
  std::vector<v1::ServerEndpoint> endpoints(servers);
  for (int i = 0; i < servers; ++i) {
    endpoints[i].set_member_id(absl::StrCat("server-", epoch, "-", i));
    endpoints[i].set_address(absl::StrCat("10.0.", epoch, ".", i, ":7000"));
  }
  absl::StatusOr<v1::PartitionMap> map =
      BuildPartitionMap(epoch, endpoints, ShardedTables());
  PlaceReplicaGroups(servers >= 2 ? 2 : 1, &*map);
  return *map;
}

ShardedJob::ShardedJob(v1::PartitionMap map, v1::Consistency mode)
    : map_(std::move(map)), mode_(mode), epoch_(map_.epoch()) {}

v1::CreateTablesRequest ShardedJob::GroupRequest(int g,
                                                 v1::ReplicaRole role) const {
  v1::CreateTablesRequest r;
  r.set_job_id(kShardedJob);
  r.set_epoch(epoch_);
  r.set_consistency(mode_);
  r.set_staleness(mode_ == v1::SSP ? 2 : 0);
  for (const char* w : kWorkers) r.add_worker_ids(w);
  *r.mutable_tables() = map_.tables();
  for (const v1::DenseRange& range : RangesOf(map_, g)) {
    *r.add_ranges() = range;
  }
  r.set_sparse_partitions(map_.sparse_partitions());
  for (uint32_t p : PartitionsOf(map_, g)) r.add_owned_partitions(p);
  r.set_group(g);
  r.set_role(role);
  return r;
}

absl::Status ShardedJob::Start() {
  for (int g = 0; g < map_.servers_size(); ++g) {
    if (absl::Status s = store_.CreateTables(GroupRequest(g, v1::PRIMARY));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::Status ShardedJob::Restore(const std::vector<std::string>& snapshots) {
  for (int g = 0; g < map_.servers_size(); ++g) {
    absl::Status s = store_.CreateTables(GroupRequest(g, v1::JOINING));
    if (s.ok()) {
      s = store_.InstallSnapshot(kShardedJob, g, epoch_, /*op=*/0,
                                 snapshots[g]);
    }
    if (!s.ok()) return s;
  }
  ++epoch_;
  for (int g = 0; g < map_.servers_size(); ++g) {
    v1::SetReplicasRequest request;
    request.set_job_id(kShardedJob);
    request.set_epoch(epoch_);
    request.set_group(g);
    request.set_role(v1::PRIMARY);
    uint64_t applied = 0;
    if (absl::Status s = store_.SetReplicas(request, &applied); !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<std::string>> ShardedJob::Snapshots() const {
  std::vector<std::string> out(map_.servers_size());
  for (int g = 0; g < map_.servers_size(); ++g) {
    uint64_t op = 0;
    if (absl::Status s = store_.SnapshotGroup(kShardedJob, g, &out[g], &op);
        !s.ok()) {
      return s;
    }
  }
  return out;
}

int ShardedJob::GroupOfKey(uint64_t key) const {
  return map_.partition_servers(SparsePartition(key, map_.sparse_partitions()));
}

absl::Status ShardedJob::PushStep(int rank, int64_t step) {
  const std::vector<uint64_t> keys = StepKeys(step, rank);
  for (int g = 0; g < map_.servers_size(); ++g) {
    v1::PushRequest p;
    p.set_job_id(kShardedJob);
    p.set_epoch(epoch_);
    p.set_group(g);
    p.set_worker_id(kWorkers[rank]);
    p.set_seq(static_cast<uint64_t>(step) * 100 + g + 1);
    p.set_clock(step);
    p.set_clock_pushes(1);
    std::string values;
    for (const v1::DenseRange& r : RangesOf(map_, g)) {
      v1::DenseSlice* slice = p.add_slices();
      slice->set_table(r.table());
      slice->set_offset(r.begin());
      slice->set_count(r.end() - r.begin());
      for (int64_t i = r.begin(); i < r.end(); ++i) {
        AppendFloat(&values, Gradient(r.table(), i, step, rank));
      }
    }
    std::vector<uint64_t> mine;
    for (uint64_t k : keys) {
      if (GroupOfKey(k) == g) mine.push_back(k);
    }
    if (!mine.empty()) {
      p.add_sparse()->set_table("e");
      p.mutable_sparse(0)->set_keys(static_cast<int64_t>(mine.size()));
      p.set_keys(KeyBytes(mine));
      for (uint64_t k : mine) {
        for (int j = 0; j < kShardedDim; ++j) {
          AppendFloat(&values, Gradient("e", k * kShardedDim + j, step, rank));
        }
      }
    }
    p.set_values(std::move(values));
    bool duplicate = false;
    if (absl::Status s = store_.Push(p, &duplicate); !s.ok()) return s;
    if (duplicate) {
      return absl::InternalError(absl::StrCat("step ", step, " of rank ", rank,
                                              " to group ", g,
                                              " was answered as a duplicate"));
    }
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<float>> ShardedJob::PullDense(
    const std::string& table) const {
  std::vector<v1::DenseRange> ranges;
  for (const v1::DenseRange& r : map_.ranges()) {
    if (r.table() == table) ranges.push_back(r);
  }
  std::sort(ranges.begin(), ranges.end(),
            [](const v1::DenseRange& a, const v1::DenseRange& b) {
              return a.begin() < b.begin();
            });
  std::vector<float> out;
  for (const v1::DenseRange& r : ranges) {
    v1::PullRequest pull;
    pull.set_job_id(kShardedJob);
    pull.set_epoch(epoch_);
    pull.set_group(r.server_index());
    v1::DenseSlice* slice = pull.add_slices();
    slice->set_table(table);
    slice->set_offset(r.begin());
    slice->set_count(r.end() - r.begin());
    v1::PullResponse response;
    absl::Status s =
        store_.Pull(pull, absl::Now() + absl::Seconds(10), &response);
    if (!s.ok()) return s;
    AppendValues(response.values(), &out);
  }
  return out;
}

absl::StatusOr<std::vector<float>> ShardedJob::PullRows(
    const std::vector<uint64_t>& keys) const {
  std::vector<float> out(keys.size() * kShardedDim);
  for (int g = 0; g < map_.servers_size(); ++g) {
    std::vector<uint64_t> mine;
    std::vector<size_t> at;  // where each of mine goes in `keys`
    for (size_t i = 0; i < keys.size(); ++i) {
      if (GroupOfKey(keys[i]) != g) continue;
      mine.push_back(keys[i]);
      at.push_back(i);
    }
    if (mine.empty()) continue;
    v1::PullRequest pull;
    pull.set_job_id(kShardedJob);
    pull.set_epoch(epoch_);
    pull.set_group(g);
    pull.add_sparse()->set_table("e");
    pull.mutable_sparse(0)->set_keys(static_cast<int64_t>(mine.size()));
    pull.set_keys(KeyBytes(mine));
    v1::PullResponse response;
    absl::Status s =
        store_.Pull(pull, absl::Now() + absl::Seconds(10), &response);
    if (!s.ok()) return s;
    std::vector<float> rows;
    AppendValues(response.values(), &rows);
    if (rows.size() != mine.size() * kShardedDim) {
      return absl::InternalError("a pull of rows answered another size");
    }
    for (size_t i = 0; i < mine.size(); ++i) {
      std::copy_n(rows.data() + i * kShardedDim, kShardedDim,
                  out.data() + at[i] * kShardedDim);
    }
  }
  return out;
}

absl::Status ShardedJob::PullNowAt(int64_t clock) const {
  for (const v1::DenseRange& r : map_.ranges()) {
    if (r.table() != "b") continue;
    v1::PullRequest pull;
    pull.set_job_id(kShardedJob);
    pull.set_epoch(epoch_);
    pull.set_group(r.server_index());
    pull.set_clock(clock);
    v1::DenseSlice* slice = pull.add_slices();
    slice->set_table("b");
    slice->set_offset(r.begin());
    slice->set_count(r.end() - r.begin());
    v1::PullResponse response;
    return store_.Pull(pull, absl::InfinitePast(), &response);
  }
  return absl::NotFoundError("no range of b");
}

}  // namespace ps::server
