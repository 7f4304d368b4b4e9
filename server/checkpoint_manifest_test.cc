// The checkpoint manifest: JSON round trips, every check of ParseManifest
// and ValidateManifest, each naming the manifest and field, and manifest
// files.
#include <unistd.h>

#include <cstdlib>
#include <functional>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/partition.h"
#include "gmock/gmock.h"
#include "google/protobuf/util/message_differencer.h"
#include "gtest/gtest.h"
#include "nlohmann/json.hpp"
#include "server/checkpoint_file.h"

namespace ps::server {
namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::testing::HasSubstr;
using Json = nlohmann::json;

constexpr char kWhere[] = "/ckpt/job-3/7/MANIFEST";

v1::JobSpec Spec() {
  v1::JobSpec spec;
  spec.set_name("wide");
  spec.mutable_model()->set_type(v1::SPARSE_LR);
  spec.mutable_data()->set_dataset(v1::FLIGHTS);
  spec.mutable_data()->set_dir("/data/flights");
  v1::OptimizerSpec* opt = spec.mutable_optimizer();
  opt->set_type(v1::MOMENTUM);
  opt->set_learning_rate(0.1f);
  opt->set_momentum(0.0f);  // set to its zero: must stay set (not 0.9)
  spec.mutable_training()->set_epochs(2);
  spec.mutable_training()->set_batch_size(64);
  spec.mutable_training()->set_seed(uint64_t{1} << 60);
  spec.mutable_training()->set_consistency(v1::BSP);
  spec.mutable_cluster()->set_num_workers(2);
  spec.mutable_cluster()->set_num_servers(2);
  return spec;
}

v1::PartitionMap Map() {
  v1::TableDef w;
  w.set_name("w");
  w.set_size(2 * kMinSplitValues);
  w.mutable_init()->set_kind(v1::Initializer::UNIFORM);
  w.mutable_init()->set_scale(0.01f);
  w.mutable_init()->set_seed(3);
  w.mutable_optimizer()->set_type(v1::ADAM);
  w.mutable_optimizer()->set_learning_rate(0.001f);
  w.mutable_optimizer()->set_beta2(0.98f);
  w.mutable_optimizer()->set_epsilon(1e-7f);
  v1::TableDef e;
  e.set_name("e");
  e.set_kind(v1::SPARSE);
  e.set_dim(4);
  e.mutable_init()->set_kind(v1::Initializer::ZEROS);
  e.mutable_optimizer()->set_type(v1::ADAGRAD);
  e.mutable_optimizer()->set_learning_rate(0.05f);
  std::vector<v1::ServerEndpoint> servers(2);
  servers[0].set_member_id("server-1");
  servers[0].set_address("10.0.0.1:7000");
  servers[1].set_member_id("server-2");
  servers[1].set_address("10.0.0.2:7000");
  absl::StatusOr<v1::PartitionMap> map = BuildPartitionMap(5, servers, {w, e});
  EXPECT_TRUE(map.ok()) << map.status();
  PlaceReplicaGroups(2, &*map);
  return *map;
}

CheckpointManifest Good() {
  CheckpointManifest m;
  m.job_id = "job-3";
  m.checkpoint_id = 7;
  m.created_unix_ms = 1700000000123;
  m.job_spec = Spec();
  m.partition_map = Map();
  m.epoch = 5;
  m.consistency = v1::BSP;
  m.ranks = {{"worker-1", 400}, {"worker-2", 400}};
  m.files = {{0, "group-0.snap", 123456, 0xdeadbeef},
             {1, "group-1.snap", uint64_t{1} << 40, 0}};
  return m;
}

void ExpectSame(const CheckpointManifest& a, const CheckpointManifest& b) {
  EXPECT_EQ(a.job_id, b.job_id);
  EXPECT_EQ(a.checkpoint_id, b.checkpoint_id);
  EXPECT_EQ(a.created_unix_ms, b.created_unix_ms);
  EXPECT_TRUE(MessageDifferencer::Equals(a.job_spec, b.job_spec));
  EXPECT_TRUE(MessageDifferencer::Equals(a.partition_map, b.partition_map));
  EXPECT_EQ(a.epoch, b.epoch);
  EXPECT_EQ(a.consistency, b.consistency);
  ASSERT_EQ(a.ranks.size(), b.ranks.size());
  for (size_t i = 0; i < a.ranks.size(); ++i) {
    EXPECT_EQ(a.ranks[i].worker_id, b.ranks[i].worker_id);
    EXPECT_EQ(a.ranks[i].step, b.ranks[i].step);
  }
  ASSERT_EQ(a.files.size(), b.files.size());
  for (size_t i = 0; i < a.files.size(); ++i) {
    EXPECT_EQ(a.files[i].group, b.files[i].group);
    EXPECT_EQ(a.files[i].name, b.files[i].name);
    EXPECT_EQ(a.files[i].size, b.files[i].size);
    EXPECT_EQ(a.files[i].crc32, b.files[i].crc32);
  }
}

TEST(CheckpointManifestTest, GoodManifestRoundTrips) {
  const CheckpointManifest m = Good();
  ASSERT_TRUE(ValidateManifest(m, kWhere).ok()) << ValidateManifest(m, kWhere);
  const std::string json = EncodeManifest(m);
  absl::StatusOr<CheckpointManifest> parsed = ParseManifest(json, kWhere);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectSame(*parsed, m);
  EXPECT_TRUE(parsed->job_spec.optimizer().has_momentum());
  EXPECT_EQ(EncodeManifest(*parsed), json);  // deterministic
}

TEST(CheckpointManifestTest, JsonIsReadable) {
  const Json j = Json::parse(EncodeManifest(Good()));
  EXPECT_EQ(j["format"], "pscluster-checkpoint");
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["consistency"], "BSP");
  EXPECT_EQ(j["files"][1]["size"], uint64_t{1} << 40);
  EXPECT_EQ(j["job_spec"]["optimizer"]["type"], "MOMENTUM");
  EXPECT_EQ(j["partition_map"]["epoch"], "5");  // proto JSON: 64-bit as text
}

