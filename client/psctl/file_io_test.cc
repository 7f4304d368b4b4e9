#include "client/psctl/file_io.h"

#include <cstdlib>
#include <filesystem>

#include "gtest/gtest.h"

namespace ps::client {
namespace {

std::string Dir() { return std::getenv("TEST_TMPDIR"); }

TEST(FileIoTest, WriteReplacesTheFileWholeAndLeavesNoTemporary) {
  const std::string folder = Dir() + "/replace";
  std::filesystem::create_directories(folder);
  ASSERT_TRUE(WriteFileAtomically(folder + "/f", "first").ok());
  ASSERT_TRUE(
      WriteFileAtomically(folder + "/f", std::string(1 << 20, 'x')).ok());
  auto bytes = ReadFileBytes(folder + "/f");
  ASSERT_TRUE(bytes.ok()) << bytes.status();
  EXPECT_EQ(*bytes, std::string(1 << 20, 'x'));
  int files = 0;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) {
    EXPECT_EQ(entry.path().filename(), "f");
    ++files;
  }
  EXPECT_EQ(files, 1);
}

TEST(FileIoTest, EmptyFilesAndBareNamesWork) {
  ASSERT_TRUE(WriteFileAtomically(Dir() + "/empty", "").ok());
  auto bytes = ReadFileBytes(Dir() + "/empty");
  ASSERT_TRUE(bytes.ok());
  EXPECT_EQ(*bytes, "");
  std::filesystem::current_path(Dir());
  EXPECT_TRUE(WriteFileAtomically("bare", "b").ok());
  EXPECT_EQ(*ReadFileBytes("bare"), "b");
}

TEST(FileIoTest, FailuresNameTheFileAndLeaveNothing) {
  absl::Status s = WriteFileAtomically(Dir() + "/no/such/folder/f", "x");
  EXPECT_EQ(s.code(), absl::StatusCode::kNotFound);
  EXPECT_NE(s.message().find(Dir() + "/no/such/folder/f.tmp-"),
            std::string::npos)
      << s;
  auto missing = ReadFileBytes(Dir() + "/missing");
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kNotFound);
  EXPECT_NE(missing.status().message().find(Dir() + "/missing"),
            std::string::npos);
  // A folder in the way of the rename: the temporary file is removed.
  std::filesystem::create_directories(Dir() + "/taken/f/inside");
  EXPECT_FALSE(WriteFileAtomically(Dir() + "/taken/f", "x").ok());
  int files = 0;
  for (const auto& entry :
       std::filesystem::directory_iterator(Dir() + "/taken")) {
    (void)entry;
    ++files;
  }
  EXPECT_EQ(files, 1);
}

}  // namespace
}  // namespace ps::client
