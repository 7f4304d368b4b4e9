// Writes the fuzz targets' seed corpora: small valid files from the real
// writers, and malformed ones that each break one rule. Run from the
// repository root after a format changes, and commit the result:
//
//   bazel run //fuzz:write_seeds
//
// (writes fuzz/corpus/<target>/ under the workspace, or under argv[1]).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "client/psctl/psx_format.h"
#include "client/psctl/safetensors.h"
#include "client/psctl/safetensors_export.h"
#include "common/partition.h"
#include "fuzz/snapshot_group.h"
#include "nlohmann/json.hpp"
#include "server/checkpoint_file.h"

namespace ps::client {
namespace {

template <typename T>
std::string Le(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

void Write(const std::string& dir, const std::string& name,
           const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

std::vector<ExportedTable> SomeTables() {
  ExportedTable embed{"embed", {1 << 16, 2}, {1, -2, 3.5f, 0, 1e-3f, 7}};
  embed.sparse = true;
  embed.dim = 2;
  embed.keys = {3, 400, 1ull << 62};
  return {embed,
          {"layer0.weight", {2, 2}, {0.5f, -0.5f, 0.25f, 2}},
          {"bias", {1}, {0.125f}}};
}

void PsxSeeds(const std::string& dir) {
  Write(dir, "valid_tables.psx", *EncodePsx(SomeTables()));
  Write(dir, "valid_dense.psx", *EncodePsx({{"w", {3}, {1, 2, 3}}}));
  Write(dir, "valid_none.psx", *EncodePsx({}));
  Write(dir, "valid_psx1.psx",
        "PSX1" + Le<uint32_t>(1) + Le<uint32_t>(1) + "t" + Le<uint32_t>(1) +
            Le<int64_t>(2) + Le<int64_t>(2) + Le(1.5f) + Le(-2.0f));
  const std::string head = "PSX2" + Le<uint32_t>(1) + Le<uint32_t>(1) + "t";
  Write(dir, "bad_huge_count.psx",
        head + Le<uint32_t>(0) + Le<uint32_t>(0) +
            Le<int64_t>(int64_t{1} << 36) + std::string(8, '\0'));
  Write(dir, "bad_huge_rows.psx",
        head + Le<uint32_t>(1) + Le<uint32_t>(0) + Le<int32_t>(8) +
            Le<int64_t>(1 << 30));
  const int64_t big = int64_t{1} << 32;
  Write(dir, "bad_dims_overflow.psx",
        head + Le<uint32_t>(0) + Le<uint32_t>(3) + Le(big) + Le(big) + Le(big) +
            Le<int64_t>(0));
  const std::string valid = *EncodePsx(SomeTables());
  Write(dir, "bad_truncated.psx", valid.substr(0, valid.size() - 5));
  Write(dir, "bad_unsorted_keys.psx",
        head + Le<uint32_t>(1) + Le<uint32_t>(0) + Le<int32_t>(1) +
            Le<int64_t>(2) + Le<uint64_t>(9) + Le<uint64_t>(3) + Le(1.0f) +
            Le(2.0f));
}

// A safetensors file with header `json` and `data`.
std::string File(const std::string& json, const std::string& data) {
  return Le<uint64_t>(json.size()) + json + data;
}

void SafetensorsSeeds(const std::string& dir) {
  const std::string valid =
      *EncodeSafetensors(*TablesToSafetensors(SomeTables(), {{"job", "j-1"}}));
  Write(dir, "valid_export.safetensors", valid);
  Safetensors plain;
  plain.tensors.push_back({"h", "F16", {2, 2}, std::string(8, '\1')});
  plain.tensors.push_back({"b", "BOOL", {3}, std::string(3, '\1')});
  plain.tensors.push_back({"d", "F64", {1}, Le(2.5)});
  plain.tensors.push_back({"s", "F32", {}, Le(1.0f)});
  Write(dir, "valid_plain.safetensors", *EncodeSafetensors(plain));
  Write(dir, "valid_empty.safetensors", File("{}", ""));
  const std::string entry =
      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, )";
  Write(dir, "bad_overlap.safetensors",
        File(entry + R"("b": {"dtype": "F32", "shape": [2],
                            "data_offsets": [4, 12]}})",
             std::string(12, '\0')));
  Write(dir, "bad_dtype.safetensors",
        File(R"({"a": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}})",
             std::string(8, '\0')));
  Write(dir, "bad_shape.safetensors",
        File(R"({"a": {"dtype": "U8", "shape": [4294967296, 4294967296],
                 "data_offsets": [0, 0]}})",
             ""));
  Write(dir, "bad_json.safetensors", File(R"({"a": {"dtype": )", ""));
  Write(dir, "bad_header_length.safetensors",
        Le<uint64_t>(uint64_t{1} << 40) + "{}");
  Write(dir, "bad_truncated.safetensors", valid.substr(0, valid.size() - 3));
  Write(dir, "bad_metadata.safetensors",
        File(R"({"__metadata__": {"format": 1}})", ""));
}

}  // namespace
}  // namespace ps::client

