#include "client/psctl/export.h"

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/ps_client.h"
#include "common/rpc.h"
#include "common/status.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::client {
namespace {

constexpr char kMagic[4] = {'P', 'S', 'X', '2'};
constexpr int64_t kMaxValues = int64_t{1} << 36;
// A scan moves every row of a table; give it far longer than a step.
constexpr absl::Duration kScanTimeout = absl::Minutes(10);

template <typename T>
void Put(std::ofstream& out, T v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof(v));
}

template <typename T>
bool Get(std::ifstream& in, T* v) {
  return static_cast<bool>(in.read(reinterpret_cast<char*>(v), sizeof(*v)));
}

// Rows scanned from the servers, in the order they came.
struct ScannedRows {
  std::vector<std::pair<uint64_t, size_t>> order;  // key, row in `rows`
  std::vector<float> rows;
};

// Appends the rows of `block` (of width `dim`) to *out. DATA_LOSS when its
// keys and values do not fit together.
absl::Status AddBlock(const v1::RowBlock& block, size_t dim, ScannedRows* out) {
  const size_t n = block.keys().size() / sizeof(uint64_t);
  if (block.keys().size() % sizeof(uint64_t) != 0 ||
      block.values().size() != n * dim * sizeof(float)) {
    return absl::DataLossError(
        absl::StrCat("a block of ", block.keys().size(), " key bytes and ",
                     block.values().size(), " value bytes for rows of ", dim));
  }
  const float* values = reinterpret_cast<const float*>(block.values().data());
  for (size_t i = 0; i < n; ++i) {
    uint64_t key;
    std::memcpy(&key, block.keys().data() + i * sizeof(key), sizeof(key));
    out->order.emplace_back(key, out->rows.size() / dim);
    out->rows.insert(out->rows.end(), values + i * dim, values + (i + 1) * dim);
  }
  return absl::OkStatus();
}

// Every row of sparse table `def` that replica group `group` of `job` holds,
// from `server`, its primary.
absl::Status ScanServer(const v1::Job& job, const v1::TableDef& def,
                        int group, const v1::ServerEndpoint& server,
                        ScannedRows* out) {
  auto stub = v1::ParameterServer::NewStub(MakeChannel(server.address()));
  grpc::ClientContext ctx;
  ctx.set_deadline(DeadlineIn(kScanTimeout));
  v1::ScanRowsRequest request;
  request.set_job_id(job.id());
  request.set_epoch(job.partition_map().epoch());
  request.set_table(def.name());
  request.set_group(group);
  std::unique_ptr<grpc::ClientReader<v1::RowBlock>> reader =
      stub->ScanRows(&ctx, request);
  v1::RowBlock block;
  absl::Status bad;
  while (bad.ok() && reader->Read(&block)) {
    bad = AddBlock(block, def.dim(), out);
    if (!bad.ok()) ctx.TryCancel();
  }
  absl::Status s = FromGrpcStatus(reader->Finish());
  if (bad.ok()) bad = s;
  if (bad.ok()) return bad;
  return Annotate(bad,
                  absl::StrCat("job ", job.id(), ": scan of table ", def.name(),
                               " on server ", server.member_id(), " at ",
                               server.address()));
}