// Every float of the messages comes back bit for bit.
TEST(CheckpointManifestTest, FloatsSurviveTheRoundTrip) {
  CheckpointManifest m = Good();
  for (float lr : {0.1f, 1e-8f, 0.999f, 3.0e-5f, 9.999999f, 1.17549435e-38f}) {
    m.partition_map.mutable_tables(0)->mutable_optimizer()->set_learning_rate(
        lr);
    absl::StatusOr<CheckpointManifest> parsed =
        ParseManifest(EncodeManifest(m), kWhere);
    ASSERT_TRUE(parsed.ok()) << lr << ": " << parsed.status();
    EXPECT_TRUE(
        MessageDifferencer::Equals(parsed->partition_map, m.partition_map))
        << lr;
  }
}

TEST(CheckpointManifestTest, FilesInAnyOrderComeBackByGroup) {
  Json j = Json::parse(EncodeManifest(Good()));
  std::swap(j["files"][0], j["files"][1]);
  absl::StatusOr<CheckpointManifest> parsed = ParseManifest(j.dump(), kWhere);
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  ExpectSame(*parsed, Good());
}

struct BadCase {
  const char* what;
  std::function<void(Json&)> edit;
  const char* message;  // a part of the error, after kWhere
};

// Each edit of a good manifest's JSON is refused with INVALID_ARGUMENT
// naming the manifest and the field.
TEST(CheckpointManifestTest, EveryFlawIsRefusedByName) {
  const uint64_t big = uint64_t{1} << 63;
  const std::vector<BadCase> cases = {
      {"format", [](Json& j) { j["format"] = "other"; },
       "format: 'other'; expected 'pscluster-checkpoint'"},
      {"version", [](Json& j) { j["version"] = 2; },
       "version: 2; this build reads version 1"},
      {"unknown", [](Json& j) { j["extra"] = 1; }, "extra: unknown member"},
      {"missing", [](Json& j) { j.erase("job_id"); }, "job_id: missing"},
      {"type", [](Json& j) { j["job_id"] = 3; },
       "job_id: expected string, found number"},
      {"empty id", [](Json& j) { j["job_id"] = ""; },
       "job_id: 0 characters; expected 1 to 256"},
      {"control", [](Json& j) { j["job_id"] = "job\n3"; },
       "job_id: byte 10; expected printable ASCII"},
      {"negative id", [](Json& j) { j["checkpoint_id"] = -1; },
       "checkpoint_id: -1; expected >= 0"},
      {"float id", [](Json& j) { j["checkpoint_id"] = 1.5; },
       "checkpoint_id: expected number (integer), found number"},
      {"huge id", [=](Json& j) { j["checkpoint_id"] = big; },
       "checkpoint_id: 9223372036854775808 is above 9223372036854775807"},
      {"time", [](Json& j) { j["created_unix_ms"] = -5; },
       "created_unix_ms: -5; expected >= 0"},
      {"epoch sign", [](Json& j) { j["epoch"] = -1; }, "epoch: -1 is negative"},
      {"epoch", [](Json& j) { j["epoch"] = 6; },
       "epoch: 6; the partition map's is 5"},
      {"mode name", [](Json& j) { j["consistency"] = "FAST"; },
       "consistency: 'FAST'; expected ASP, BSP or SSP"},
      {"mode", [](Json& j) { j["consistency"] = "ASP"; },
       "consistency: ASP; the job spec's is BSP"},
      {"mode unset",
       [](Json& j) { j["consistency"] = "CONSISTENCY_UNSPECIFIED"; },
       "consistency: 0; expected ASP, BSP or SSP"},
      {"ranks type", [](Json& j) { j["ranks"] = Json::object(); },
       "ranks: expected array, found object"},
      {"ranks count", [](Json& j) { j["ranks"].erase(1); },
       "ranks: 1 ranks; the job spec has 2 workers"},
      {"rank member", [](Json& j) { j["ranks"][0]["x"] = 1; },
       "ranks[0].x: unknown member"},
      {"rank not object", [](Json& j) { j["ranks"][1] = 4; },
       "ranks[1]: expected an object, found number"},
      {"rank worker", [](Json& j) { j["ranks"][1]["worker_id"] = "worker-1"; },
       "ranks[1].worker_id: 'worker-1' is another rank's"},
      {"rank no worker", [](Json& j) { j["ranks"][0]["worker_id"] = ""; },
       "ranks[0].worker_id: 0 characters"},
      {"rank step", [](Json& j) { j["ranks"][0]["step"] = -2; },
       "ranks[0].step: -2; expected >= 0"},
      {"file group", [](Json& j) { j["files"][1]["group"] = 2; },
       "files[1].group: 2; the partition map has 2 groups"},
      {"file group wide", [](Json& j) { j["files"][1]["group"] = 1LL << 40; },
       "files[1].group: 1099511627776 is above 2147483647"},
      {"two files", [](Json& j) { j["files"][1]["group"] = 0; },
       "files: group 0 has two files"},
      {"no file", [](Json& j) { j["files"].erase(0); },
       "files: no file for group 0"},
      {"up", [](Json& j) { j["files"][0]["name"] = ".."; },
       "files[0].name: file name '..' is a directory"},
      {"slash", [](Json& j) { j["files"][0]["name"] = "../g0"; },
       "files[0].name: file name '../g0' has byte 47"},
      {"no name", [](Json& j) { j["files"][0]["name"] = ""; },
       "files[0].name: file name of 0 characters"},
      {"same name", [](Json& j) { j["files"][1]["name"] = "group-0.snap"; },
       "files[1].name: 'group-0.snap' is another group's file"},
      {"crc", [](Json& j) { j["files"][0]["crc32"] = 1LL << 32; },
       "files[0].crc32: 4294967296 is above 4294967295"},
      {"size", [](Json& j) { j["files"][0]["size"] = -1; },
       "files[0].size: -1 is negative"},
      {"file member", [](Json& j) { j["files"][0].erase("crc32"); },
       "files[0].crc32: missing"},
      {"spec type", [](Json& j) { j["job_spec"] = "x"; },
       "job_spec: expected object, found string"},
      {"spec field", [](Json& j) { j["job_spec"]["bogus"] = 1; },
       "job_spec: not a ps.v1.JobSpec"},
      {"spec value", [](Json& j) { j["job_spec"]["training"]["epochs"] = 0; },
       "job_spec: training.epochs: 0 is out of range"},
      {"map field", [](Json& j) { j["partition_map"]["bogus"] = 1; },
       "partition_map: not a ps.v1.PartitionMap"},
      {"map layout", [](Json& j) { j["partition_map"]["ranges"].erase(1); },
       "partition_map: partition map: table w: no range holds [16384, 32768)"},
      {"map optimizer",
       [](Json& j) {
         j["partition_map"]["tables"][0]["optimizer"]["learningRate"] = 0;
       },
       "partition_map: table w: optimizer.learningRate: 0 is out of range"},
      {"map table",
       [](Json& j) { j["partition_map"]["tables"][1]["dim"] = 5000; },
       "partition_map: table e: dim 5000"},
  };
  const Json good = Json::parse(EncodeManifest(Good()));
  for (const BadCase& c : cases) {
    Json j = good;
    c.edit(j);
    absl::StatusOr<CheckpointManifest> parsed = ParseManifest(j.dump(), kWhere);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << c.what << ": " << parsed.status();
    EXPECT_THAT(std::string(parsed.status().message()),
                HasSubstr(absl::StrCat(kWhere, ": ", c.message)))
        << c.what;
  }
}

