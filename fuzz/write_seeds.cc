// Writes the fuzz targets' seed corpora: small valid files from the real
// writers, and malformed ones that each break one rule. Run from the
// repository root after a format changes, and commit the result:
//
//   bazel run //fuzz:write_seeds
//
// (writes fuzz/corpus/<target>/ under the workspace, or under argv[1]; the
// job_spec seeds start from the example specs in examples/, or argv[2]).
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <string>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "client/psctl/psx_format.h"
#include "client/psctl/safetensors.h"
#include "client/psctl/safetensors_export.h"
#include "common/hash.h"
#include "common/partition.h"
#include "fuzz/data_plane_job.h"
#include "fuzz/request_pieces.h"
#include "fuzz/snapshot_group.h"
#include "fuzz/sparse_request_input.h"
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

namespace ps::fuzz {
namespace {

using client::Write;

std::string KeyBytes(const std::vector<uint64_t>& keys) {
  return std::string(reinterpret_cast<const char*>(keys.data()),
                     keys.size() * sizeof(uint64_t));
}

// The first `n` keys from 1 up that this server owns (or does not own).
std::vector<uint64_t> Keys(int n, bool owned) {
  std::vector<uint64_t> keys;
  for (uint64_t k = 1; static_cast<int>(keys.size()) < n; ++k) {
    if (OwnsKey(k) == owned) keys.push_back(k);
  }
  return keys;
}

std::string Floats(int n, float first) {
  std::string out;
  for (int i = 0; i < n; ++i) {
    const float v = first + 0.25f * i;
    out.append(reinterpret_cast<const char*>(&v), sizeof(v));
  }
  return out;
}

template <typename Request>
void AddDense(Request* r, const std::string& table, int64_t offset,
              int64_t count) {
  v1::DenseSlice* s = r->add_slices();
  s->set_table(table);
  s->set_offset(offset);
  s->set_count(count);
}

template <typename Request>
void AddSparse(Request* r, const std::string& table,
               const std::vector<uint64_t>& keys) {
  v1::SparseSlice* s = r->add_sparse();
  s->set_table(table);
  s->set_keys(static_cast<int64_t>(keys.size()));
  r->mutable_keys()->append(KeyBytes(keys));
}

template <typename Request>
Request Addressed() {
  Request r;
  r.set_job_id(kJobId);
  r.set_epoch(kEpoch);
  r.set_group(kGroup);
  return r;
}

// A push of worker `worker`'s first clock, its values filled in.
v1::PushRequest Push(const std::string& worker, bool dense, bool sparse) {
  auto p = Addressed<v1::PushRequest>();
  p.set_worker_id(worker);
  p.set_seq(1);
  p.set_clock(0);
  p.set_clock_pushes(1);
  int floats = 0;
  if (dense) {
    AddDense(&p, "w", 20, 8);
    AddDense(&p, "b", 0, 4);
    floats += 12;
  }
  if (sparse) {
    AddSparse(&p, "emb", Keys(2, true));
    AddSparse(&p, "wide", Keys(3, true));
    floats += 2 * 4 + 3;
  }
  p.set_values(Floats(floats, -1.0f));
  return p;
}

uint8_t Setup(v1::Consistency mode, bool backup = false) {
  return SetupByte({.mode = mode, .with_workers = true, .backup = backup});
}

void PushSeeds(const std::string& dir) {
  auto put = [&](const std::string& name, uint8_t setup,
                 std::vector<uint16_t> cuts, const v1::PushRequest& p) {
    Write(dir, name + ".bin",
          EncodeRequestInput(setup, cuts, cuts.size() % 2 == 1,
                             p.SerializeAsString()));
  };
  const v1::PushRequest mixed = Push("w0", true, true);
  put("valid_dense_asp", Setup(v1::ASP), {}, Push("w0", true, false));
  put("valid_sparse_ssp", Setup(v1::SSP), {3, 40}, Push("w1", false, true));
  put("valid_mixed_bsp", Setup(v1::BSP), {1, 2, 17, 30, 31, 60, 90}, mixed);
  v1::PushRequest forwarded = mixed;
  forwarded.set_replica_op(1);
  put("valid_replica", Setup(v1::ASP, /*backup=*/true), {50}, forwarded);
  put("valid_clock_only_bsp", Setup(v1::BSP), {}, Push("w1", false, false));
  v1::PushRequest anonymous = Push("", true, true);
  put("valid_anonymous", SetupByte({.mode = v1::ASP, .with_workers = false}),
      {9}, anonymous);
  auto bad = [&](const std::string& name, auto&& edit) {
    v1::PushRequest p = mixed;
    edit(p);
    put("bad_" + name, Setup(v1::ASP), {}, p);
  };
  bad("stale_epoch", [](v1::PushRequest& p) { p.set_epoch(kEpoch - 1); });
  bad("held_elsewhere",
      [](v1::PushRequest& p) { p.mutable_slices(0)->set_offset(0); });
  bad("out_of_table", [](v1::PushRequest& p) {
    p.mutable_slices(1)->set_count(5);
    p.mutable_values()->append(Floats(1, 0));
  });
  bad("wrong_kind",
      [](v1::PushRequest& p) { p.mutable_slices(1)->set_table("emb"); });
  bad("unowned_key", [](v1::PushRequest& p) {
    p.set_keys(KeyBytes(Keys(2, true)) + KeyBytes(Keys(1, false)) +
               KeyBytes(Keys(2, true)));
  });
  bad("repeated_key", [](v1::PushRequest& p) {
    const uint64_t k = Keys(1, true)[0];
    p.set_keys(KeyBytes({k, k}) + KeyBytes(Keys(3, true)));
  });
  bad("key_count",
      [](v1::PushRequest& p) { p.mutable_sparse(1)->set_keys(4); });
  bad("nan", [](v1::PushRequest& p) {
    const float nan = std::nanf("");
    p.mutable_values()->replace(
        8, 4, std::string(reinterpret_cast<const char*>(&nan), sizeof(nan)));
  });
  bad("value_bytes",
      [](v1::PushRequest& p) { p.mutable_values()->pop_back(); });
  bad("clock_order", [](v1::PushRequest& p) { p.set_clock(3); });
  bad("unknown_worker", [](v1::PushRequest& p) { p.set_worker_id("w9"); });
  const std::string bytes = mixed.SerializeAsString();
  Write(dir, "bad_truncated.bin",
        EncodeRequestInput(Setup(v1::ASP), {7}, false,
                           bytes.substr(0, bytes.size() - 3)));
}

void PullSeeds(const std::string& dir) {
  auto put = [&](const std::string& name, uint8_t setup,
                 std::vector<uint16_t> cuts, const v1::PullRequest& p) {
    Write(dir, name + ".bin",
          EncodeRequestInput(setup, cuts, cuts.size() % 2 == 1,
                             p.SerializeAsString()));
  };
  auto mixed = Addressed<v1::PullRequest>();
  AddDense(&mixed, "w", 16, 32);
  AddDense(&mixed, "b", 1, 2);
  AddSparse(&mixed, "emb", Keys(3, true));
  const uint64_t k = Keys(1, true)[0];
  AddSparse(&mixed, "wide", {k, k});  // a pull may repeat a key
  mixed.set_clock(1);
  auto dense = Addressed<v1::PullRequest>();
  AddDense(&dense, "w", 30, 10);
  put("valid_dense_asp", Setup(v1::ASP), {}, dense);
  put("valid_mixed_ssp", Setup(v1::SSP), {2, 33}, mixed);
  v1::PullRequest first = mixed;
  first.set_clock(0);
  put("valid_mixed_bsp", Setup(v1::BSP), {1, 5, 9, 40, 41, 70, 71}, first);
  put("valid_empty", Setup(v1::ASP), {}, Addressed<v1::PullRequest>());
  put("bad_backup", Setup(v1::ASP, /*backup=*/true), {}, dense);
  put("bad_waits_bsp", Setup(v1::BSP), {5}, mixed);
  auto bad = [&](const std::string& name, auto&& edit) {
    v1::PullRequest p = mixed;
    edit(p);
    put("bad_" + name, Setup(v1::ASP), {}, p);
  };
  bad("unknown_job", [](v1::PullRequest& p) { p.set_job_id("job-2"); });
  bad("other_group", [](v1::PullRequest& p) { p.set_group(1); });
  bad("held_elsewhere", [](v1::PullRequest& p) {
    p.mutable_slices(0)->set_offset(0);
    p.mutable_slices(0)->set_count(8);
  });
  bad("negative_count",
      [](v1::PullRequest& p) { p.mutable_slices(1)->set_count(-1); });
  bad("unowned_key", [](v1::PullRequest& p) {
    p.set_keys(KeyBytes(Keys(1, false)) + p.keys().substr(8));
  });
  bad("keys_short", [](v1::PullRequest& p) {
    p.mutable_keys()->resize(p.keys().size() - 3);
  });
  bad("no_such_table",
      [](v1::PullRequest& p) { p.mutable_sparse(0)->set_table("nope"); });
  const std::string bytes = mixed.SerializeAsString();
  Write(dir, "bad_truncated.bin",
        EncodeRequestInput(Setup(v1::ASP), {3}, false, bytes.substr(0, 20)));
}

// The first `n` keys from 1 up whose partition of `partitions` is among
// `owned` (or is not).
std::vector<uint64_t> KeysIn(int n, uint32_t partitions,
                             const std::vector<uint32_t>& owned,
                             bool in = true) {
  std::vector<uint64_t> keys;
  for (uint64_t k = 1; static_cast<int>(keys.size()) < n; ++k) {
    const uint32_t p = SparsePartition(k, partitions);
    if ((std::find(owned.begin(), owned.end(), p) != owned.end()) == in) {
      keys.push_back(k);
    }
  }
  return keys;
}

void SparseSeeds(const std::string& dir) {
  SparseSeed base;
  base.partitions = 8;
  base.owned = {1, 2, 5, 6};
  base.tables = {{4, v1::ADAGRAD}, {1, v1::FTRL}};
  base.slices = {{0, 3}, {1, 2}};
  base.keys = KeysIn(5, 8, base.owned);
  auto put = [&](const std::string& name, const SparseSeed& seed) {
    Write(dir, name + ".bin", EncodeSparseRequest(seed));
  };
  auto variant = [&](const std::string& name, auto&& edit) {
    SparseSeed seed = base;
    edit(seed);
    put(name, seed);
  };
  put("valid_pull_asp", base);
  variant("valid_push_ssp", [](SparseSeed& s) { s.push = true, s.mode = 1; });
  variant("valid_push_values_bsp", [](SparseSeed& s) {
    s.push = true, s.mode = 2, s.values_from_input = true;
    s.values = Floats(3 * 4 + 2, 0.5f);
  });
  variant("valid_repeat_in_pull", [](SparseSeed& s) { s.keys[1] = s.keys[0]; });
  variant("valid_wide_rows", [](SparseSeed& s) {
    s.mode = 3;
    s.tables = {{4096, v1::ADAM}, {1, v1::SGD}, {16, v1::MOMENTUM}};
    s.slices = {{2, 2}, {0, 1}};
    s.keys.resize(3);
  });
  variant("valid_many_partitions", [](SparseSeed& s) {
    s.push = true;
    s.partitions = 1 << 20;
    s.owned = {0, 7, 4095, 65536, (1 << 20) - 1};
    s.tables = {{2, v1::ADAMW}};
    s.slices = {{0, 2}};
    s.keys = KeysIn(2, 1 << 20, s.owned);
  });
  variant("bad_unowned", [](SparseSeed& s) {
    s.keys[3] = KeysIn(1, 8, s.owned, /*in=*/false)[0];
  });
  variant("bad_repeat_in_push", [](SparseSeed& s) {
    s.push = true;
    s.keys[1] = s.keys[0];
  });
  variant("bad_dim_zero", [](SparseSeed& s) { s.tables[0].dim = 0; });
  variant("bad_dim_4097", [](SparseSeed& s) { s.tables[1].dim = 4097; });
  variant("bad_no_partitions",
          [](SparseSeed& s) { s.partitions = 0, s.owned = {}; });
  variant("bad_owned_beyond", [](SparseSeed& s) { s.owned.push_back(8); });
  variant("bad_owned_twice", [](SparseSeed& s) { s.owned.push_back(2); });
  variant("bad_optimizer", [](SparseSeed& s) { s.tables[0].optimizer = 7; });
  variant("bad_negative_keys", [](SparseSeed& s) { s.slices[1].keys = -2; });
  variant("bad_huge_keys", [](SparseSeed& s) {
    s.slices[0].keys = INT64_MAX;
    s.slices[1].keys = 2;
  });
  variant("bad_short_keys", [](SparseSeed& s) { s.keys.pop_back(); });
  variant("bad_dense_table", [](SparseSeed& s) { s.slices[1].table = 2; });
  variant("bad_no_table", [](SparseSeed& s) { s.slices[1].table = 9; });
  variant("bad_push_nan", [](SparseSeed& s) {
    s.push = true, s.values_from_input = true;
    s.values = Floats(3 * 4 + 2, 1.0f);
    s.values.replace(4, 4, std::string("\x00\x00\xc0\x7f", 4));  // NaN
  });
}

}  // namespace
}  // namespace ps::fuzz

