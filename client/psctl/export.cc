#include "client/psctl/export.h"

#include <algorithm>
#include <cstring>
#include <map>
#include <utility>

#include "absl/strings/str_cat.h"
#include "client/ps_client.h"
#include "client/psctl/file_io.h"
#include "client/psctl/psx_format.h"
#include "client/psctl/safetensors.h"
#include "client/psctl/safetensors_export.h"
#include "common/job_token.h"
#include "common/rpc.h"
#include "common/status.h"
#include "proto/ps/v1/ps.grpc.pb.h"

namespace ps::client {
namespace {

// A scan moves every row of a table; give it far longer than a step.
constexpr absl::Duration kScanTimeout = absl::Minutes(10);

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
                        const ServerAccess& access, ScannedRows* out) {
  auto stub = v1::ParameterServer::NewStub(
      MakeChannel(access.security.get(), server.address()));
  grpc::ClientContext ctx;
  if (!access.job_token.empty()) {
    ctx.AddMetadata(kJobTokenMetadata, access.job_token);
  }
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
                       const ServerAccess& access, ExportedTable* out) {
  ScannedRows scanned;
  const v1::PartitionMap& map = job.partition_map();
  for (int g = 0; g < map.servers_size(); ++g) {
    const v1::ServerEndpoint& primary =
        map.groups_size() > 0 && map.groups(g).replicas_size() > 0
            ? map.groups(g).replicas(0)
            : map.servers(g);
    absl::Status s = ScanServer(job, def, g, primary, access, &scanned);
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

absl::Status ExportJob(const v1::Job& job, const std::string& path,
                       ExportFormat format, const ServerAccess& access) {
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
      absl::Status s = ScanTable(job, t, access, &table);
      if (!s.ok()) return s;
      continue;
    }
    refs.push_back({t.name(), 0, t.size(), total});
    dense_table.push_back(static_cast<int>(tables.size()) - 1);
    total += t.size();
  }
  if (!refs.empty()) {
    JobTokenHolder token;
    token.Set(access.job_token);
    PsClientOptions options;
    options.security = access.security;
    if (!access.job_token.empty()) options.job_token = &token;
    absl::StatusOr<std::unique_ptr<PsClient>> client =
        PsClient::Create(job.id(), job.partition_map(), options);
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
  return WriteExport(tables, path, format, job.id());
}

absl::StatusOr<ExportFormat> ParseExportFormat(absl::string_view name) {
  if (name == "psx") return ExportFormat::kPsx;
  if (name == "safetensors") return ExportFormat::kSafetensors;
  return absl::InvalidArgumentError(
      absl::StrCat("--format: '", name,
                   "' is not an export format; allowed: psx, safetensors"));
}

absl::Status WriteExport(const std::vector<ExportedTable>& tables,
                         const std::string& path, ExportFormat format,
                         const std::string& job_id) {
  absl::StatusOr<std::string> bytes;
  if (format == ExportFormat::kPsx) {
    bytes = EncodePsx(tables);
  } else {
    std::map<std::string, std::string> metadata;
    if (!job_id.empty()) metadata["job"] = job_id;
    absl::StatusOr<Safetensors> file = TablesToSafetensors(tables, metadata);
    bytes = file.ok() ? EncodeSafetensors(*file) : file.status();
  }
  if (!bytes.ok()) return Annotate(bytes.status(), path);
  return WriteFileAtomically(path, *bytes);
}

absl::StatusOr<std::vector<ExportedTable>> ReadExport(const std::string& path,
                                                      ExportFormat format) {
  absl::StatusOr<std::string> bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.status();
  if (format == ExportFormat::kPsx) return ParsePsx(*bytes, path);
  absl::StatusOr<Safetensors> file = ParseSafetensors(*bytes, path);
  if (!file.ok()) return file.status();
  return TablesFromSafetensors(*file, path);
}

}  // namespace ps::client
