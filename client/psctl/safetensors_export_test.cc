#include "client/psctl/safetensors_export.h"

#include <cstring>

#include "gtest/gtest.h"
#include "nlohmann/json.hpp"

namespace ps::client {
namespace {

std::vector<ExportedTable> Tables() {
  ExportedTable embed{"embed", {1 << 16, 2}, {1, 2, 3, 4, 5, 6}};
  embed.sparse = true;
  embed.dim = 2;
  embed.keys = {7, 9, 1ull << 63};
  return {embed,
          {"layer0.weight", {2, 3}, {1, 2, 3, 4, 5, 6}},
          {"big", {}, {0.5f, 0.25f}}};
}

const SafetensorsTensor* Find(const Safetensors& file, const std::string& n) {
  for (const SafetensorsTensor& t : file.tensors) {
    if (t.name == n) return &t;
  }
  return nullptr;
}

bool Says(const absl::Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

TEST(SafetensorsExportTest, DenseTablesAreF32AndSparseTablesKeysAndValues) {
  auto file = TablesToSafetensors(Tables(), {{"job", "job-7"}});
  ASSERT_TRUE(file.ok()) << file.status();
  ASSERT_EQ(file->tensors.size(), 4u);
  const SafetensorsTensor* keys = Find(*file, "embed.keys");
  const SafetensorsTensor* values = Find(*file, "embed.values");
  ASSERT_TRUE(keys != nullptr && values != nullptr);
  EXPECT_EQ(keys->dtype, "U64");
  EXPECT_EQ(keys->shape, (std::vector<int64_t>{3}));
  uint64_t last = 0;
  std::memcpy(&last, keys->data.data() + 16, 8);
  EXPECT_EQ(last, 1ull << 63);
  EXPECT_EQ(values->dtype, "F32");
  EXPECT_EQ(values->shape, (std::vector<int64_t>{3, 2}));
  EXPECT_EQ(Find(*file, "layer0.weight")->shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ(Find(*file, "big")->shape, (std::vector<int64_t>{2}));
  EXPECT_EQ(file->metadata.at("format"), kSafetensorsExportFormat);
  EXPECT_EQ(file->metadata.at("job"), "job-7");
  EXPECT_EQ(nlohmann::json::parse(file->metadata.at("tables")),
            nlohmann::json({"embed", "layer0.weight", "big"}));
  EXPECT_EQ(file->metadata.at("sparse.embed"), "[65536,2]");
}

TEST(SafetensorsExportTest, TablesComeBackThroughTheFileBytes) {
  auto file = TablesToSafetensors(Tables());
  ASSERT_TRUE(file.ok());
  auto bytes = EncodeSafetensors(*file);
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto parsed = ParseSafetensors(*bytes, "m.safetensors");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto back = TablesFromSafetensors(*parsed, "m.safetensors");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 3u);
  const std::vector<ExportedTable> want = Tables();
  for (size_t i = 0; i < want.size(); ++i) {
    EXPECT_EQ((*back)[i].name, want[i].name);
    EXPECT_EQ((*back)[i].sparse, want[i].sparse);
    EXPECT_EQ((*back)[i].dim, want[i].dim);
    EXPECT_EQ((*back)[i].keys, want[i].keys);
    EXPECT_EQ((*back)[i].values, want[i].values);
  }
  EXPECT_EQ((*back)[0].shape, want[0].shape);
  EXPECT_EQ((*back)[2].shape, (std::vector<int64_t>{2}));  // was empty
}

// An untouched sparse table has no rows: empty tensors, whose data the
// reader must not copy through a null pointer (UBSan in the fuzz targets).
TEST(SafetensorsExportTest, EmptyTablesComeBack) {
  ExportedTable wide{"wide", {1 << 16, 1}, {}};
  wide.sparse = true;
  wide.dim = 1;
  auto file = TablesToSafetensors({wide, {"none", {0}, {}}});
  ASSERT_TRUE(file.ok()) << file.status();
  auto parsed = ParseSafetensors(*EncodeSafetensors(*file), "m");
  ASSERT_TRUE(parsed.ok()) << parsed.status();
  auto back = TablesFromSafetensors(*parsed, "m");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_TRUE((*back)[0].sparse);
  EXPECT_TRUE((*back)[0].keys.empty());
  EXPECT_EQ((*back)[1].shape, (std::vector<int64_t>{0}));
}

TEST(SafetensorsExportTest, NamesThatWouldCollideAreRefused) {
  std::vector<ExportedTable> tables = Tables();
  tables.push_back({"embed.keys", {1}, {1}});
  EXPECT_TRUE(Says(TablesToSafetensors(tables).status(),
                   "tensor embed.keys would hold two tables"));
  tables = Tables();
  tables[0].keys = {3, 2, 1};
  EXPECT_TRUE(Says(TablesToSafetensors(tables).status(), "table embed: key 2"));
}

TEST(SafetensorsExportTest, FilesThatAreNotExportsAreRefusedByName) {
  auto file = TablesToSafetensors(Tables());
  ASSERT_TRUE(file.ok());
  Safetensors no_format = *file;
  no_format.metadata.erase("format");
  EXPECT_TRUE(Says(TablesFromSafetensors(no_format, "f").status(),
                   "f: not a psctl export"));
  Safetensors bad_list = *file;
  bad_list.metadata["tables"] = "[1]";
  EXPECT_TRUE(Says(TablesFromSafetensors(bad_list, "f").status(),
                   "\"tables\" is missing or not a JSON array of names"));
  Safetensors extra = *file;
  extra.tensors.push_back({"stray", "F32", {0}, ""});
  EXPECT_TRUE(Says(TablesFromSafetensors(extra, "f").status(),
                   "tensor stray belongs to no table"));
  Safetensors missing = *file;
  missing.metadata["tables"] = R"(["embed", "embed"])";
  EXPECT_TRUE(
      Says(TablesFromSafetensors(missing, "f").status(), "or is listed twice"));
  Safetensors wrong_dtype = *file;
  for (SafetensorsTensor& t : wrong_dtype.tensors) {
    if (t.name == "big") t.dtype = "I32";
  }
  EXPECT_TRUE(Says(TablesFromSafetensors(wrong_dtype, "f").status(),
                   "table big: dtype I32; a dense table is F32"));
}

}  // namespace
}  // namespace ps::client