namespace ps::client {
namespace {

using Json = nlohmann::ordered_json;

// The shipped example specs as they are, and variants that each break one
// rule (or reach a part of the checks the examples do not).
void JobSpecSeeds(const std::string& examples, const std::string& dir) {
  std::string mlp;
  for (const auto& entry : std::filesystem::directory_iterator(examples)) {
    if (entry.path().extension() != ".json") continue;
    std::ifstream in(entry.path(), std::ios::binary);
    const std::string text((std::istreambuf_iterator<char>(in)),
                           std::istreambuf_iterator<char>());
    Write(dir, "valid_" + entry.path().stem().string() + ".json", text);
    if (entry.path().stem() == "fashion_mnist_mlp") mlp = text;
  }
  ABSL_RAW_CHECK(!mlp.empty(), "examples/fashion_mnist_mlp.json is missing");
  auto variant = [&](const std::string& name, auto&& edit) {
    Json j = Json::parse(mlp);
    edit(j);
    Write(dir, name + ".json", j.dump(2) + "\n");
  };
  variant("valid_checkpoint_ssp", [](Json& j) {
    j["training"]["consistency"] = "SSP";
    j["training"]["staleness"] = 2;
    j["training"]["checkpoint"] = {{"dir", "/var/lib/pscluster/ckpt"},
                                   {"everySteps", "500"},
                                   {"everySeconds", "600"},
                                   {"keep", 2}};
    j["cluster"]["replicas"] = 2;
  });
  variant("valid_adam_schedule", [](Json& j) {
    j["optimizer"] = {{"type", "ADAM"},
                      {"learningRate", 0.001},
                      {"beta1", 0.9},
                      {"weightDecay", 0.01},
                      {"schedule",
                       {{"kind", "COSINE"},
                        {"warmupSteps", 100},
                        {"decaySteps", 1000},
                        {"minFactor", 0.1}}}};
  });
  variant("bad_unknown_field", [](Json& j) { j["modle"] = j["model"]; });
  variant("bad_hidden_size", [](Json& j) {
    j["model"]["hiddenSizes"] = {256, 0};
  });
  variant("bad_epochs", [](Json& j) { j["training"]["epochs"] = -1; });
  variant("bad_checkpoint_dir", [](Json& j) {
    j["training"]["checkpoint"] = {{"dir", "/var/ckpt/.."}, {"keep", 1}};
  });
  variant("bad_staleness_asp", [](Json& j) { j["training"]["staleness"] = 3; });
  variant("bad_sparse_on_mnist", [](Json& j) {
    j["model"] = {{"type", "WIDE_DEEP"}, {"embeddingDim", 300}};
  });
  variant("bad_learning_rate",
          [](Json& j) { j["optimizer"]["learningRate"] = 1e40; });
  variant("bad_enum", [](Json& j) { j["optimizer"]["type"] = "LBFGS"; });
  variant("bad_replicas", [](Json& j) { j["cluster"]["replicas"] = 5000; });
  Write(dir, "bad_truncated.json", mlp.substr(0, mlp.size() / 2));
  Write(dir, "bad_deep.json", std::string(120, '[') + std::string(120, ']'));
}

}  // namespace
}  // namespace ps::client

int main(int argc, char** argv) {
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  const std::string root = argc > 1    ? argv[1]
                           : workspace ? std::string(workspace) + "/fuzz/corpus"
                                       : "fuzz/corpus";
  const std::string examples = argc > 2 ? argv[2]
                               : workspace
                                   ? std::string(workspace) + "/examples"
                                   : "examples";
  ps::client::PsxSeeds(root + "/psx_reader");
  ps::client::SafetensorsSeeds(root + "/safetensors_reader");
  ps::server::ManifestSeeds(root + "/checkpoint_manifest");
  ps::server::SnapshotSeeds(root + "/group_snapshot");
  // The re-partitioning reader reads the same snapshots as old group 0.
  ps::server::SnapshotSeeds(root + "/repartition_reader");
  ps::fuzz::PushSeeds(root + "/push_request");
  ps::fuzz::PullSeeds(root + "/pull_request");
  ps::fuzz::SparseSeeds(root + "/sparse_request");
  ps::client::JobSpecSeeds(examples, root + "/job_spec");
  std::cout << "seeds written to " << root << std::endl;
  return 0;
}