namespace ps::server {
namespace {

using client::Write;
using Json = nlohmann::ordered_json;

v1::TableDef Table(const std::string& name, int dim, int64_t size) {
  v1::TableDef t;
  t.set_name(name);
  t.set_kind(dim > 0 ? v1::SPARSE : v1::DENSE);
  t.set_dim(dim);
  t.set_size(size);
  t.mutable_init()->set_kind(v1::Initializer::UNIFORM);
  t.mutable_init()->set_scale(0.01f);
  t.mutable_init()->set_seed(3);
  t.mutable_optimizer()->set_type(dim > 0 ? v1::ADAGRAD : v1::ADAM);
  t.mutable_optimizer()->set_learning_rate(0.01f);
  return t;
}

// A manifest ValidateManifest accepts: `servers` groups (one file each),
// `workers` ranks, dense and sparse tables, consistency `mode`.
CheckpointManifest Manifest(int servers, int workers, v1::Consistency mode) {
  CheckpointManifest m;
  m.job_id = "job-3";
  m.checkpoint_id = 7;
  m.created_unix_ms = 1700000000123;
  m.job_spec.set_name("wide");
  m.job_spec.mutable_model()->set_type(v1::SPARSE_LR);
  m.job_spec.mutable_data()->set_dataset(v1::FLIGHTS);
  m.job_spec.mutable_data()->set_dir("/data/flights");
  m.job_spec.mutable_optimizer()->set_type(v1::MOMENTUM);
  m.job_spec.mutable_optimizer()->set_learning_rate(0.1f);
  m.job_spec.mutable_training()->set_epochs(2);
  m.job_spec.mutable_training()->set_batch_size(64);
  m.job_spec.mutable_training()->set_consistency(mode);
  if (mode == v1::SSP) m.job_spec.mutable_training()->set_staleness(2);
  m.job_spec.mutable_cluster()->set_num_workers(workers);
  m.job_spec.mutable_cluster()->set_num_servers(servers);
  std::vector<v1::ServerEndpoint> endpoints(servers);
  for (int i = 0; i < servers; ++i) {
    endpoints[i].set_member_id("server-" + std::to_string(i + 1));
    endpoints[i].set_address("10.0.0." + std::to_string(i + 1) + ":7000");
  }
  auto map = BuildPartitionMap(
      5, endpoints, {Table("w", 0, 2 * kMinSplitValues), Table("e", 4, 0)});
  ABSL_RAW_CHECK(map.ok(), "the seed's partition map is invalid");
  m.partition_map = *std::move(map);
  // 8 sparse partitions rather than kSparsePartitions (4096): the layout
  // checks take any count, and the seeds stay 2 KiB rather than 40.
  m.partition_map.set_sparse_partitions(8);
  m.partition_map.clear_partition_servers();
  for (int p = 0; p < 8; ++p) {
    m.partition_map.add_partition_servers(p % servers);
  }
  m.epoch = 5;
  m.consistency = mode == v1::CONSISTENCY_UNSPECIFIED ? v1::ASP : mode;
  for (int r = 0; r < workers; ++r) {
    m.ranks.push_back({"worker-" + std::to_string(r + 1), 400 + r});
  }
  for (int g = 0; g < servers; ++g) {
    m.files.push_back(
        {g, "group-" + std::to_string(g) + ".snap", 4096u + g, 0xdeadbeefu});
  }
  if (absl::Status s = ValidateManifest(m, "seed"); !s.ok()) {
    std::cerr << s << std::endl;
    std::abort();
  }
  return m;
}

void ManifestSeeds(const std::string& dir) {
  const std::string bsp = EncodeManifest(Manifest(2, 2, v1::BSP));
  Write(dir, "valid_bsp.json", bsp);
  Write(dir, "valid_default_asp.json",
        EncodeManifest(Manifest(1, 1, v1::CONSISTENCY_UNSPECIFIED)));
  Write(dir, "valid_ssp.json", EncodeManifest(Manifest(3, 2, v1::SSP)));
  // Each breaks one rule of the valid BSP manifest.
  auto bad = [&](const std::string& name, auto&& edit) {
    Json j = Json::parse(bsp);
    edit(j);
    Write(dir, "bad_" + name + ".json", j.dump(2) + "\n");
  };
  bad("version", [](Json& j) { j["version"] = 2; });
  bad("unknown_member", [](Json& j) { j["extra"] = true; });
  bad("float_id", [](Json& j) { j["checkpoint_id"] = 7.0; });
  bad("negative_epoch", [](Json& j) { j["epoch"] = -5; });
  bad("file_name", [](Json& j) { j["files"][0]["name"] = "../group-0.snap"; });
  bad("missing_group", [](Json& j) { j["files"].erase(1); });
  bad("same_worker", [](Json& j) { j["ranks"][1] = j["ranks"][0]; });
  bad("proto_field", [](Json& j) { j["job_spec"]["noSuchField"] = 1; });
  bad("consistency", [](Json& j) { j["consistency"] = "ASP"; });
  Write(dir, "bad_truncated.json", bsp.substr(0, bsp.size() / 2));
  Write(dir, "bad_deep.json", std::string(65, '[') + std::string(65, ']'));
  Write(dir, "bad_utf8.json", "{\"job_id\": \"\xff\xfe\"}");
}

// Byte 0 tells the target whether to fix the frame (1) or not (0); see
// fuzz/group_snapshot_fuzzer.cc.
void SnapshotSeeds(const std::string& dir) {
  auto taken = [](v1::Consistency mode, int clocks, bool half) {
    fuzz::SnapshotGroup group(mode);
    group.Train(clocks, half);
    return group.Snapshot();
  };
  const std::string asp = taken(v1::ASP, 3, true);
  const std::string bsp = taken(v1::BSP, 2, true);
  Write(dir, "valid_asp_fresh.snap", "\1" + taken(v1::ASP, 0, false));
  Write(dir, "valid_asp.snap", "\1" + asp);
  Write(dir, "valid_ssp.snap", "\1" + taken(v1::SSP, 2, false));
  Write(dir, "valid_bsp_fresh.snap", "\1" + taken(v1::BSP, 0, false));
  Write(dir, "valid_bsp.snap", "\1" + bsp);
  Write(dir, "valid_bsp_as_is.snap", std::string(1, '\0') + bsp);
  // Cut short: as is, the frame is refused; with the frame fixed, a
  // section is.
  Write(dir, "bad_truncated_as_is.snap",
        std::string(1, '\0') + bsp.substr(0, bsp.size() - 9));
  Write(dir, "bad_truncated_section.snap",
        "\1" + bsp.substr(0, bsp.size() / 2));
  Write(dir, "bad_truncated_header.snap", "\1" + bsp.substr(0, 15));
  std::string flipped = asp;
  flipped[flipped.size() / 2] ^= 0x20;
  Write(dir, "bad_checksum.snap", std::string(1, '\0') + flipped);
}

}  // namespace
}  // namespace ps::server

int main(int argc, char** argv) {
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  const std::string root = argc > 1    ? argv[1]
                           : workspace ? std::string(workspace) + "/fuzz/corpus"
                                       : "fuzz/corpus";
  ps::client::PsxSeeds(root + "/psx_reader");
  ps::client::SafetensorsSeeds(root + "/safetensors_reader");
  ps::server::ManifestSeeds(root + "/checkpoint_manifest");
  ps::server::SnapshotSeeds(root + "/group_snapshot");
  std::cout << "seeds written to " << root << std::endl;
  return 0;
}