TEST(CheckpointManifestTest, NotJsonIsRefusedWithItsPosition) {
  for (const char* text : {"", "{", "{\"format\": }", "[1, 2]", "null", "7"}) {
    absl::StatusOr<CheckpointManifest> parsed = ParseManifest(text, kWhere);
    EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument)
        << text;
    EXPECT_THAT(std::string(parsed.status().message()), HasSubstr(kWhere));
  }
  EXPECT_THAT(std::string(ParseManifest("{", kWhere).status().message()),
              HasSubstr("not JSON: [json.exception.parse_error"));
  EXPECT_THAT(std::string(ParseManifest("[1]", kWhere).status().message()),
              HasSubstr("manifest: expected an object, found array"));
}

TEST(CheckpointManifestTest, DeepNestingIsRefusedBeforeParsing) {
  const std::string deep = std::string(100000, '[') + std::string(100000, ']');
  absl::StatusOr<CheckpointManifest> parsed = ParseManifest(deep, kWhere);
  EXPECT_THAT(std::string(parsed.status().message()),
              HasSubstr("nested deeper than 64 levels"));
  // Brackets inside strings do not count.
  Json j = Json::parse(EncodeManifest(Good()));
  j["job_spec"]["name"] = std::string(100, '[');
  EXPECT_TRUE(ParseManifest(j.dump(), kWhere).ok());
}

