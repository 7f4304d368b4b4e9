#include "client/psctl/psx_format.h"

#include <cstdint>
#include <limits>
#include <string>

#include "gtest/gtest.h"

namespace ps::client {
namespace {

// Builds PSX bytes field by field, to craft files the writer never would.
class Bytes {
 public:
  explicit Bytes(const std::string& magic = "PSX2") : bytes_(magic) {}
  template <typename T>
  Bytes& Put(T v) {
    bytes_.append(reinterpret_cast<const char*>(&v), sizeof(v));
    return *this;
  }
  Bytes& Raw(const std::string& s) {
    bytes_ += s;
    return *this;
  }
  // A table header up to its shape: name "t", `kind`, `shape`.
  Bytes& Header(uint32_t kind, std::vector<int64_t> shape) {
    Put<uint32_t>(1).Raw("t").Put<uint32_t>(kind).Put<uint32_t>(shape.size());
    for (int64_t d : shape) Put(d);
    return *this;
  }
  const std::string& str() const { return bytes_; }

 private:
  std::string bytes_;
};

// The error ParsePsx gives for `bytes`; fails the test when it parses.
absl::Status ParseError(const std::string& bytes) {
  auto tables = ParsePsx(bytes, "m.psx");
  EXPECT_FALSE(tables.ok());
  if (tables.ok()) return absl::OkStatus();
  EXPECT_EQ(tables.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_EQ(tables.status().message().substr(0, 7), "m.psx: ")
      << tables.status();
  return tables.status();
}

bool Says(const absl::Status& s, const std::string& text) {
  return s.message().find(text) != std::string::npos;
}

std::vector<ExportedTable> SomeTables() {
  ExportedTable wide{"wide", {1 << 20, 2}, {1, 2, 3, 4, 5, 6}};
  wide.sparse = true;
  wide.dim = 2;
  wide.keys = {7, 9, 1234567890123ull};
  return {wide,
          {"layer0.weight", {2, 3}, {1, 2, 3, 4, 5, 6}},
          {"big", {}, std::vector<float>(1000, 0.25f)}};
}

TEST(PsxFormatTest, EncodeThenParseRoundTrips) {
  auto bytes = EncodePsx(SomeTables());
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  auto back = ParsePsx(*bytes, "m.psx");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 3u);
  EXPECT_EQ((*back)[0].keys, SomeTables()[0].keys);
  EXPECT_EQ((*back)[0].shape, (std::vector<int64_t>{1 << 20, 2}));
  EXPECT_EQ((*back)[1].values, SomeTables()[1].values);
  EXPECT_EQ((*back)[2].values.size(), 1000u);
}

// 40 bytes that once made the reader allocate 256 GiB of values.
TEST(PsxFormatTest, SmallFileDeclaringHugeCountsIsRefusedBeforeAllocating) {
  const std::string values = Bytes()
                                 .Put<uint32_t>(1)
                                 .Header(0, {})
                                 .Put<int64_t>(int64_t{1} << 36)
                                 .Raw(std::string(8, '\0'))
                                 .str();
  EXPECT_LE(values.size(), 40u);
  EXPECT_TRUE(Says(ParseError(values),
                   "table t: declares 68719476736 values (274877906944 "
                   "bytes) but only 8 are left"));
  const std::string tables = Bytes().Put<uint32_t>(0xFFFFFFFF).str();
  EXPECT_TRUE(Says(ParseError(tables), "declares 4294967295 tables"));
  const std::string rows = Bytes()
                               .Put<uint32_t>(1)
                               .Header(1, {})
                               .Put<int32_t>(4096)
                               .Put<int64_t>(16000000)
                               .str();
  EXPECT_TRUE(Says(ParseError(rows),
                   "table t: declares 16000000 rows of "
                   "16392 bytes but only 0 are left"));
  const std::string padding(20, '\0');
  const std::string name =
      Bytes().Put<uint32_t>(1).Put<uint32_t>(4000).Raw(padding).str();
  EXPECT_TRUE(Says(ParseError(name), "a name of 4000 bytes but only 20"));
  const std::string dims = Bytes()
                               .Put<uint32_t>(1)
                               .Put<uint32_t>(1)
                               .Raw("t")
                               .Put<uint32_t>(0)
                               .Put<uint32_t>(16)
                               .Raw(padding)
                               .str();
  EXPECT_TRUE(Says(ParseError(dims), "16 dimensions (128 bytes) but only 20"));
}

TEST(PsxFormatTest, EveryTruncationIsDataLossNotACrash) {
  auto bytes = EncodePsx(SomeTables());
  ASSERT_TRUE(bytes.ok());
  for (size_t n = 0; n < bytes->size(); ++n) {
    ParseError(bytes->substr(0, n)).IgnoreError();  // it checks the error
  }
  const absl::Status cut = ParseError(bytes->substr(0, bytes->size() - 3));
  EXPECT_TRUE(Says(cut,
                   "table big: declares 1000 values (4000 bytes) but "
                   "only 3997 are left"))
      << cut;
}

TEST(PsxFormatTest, OverflowingProductOfDimsIsRefused) {
  const int64_t big = int64_t{1} << 32;
  const std::string bytes =
      Bytes().Put<uint32_t>(1).Header(0, {big, big, big}).Put<int64_t>(0).str();
  EXPECT_TRUE(Says(ParseError(bytes),
                   "table t: a negative dimension, or "
                   "dimensions whose product overflows"));
  const std::string negative =
      Bytes().Put<uint32_t>(1).Header(0, {-1}).Put<int64_t>(0).str();
  EXPECT_TRUE(Says(ParseError(negative), "a negative dimension"));
}

TEST(PsxFormatTest, MalformedFieldsAreNamed) {
  EXPECT_TRUE(Says(ParseError("PSX"), "shorter than its 8-byte header"));
  EXPECT_TRUE(
      Says(ParseError(Bytes("PSX9").Put<uint32_t>(0).str()), "bad magic"));
  EXPECT_TRUE(Says(
      ParseError(Bytes().Put<uint32_t>(1).Header(2, {}).Put<int64_t>(0).str()),
      "table t: kind 2; allowed: 0 (dense), 1 (sparse)"));
  EXPECT_TRUE(Says(ParseError(Bytes()
                                  .Put<uint32_t>(1)
                                  .Header(0, {3})
                                  .Put<int64_t>(2)
                                  .Put(1.0f)
                                  .Put(2.0f)
                                  .str()),
                   "table t: shape [3] holds 3 values but there are 2"));
  EXPECT_TRUE(Says(
      ParseError(Bytes().Put<uint32_t>(1).Header(0, {}).Put<int64_t>(-5).str()),
      "table t: value count -5"));
  EXPECT_TRUE(Says(ParseError(Bytes()
                                  .Put<uint32_t>(1)
                                  .Header(1, {})
                                  .Put<int32_t>(0)
                                  .Put<int64_t>(0)
                                  .str()),
                   "table t: row width 0"));
  EXPECT_TRUE(Says(ParseError(Bytes()
                                  .Put<uint32_t>(1)
                                  .Header(1, {})
                                  .Put<int32_t>(1)
                                  .Put<int64_t>(2)
                                  .Put<uint64_t>(9)
                                  .Put<uint64_t>(9)
                                  .Put(1.0f)
                                  .Put(2.0f)
                                  .str()),
                   "table t: key 9 (row 1) does not come after key 9"));
  EXPECT_TRUE(Says(ParseError(Bytes().Put<uint32_t>(0).Raw("x").str()),
                   "1 bytes after the last of 0 tables"));
  EXPECT_TRUE(Says(ParseError(Bytes()
                                  .Put<uint32_t>(1)
                                  .Put<uint32_t>(0)
                                  .Raw(std::string(16, '\0'))
                                  .str()),
                   "table #0: name length 0"));
}

// Found by fuzz/psx_reader (UBSan): reading zero dimensions, values or rows
// passed an empty vector's null data() to memcpy.
TEST(PsxFormatTest, EmptyShapesValuesAndRowsParse) {
  const std::string bytes = Bytes()
                                .Put<uint32_t>(2)
                                .Header(0, {})
                                .Put<int64_t>(0)
                                .Put<uint32_t>(1)
                                .Raw("s")
                                .Put<uint32_t>(1)
                                .Put<uint32_t>(0)
                                .Put<int32_t>(8)
                                .Put<int64_t>(0)
                                .str();
  auto back = ParsePsx(bytes, "m.psx");
  ASSERT_TRUE(back.ok()) << back.status();
  ASSERT_EQ(back->size(), 2u);
  EXPECT_TRUE((*back)[0].shape.empty());
  EXPECT_TRUE((*back)[0].values.empty());
  EXPECT_TRUE((*back)[1].sparse);
  EXPECT_EQ((*back)[1].dim, 8);
  EXPECT_TRUE((*back)[1].keys.empty());
  EXPECT_EQ(*EncodePsx(*back), bytes);
}

TEST(PsxFormatTest, Psx1FilesHaveNoKindAndAreDense) {
  const std::string bytes = Bytes("PSX1")
                                .Put<uint32_t>(1)
                                .Put<uint32_t>(1)
                                .Raw("t")
                                .Put<uint32_t>(1)
                                .Put<int64_t>(2)
                                .Put<int64_t>(2)
                                .Put(1.5f)
                                .Put(-2.0f)
                                .str();
  auto back = ParsePsx(bytes, "old.psx");
  ASSERT_TRUE(back.ok()) << back.status();
  EXPECT_EQ((*back)[0].values, (std::vector<float>{1.5f, -2}));
}

TEST(PsxFormatTest, EncodeRefusesMalformedTables) {
  std::vector<ExportedTable> tables = SomeTables();
  tables[0].values.pop_back();
  EXPECT_EQ(EncodePsx(tables).status().code(),
            absl::StatusCode::kInvalidArgument);
  tables = SomeTables();
  tables[0].keys = {9, 7, 8};
  EXPECT_TRUE(Says(EncodePsx(tables).status(), "strictly ascending"));
  tables = SomeTables();
  tables[1].shape = {4, 4};
  EXPECT_TRUE(Says(EncodePsx(tables).status(),
                   "table layer0.weight: shape [4, 4] holds 16 values"));
}

}  // namespace
}  // namespace ps::client
