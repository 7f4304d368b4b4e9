#include "client/export.h"

#include <cstdio>
#include <fstream>

#include "absl/strings/str_cat.h"
#include "client/ps_client.h"

namespace ps::client {
namespace {

constexpr char kMagic[4] = {'P', 'S', 'X', '1'};
constexpr int64_t kMaxValues = int64_t{1} << 36;

template <typename T>
void Put(std::ofstream& out, T v) {
  out.write(reinterpret_cast<const char*>(&v), sizeof(v));
}

template <typename T>
bool Get(std::ifstream& in, T* v) {
  return static_cast<bool>(in.read(reinterpret_cast<char*>(v), sizeof(*v)));
}

}  // namespace

absl::Status ExportJob(const v1::Job& job, const std::string& path) {
  if (job.partition_map().tables_size() == 0) {
    return absl::FailedPreconditionError(absl::StrCat(
        "job ", job.id(), " is ", v1::JobState_Name(job.state()),
        " and has no tables to export"));
  }
  std::vector<TableRef> refs;
  std::vector<ExportedTable> tables;
  int64_t total = 0;
  for (const v1::TableDef& t : job.partition_map().tables()) {
    if (t.kind() == v1::SPARSE) continue;  // see export.h
    refs.push_back({t.name(), 0, t.size(), total});
    tables.push_back({t.name(), {t.shape().begin(), t.shape().end()}, {}});
    total += t.size();
  }
  absl::StatusOr<std::unique_ptr<PsClient>> client =
      PsClient::Create(job.id(), job.partition_map(), {});
  if (!client.ok()) return client.status();
  std::vector<float> values(total);
  absl::Status s = (*client)->Pull(refs, values.data());
  if (!s.ok()) return s;
  for (size_t i = 0; i < tables.size(); ++i) {
    tables[i].values.assign(values.begin() + refs[i].buffer_offset,
                            values.begin() + refs[i].buffer_offset + refs[i].count);
  }
  return WriteExport(tables, path);
}

absl::Status WriteExport(const std::vector<ExportedTable>& tables,
                         const std::string& path) {
  const std::string tmp = path + ".tmp";
  {
    std::ofstream out(tmp, std::ios::binary | std::ios::trunc);
    if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", tmp));
    out.write(kMagic, 4);
    Put<uint32_t>(out, tables.size());
    for (const ExportedTable& t : tables) {
      Put<uint32_t>(out, t.name.size());
      out.write(t.name.data(), t.name.size());
      Put<uint32_t>(out, t.shape.size());
      for (int64_t d : t.shape) Put<int64_t>(out, d);
      Put<int64_t>(out, t.values.size());
      out.write(reinterpret_cast<const char*>(t.values.data()), t.values.size() * 4);
    }
    if (!out) return absl::ResourceExhaustedError(absl::StrCat("writing ", tmp, " failed"));
  }
  if (std::rename(tmp.c_str(), path.c_str()) != 0) {
    return absl::PermissionDeniedError(absl::StrCat("cannot rename ", tmp, " to ", path));
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
  if (!in.read(magic, 4) || std::string(magic, 4) != "PSX1" || !Get(in, &count)) {
    return corrupt("not a PSX1 export (bad magic)");
  }
  std::vector<ExportedTable> tables(count);
  for (ExportedTable& t : tables) {
    uint32_t len = 0, dims = 0;
    int64_t n = 0;
    if (!Get(in, &len) || len > 4096) return corrupt("bad table name length");
    t.name.resize(len);
    if (!in.read(t.name.data(), len) || !Get(in, &dims) || dims > 16) {
      return corrupt("bad table header");
    }
    t.shape.resize(dims);
    for (int64_t& d : t.shape) {
      if (!Get(in, &d)) return corrupt("truncated shape");
    }
    if (!Get(in, &n) || n < 0 || n > kMaxValues) return corrupt("bad value count");
    t.values.resize(n);
    if (!in.read(reinterpret_cast<char*>(t.values.data()), n * 4)) {
      return corrupt(absl::StrCat("truncated values of table ", t.name));
    }
  }
  return tables;
}

}  // namespace ps::client