// Cut short or with a byte changed anywhere, a manifest is refused or (a
// change that keeps it valid) accepted; never a crash or an exception.
TEST(CheckpointManifestTest, DamagedManifestsNeverCrash) {
  CheckpointManifest m = Good();  // with 8 sparse partitions, to be quick
  m.partition_map.set_sparse_partitions(8);
  m.partition_map.mutable_partition_servers()->Truncate(8);
  const std::string json = EncodeManifest(m);
  ASSERT_TRUE(ParseManifest(json, kWhere).ok());
  for (size_t n = 0; n < json.size(); n += 3) {
    EXPECT_FALSE(ParseManifest(json.substr(0, n), kWhere).ok()) << n;
  }
  for (size_t i = 0; i < json.size(); i += 2) {
    for (char c : {'\0', '"', '}', '9', '-', '\xff'}) {
      std::string damaged = json;
      damaged[i] = c;
      absl::StatusOr<CheckpointManifest> parsed =
          ParseManifest(damaged, kWhere);
      if (!parsed.ok()) {
        EXPECT_EQ(parsed.status().code(), absl::StatusCode::kInvalidArgument);
      }
    }
  }
}

TEST(CheckpointManifestTest, ValidateWantsFilesInGroupOrder) {
  CheckpointManifest m = Good();
  std::swap(m.files[0], m.files[1]);
  EXPECT_THAT(
      std::string(ValidateManifest(m, kWhere).message()),
      HasSubstr("files[0].group: 1; expected the files in group order"));
  m = Good();
  m.consistency = static_cast<v1::Consistency>(9);
  EXPECT_THAT(std::string(ValidateManifest(m, kWhere).message()),
              HasSubstr("consistency: 9; expected ASP, BSP or SSP"));
}

TEST(CheckpointManifestTest, FileNamesStayInTheCheckpointDirectory) {
  for (const char* ok : {"group-0.snap", "MANIFEST", "a_b.C-9", "..."}) {
    EXPECT_TRUE(CheckFileName(ok).ok()) << ok;
  }
  for (const char* bad : {"", ".", "..", "a/b", "/abs", "a\\b", "a b", "é"}) {
    EXPECT_EQ(CheckFileName(bad).code(), absl::StatusCode::kInvalidArgument)
        << bad;
  }
  EXPECT_FALSE(CheckFileName(std::string(256, 'a')).ok());
  EXPECT_TRUE(CheckFileName(std::string(255, 'a')).ok());
}

class ManifestFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/manifest-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
    path_ = dir_ + "/MANIFEST";
  }
  void TearDown() override {
    ASSERT_EQ(std::system(absl::StrCat("rm -rf '", dir_, "'").c_str()), 0);
  }

  std::string dir_, path_;
};

TEST_F(ManifestFileTest, WrittenManifestReadsBack) {
  ASSERT_TRUE(WriteManifestFile(path_, Good()).ok());
  absl::StatusOr<CheckpointManifest> read = ReadManifestFile(path_);
  ASSERT_TRUE(read.ok()) << read.status();
  ExpectSame(*read, Good());
}

TEST_F(ManifestFileTest, InvalidManifestIsNotWritten) {
  CheckpointManifest m = Good();
  m.files.pop_back();
  absl::Status s = WriteManifestFile(path_, m);
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(s.message()),
              HasSubstr(path_ + ": files: no file for group 1"));
  EXPECT_EQ(ReadManifestFile(path_).status().code(),
            absl::StatusCode::kNotFound);
}

TEST_F(ManifestFileTest, BadManifestFilesAreRefusedNamingThem) {
  ASSERT_TRUE(WriteFileDurably(path_, "{\"format\": 1}").ok());
  absl::StatusOr<CheckpointManifest> read = ReadManifestFile(path_);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(read.status().message()),
              HasSubstr(path_ + ": format: expected string, found number"));
  // Too long to be a manifest: refused before it is read (a sparse file).
  ASSERT_EQ(truncate(path_.c_str(), kMaxManifestBytes + 1), 0);
  read = ReadManifestFile(path_);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(std::string(read.status().message()),
              HasSubstr("a manifest has at most 67108864"));
}

}  // namespace
}  // namespace ps::server
