#include "client/psctl/export.h"

#include <cstdlib>
#include <fstream>

#include "gtest/gtest.h"

namespace ps::client {
namespace {

std::string Tmp(const std::string& name) {
  return std::string(std::getenv("TEST_TMPDIR")) + "/" + name;
}

TEST(ExportTest, WriteThenReadRoundTrips) {
  std::vector<ExportedTable> tables = {
      {"layer0.weight", {2, 3}, {1, 2, 3, 4, 5, 6}},
      {"layer0.bias", {3}, {-1, 0, 1}}};
  ASSERT_TRUE(WriteExport(tables, Tmp("m.psx")).ok());
  auto back = ReadExport(Tmp("m.psx"));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].name, "layer0.weight");
  EXPECT_EQ((*back)[0].shape, (std::vector<int64_t>{2, 3}));
  EXPECT_EQ((*back)[1].values, (std::vector<float>{-1, 0, 1}));
}

TEST(ExportTest, SparseTablesRoundTripWithTheirKeys) {
  ExportedTable wide{"wide", {1 << 20, 2}, {1, 2, 3, 4, 5, 6}};
  wide.sparse = true;
  wide.dim = 2;
  wide.keys = {7, 9, 1234567890123ull};
  ASSERT_TRUE(WriteExport({wide, {"bias", {1}, {0.5f}}}, Tmp("s.psx")).ok());
  auto back = ReadExport(Tmp("s.psx"));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_TRUE((*back)[0].sparse);
  EXPECT_EQ((*back)[0].dim, 2);
  EXPECT_EQ((*back)[0].keys, wide.keys);
  EXPECT_EQ((*back)[0].values, wide.values);
  EXPECT_FALSE((*back)[1].sparse);
  EXPECT_EQ((*back)[1].values, (std::vector<float>{0.5f}));
  // Values that do not fill keys x dim are refused, nothing written.
  wide.values.pop_back();
  EXPECT_EQ(WriteExport({wide}, Tmp("bad_sparse.psx")).code(),
            absl::StatusCode::kInvalidArgument);
}

TEST(ExportTest, Psx1FilesStillRead) {
  // PSX1: magic, count, then per table name, dims, shape, count, values.
  std::string bytes = "PSX1";
  auto put = [&](const void* p, size_t n) {
    bytes.append(static_cast<const char*>(p), n);
  };
  const uint32_t count = 1, len = 1, dims = 1;
  const int64_t dim0 = 2, n = 2;
  const float values[2] = {1.5f, -2};
  put(&count, 4);
  put(&len, 4);
  bytes += "t";
  put(&dims, 4);
  put(&dim0, 8);
  put(&n, 8);
  put(values, 8);
  std::ofstream(Tmp("old.psx"), std::ios::binary) << bytes;
  auto back = ReadExport(Tmp("old.psx"));
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 1u);
  EXPECT_EQ((*back)[0].values, (std::vector<float>{1.5f, -2}));
}

TEST(ExportTest, CorruptFilesAreDataLoss) {
  std::ofstream(Tmp("bad.psx")) << "NOPE";
  EXPECT_EQ(ReadExport(Tmp("bad.psx")).status().code(),
            absl::StatusCode::kDataLoss);
  ASSERT_TRUE(WriteExport({{"t", {4}, {1, 2, 3, 4}}}, Tmp("cut.psx")).ok());
  std::ifstream in(Tmp("cut.psx"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(Tmp("cut.psx"), std::ios::binary)
      << bytes.substr(0, bytes.size() - 3);
  auto cut = ReadExport(Tmp("cut.psx"));
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(cut.status().message().find(
                Tmp("cut.psx") +
                ": table t: declares 4 values (16 bytes) but only 13 are left"),
            std::string::npos)
      << cut.status();
  EXPECT_EQ(ReadExport(Tmp("missing.psx")).status().code(),
            absl::StatusCode::kNotFound);
}

TEST(ExportTest, SafetensorsFilesRoundTripAndNameTheJob) {
  ExportedTable wide{"wide", {1 << 20, 2}, {1, 2, 3, 4}};
  wide.sparse = true;
  wide.dim = 2;
  wide.keys = {7, 9};
  const std::vector<ExportedTable> tables = {wide, {"bias", {1}, {0.5f}}};
  const std::string path = Tmp("m.safetensors");
  ASSERT_TRUE(
      WriteExport(tables, path, ExportFormat::kSafetensors, "job-3").ok());
  auto back = ReadExport(path, ExportFormat::kSafetensors);
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_EQ((*back)[0].keys, wide.keys);
  EXPECT_EQ((*back)[0].values, wide.values);
  EXPECT_EQ((*back)[1].values, (std::vector<float>{0.5f}));
  std::ifstream in(path, std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  EXPECT_NE(bytes.find(R"("job":"job-3")"), std::string::npos);
  // The wrong reader says what it found.
  EXPECT_EQ(ReadExport(path).status().code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(WriteExport(tables, Tmp("st.psx")).ok());
  EXPECT_EQ(
      ReadExport(Tmp("st.psx"), ExportFormat::kSafetensors).status().code(),
      absl::StatusCode::kInvalidArgument);
}

TEST(ExportTest, FormatNamesAreParsedAndBadOnesListTheAllowed) {
  EXPECT_EQ(*ParseExportFormat("psx"), ExportFormat::kPsx);
  EXPECT_EQ(*ParseExportFormat("safetensors"), ExportFormat::kSafetensors);
  absl::Status s = ParseExportFormat("onnx").status();
  EXPECT_EQ(s.code(), absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(),
            "--format: 'onnx' is not an export format; allowed: psx, "
            "safetensors");
}

TEST(ExportTest, JobWithoutTablesCannotBeExported) {
  v1::Job job;
  job.set_id("job-1");
  job.set_state(v1::FAILED);
  absl::Status s = ExportJob(job, Tmp("x.psx"));
  EXPECT_EQ(s.code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_NE(s.message().find("FAILED"), std::string::npos);
}

}  // namespace
}  // namespace ps::client