// Every row of sparse table `def` from every server of `job`'s map, sorted
// by key.
absl::Status ScanTable(const v1::Job& job, const v1::TableDef& def,
                       ExportedTable* out) {
  ScannedRows scanned;
  const v1::PartitionMap& map = job.partition_map();
  for (int g = 0; g < map.servers_size(); ++g) {
    const v1::ServerEndpoint& primary =
        map.groups_size() > 0 && map.groups(g).replicas_size() > 0
            ? map.groups(g).replicas(0)
            : map.servers(g);
    absl::Status s = ScanServer(job, def, g, primary, &scanned);
    if (!s.ok()) return s;
  }
  std::vector<std::pair<uint64_t, size_t>>& order = scanned.order;
  std::sort(order.begin(), order.end());
  const size_t dim = def.dim();
  out->sparse = true;
  out->dim = def.dim();
  out->keys.reserve(order.size());
  out->values.reserve(order.size() * dim);
  for (size_t i = 0; i < order.size(); ++i) {
    if (i > 0 && order[i].first == order[i - 1].first) {
      return absl::DataLossError(
          absl::StrCat("job ", job.id(), ": table ", def.name(), ": key ",
                       order[i].first, " came from two servers"));
    }
    out->keys.push_back(order[i].first);
    const float* row = scanned.rows.data() + order[i].second * dim;
    out->values.insert(out->values.end(), row, row + dim);
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ExportJob(const v1::Job& job, const std::string& path) {
  if (job.partition_map().tables_size() == 0) {
    return absl::FailedPreconditionError(
        absl::StrCat("job ", job.id(), " is ", v1::JobState_Name(job.state()),
                     " and has no tables to export"));
  }
  std::vector<TableRef> refs;
  std::vector<int> dense_table;  // ref -> index in `tables`
  std::vector<ExportedTable> tables;
  int64_t total = 0;
  for (const v1::TableDef& t : job.partition_map().tables()) {
    ExportedTable& table = tables.emplace_back();
    table.name = t.name();
    table.shape.assign(t.shape().begin(), t.shape().end());
    if (t.kind() == v1::SPARSE) {
      absl::Status s = ScanTable(job, t, &table);
      if (!s.ok()) return s;
      continue;
    }
    refs.push_back({t.name(), 0, t.size(), total});
    dense_table.push_back(static_cast<int>(tables.size()) - 1);
    total += t.size();
  }
  if (!refs.empty()) {
    absl::StatusOr<std::unique_ptr<PsClient>> client =
        PsClient::Create(job.id(), job.partition_map(), {});
    if (!client.ok()) return client.status();
    std::vector<float> values(total);
    absl::Status s = (*client)->Pull(refs, values.data());
    if (!s.ok()) return s;
    for (size_t i = 0; i < refs.size(); ++i) {
      tables[dense_table[i]].values.assign(
          values.begin() + refs[i].buffer_offset,
          values.begin() + refs[i].buffer_offset + refs[i].count);
    }
  }
  return WriteExport(tables, path);
}

absl::Status WriteExport(const std::vector<ExportedTable>& tables,
                         const std::string& path) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out)
      return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
    out.write(kMagic, 4);
    Put<uint32_t>(out, tables.size());
    for (const ExportedTable& t : tables) {
      Put<uint32_t>(out, t.name.size());
      out.write(t.name.data(), t.name.size());
      Put<uint32_t>(out, t.sparse ? 1 : 0);
      Put<uint32_t>(out, t.shape.size());
      for (int64_t d : t.shape) Put<int64_t>(out, d);
      if (t.sparse) {
        if (t.dim < 1 || t.values.size() != t.keys.size() * t.dim) {
          return absl::InvalidArgumentError(absl::StrCat(
              "table ", t.name, ": ", t.keys.size(), " keys of dim ", t.dim,
              " but ", t.values.size(), " values"));
        }
        Put<int32_t>(out, t.dim);
        Put<int64_t>(out, t.keys.size());
        out.write(reinterpret_cast<const char*>(t.keys.data()),
                  t.keys.size() * 8);
      } else {
        Put<int64_t>(out, t.values.size());
      }
      out.write(reinterpret_cast<const char*>(t.values.data()),
                t.values.size() * 4);
    }
    if (!out)
      return absl::ResourceExhaustedError(
          absl::StrCat("writing ", tmp, " failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::PermissionDeniedError(
        absl::StrCat("cannot rename ", tmp, " to ", path));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ExportedTable>> ReadExport(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot open ", path));
  auto corrupt = [&](absl::string_view what) {
    return absl::DataLossError(absl::StrCat(path, ": ", what));
  };
  char magic[4];
  uint32_t count = 0;
  if (!in.read(magic, 4) || !Get(in, &count)) {
    return corrupt("not a PSX export (too short)");
  }
  const std::string version(magic, 4);
  if (version != "PSX1" && version != "PSX2") {
    return corrupt("not a PSX1 or PSX2 export (bad magic)");
  }
  if (count > (1u << 20)) return corrupt("bad table count");
  std::vector<ExportedTable> tables(count);
  for (ExportedTable& t : tables) {
    uint32_t len = 0, dims = 0, kind = 0;
    if (!Get(in, &len) || len > 4096) return corrupt("bad table name length");
    t.name.resize(len);
    if (!in.read(t.name.data(), len)) return corrupt("bad table header");
    if (version == "PSX2" && (!Get(in, &kind) || kind > 1)) {
      return corrupt(absl::StrCat("bad kind of table ", t.name));
    }
    if (!Get(in, &dims) || dims > 16) return corrupt("bad table header");
    t.shape.resize(dims);
    for (int64_t& d : t.shape) {
      if (!Get(in, &d)) return corrupt("truncated shape");
    }
    int64_t n = 0;
    if (kind == 1) {
      int32_t dim = 0;
      int64_t rows = 0;
      if (!Get(in, &dim) || dim < 1 || dim > 4096 || !Get(in, &rows) ||
          rows < 0 || rows > kMaxValues / dim) {
        return corrupt(absl::StrCat("bad sparse header of table ", t.name));
      }
      t.sparse = true;
      t.dim = dim;
      t.keys.resize(rows);
      if (!in.read(reinterpret_cast<char*>(t.keys.data()), rows * 8)) {
        return corrupt(absl::StrCat("truncated keys of table ", t.name));
      }
      n = rows * dim;
    } else if (!Get(in, &n) || n < 0 || n > kMaxValues) {
      return corrupt("bad value count");
    }
    t.values.resize(n);
    if (!in.read(reinterpret_cast<char*>(t.values.data()), n * 4)) {
      return corrupt(absl::StrCat("truncated values of table ", t.name));
    }
  }
  return tables;
}

}  // namespace ps::client
