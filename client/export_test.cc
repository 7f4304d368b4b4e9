#include "client/export.h"

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

TEST(ExportTest, CorruptFilesAreDataLoss) {
  std::ofstream(Tmp("bad.psx")) << "NOPE";
  EXPECT_EQ(ReadExport(Tmp("bad.psx")).status().code(), absl::StatusCode::kDataLoss);
  ASSERT_TRUE(WriteExport({{"t", {4}, {1, 2, 3, 4}}}, Tmp("cut.psx")).ok());
  std::ifstream in(Tmp("cut.psx"), std::ios::binary);
  std::string bytes((std::istreambuf_iterator<char>(in)), {});
  std::ofstream(Tmp("cut.psx"), std::ios::binary) << bytes.substr(0, bytes.size() - 3);
  auto cut = ReadExport(Tmp("cut.psx"));
  EXPECT_EQ(cut.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_NE(cut.status().message().find("truncated values of table t"), std::string::npos);
  EXPECT_EQ(ReadExport(Tmp("missing.psx")).status().code(), absl::StatusCode::kNotFound);
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
