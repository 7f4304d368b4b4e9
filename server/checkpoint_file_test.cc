// WriteFileDurably and ReadFileWith on a real filesystem, in a fresh
// directory per test.
#include "server/checkpoint_file.h"

#include <dirent.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps::server {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

// Bytes that differ along their length.
std::string Pattern(size_t n) {
  std::string out(n, '\0');
  for (size_t i = 0; i < n; ++i) out[i] = static_cast<char>((i * 131) >> 3);
  return out;
}

std::vector<std::string> Entries(const std::string& dir) {
  std::vector<std::string> out;
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.push_back(name);
  }
  closedir(d);
  return out;
}

// The file at `path` through ReadFileWith, told it is `size` bytes: its
// bytes, or ReadFileWith's error.
absl::StatusOr<std::string> ReadBack(const std::string& path, uint64_t size) {
  std::string bytes;
  absl::Status s = ReadFileWith(path, size, [&](int fd) {
    bytes.resize(size);
    for (size_t at = 0; at < size;) {
      const ssize_t n = pread(fd, bytes.data() + at, size - at, off_t(at));
      if (n <= 0) return absl::DataLossError("short read");
      at += size_t(n);
    }
    return absl::OkStatus();
  });
  if (!s.ok()) return s;
  return bytes;
}

class CheckpointFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string pattern = ::testing::TempDir() + "/ckpt-XXXXXX";
    ASSERT_NE(mkdtemp(pattern.data()), nullptr);
    dir_ = pattern;
  }
  void TearDown() override {
    ASSERT_EQ(std::system(absl::StrCat("rm -rf '", dir_, "'").c_str()), 0);
  }
  std::string Path(absl::string_view name) const {
    return absl::StrCat(dir_, "/", name);
  }

  std::string dir_;
};

TEST_F(CheckpointFileTest, DigestIsZlibsCrc32) {
  const FileDigest d = DigestOf("123456789");
  EXPECT_EQ(d.size, 9u);
  EXPECT_EQ(d.crc32, 0xCBF43926u);
  EXPECT_EQ(DigestOf("").crc32, 0u);
}

TEST_F(CheckpointFileTest, WrittenFileReadsBackAndLeavesNoTemporary) {
  const std::string bytes = Pattern(3 << 20);
  absl::StatusOr<FileDigest> written = WriteFileDurably(Path("g0"), bytes);
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(written->size, bytes.size());
  EXPECT_EQ(written->crc32, DigestOf(bytes).crc32);
  EXPECT_THAT(Entries(dir_), ::testing::ElementsAre("g0"));
  absl::StatusOr<std::string> read = ReadBack(Path("g0"), written->size);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == bytes);
}

// A file whose end is computed once its body is written (a snapshot's
// checksum trailer): the end is called for after the body is in the
// temporary file, and the file is body + end with the end's CRC.
TEST_F(CheckpointFileTest, FileEndIsComputedAfterTheBodyIsWritten) {
  std::string bytes = Pattern(1 << 20);
  const std::string body = bytes;
  int64_t body_on_disk = -1;
  absl::StatusOr<FileDigest> written = WriteFileDurably(Path("g1"), bytes, [&] {
    for (const std::string& name : Entries(dir_)) {
      if (name.rfind("g1.tmp-", 0) == 0) {
        struct stat st;
        if (stat(Path(name).c_str(), &st) == 0) body_on_disk = st.st_size;
      }
    }
    bytes += "tail";  // may move the buffer the body was read from
    return FileEnd{.bytes = "tail", .file_crc32 = DigestOf(bytes).crc32};
  });
  ASSERT_TRUE(written.ok()) << written.status();
  EXPECT_EQ(body_on_disk, static_cast<int64_t>(body.size()));
  EXPECT_EQ(written->size, body.size() + 4);
  EXPECT_EQ(written->crc32, DigestOf(body + "tail").crc32);
  EXPECT_THAT(Entries(dir_), ::testing::ElementsAre("g1"));
  absl::StatusOr<std::string> read = ReadBack(Path("g1"), written->size);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(*read == body + "tail");
}

TEST_F(CheckpointFileTest, WriteReplacesAnOldFileWhole) {
  ASSERT_TRUE(WriteFileDurably(Path("m"), Pattern(1000)).ok());
  absl::StatusOr<FileDigest> second = WriteFileDurably(Path("m"), "short");
  ASSERT_TRUE(second.ok()) << second.status();
  absl::StatusOr<std::string> read = ReadBack(Path("m"), second->size);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_EQ(*read, "short");
  EXPECT_THAT(Entries(dir_), ::testing::ElementsAre("m"));
}

TEST_F(CheckpointFileTest, EmptyFileRoundTrips) {
  absl::StatusOr<FileDigest> written = WriteFileDurably(Path("e"), "");
  ASSERT_TRUE(written.ok()) << written.status();
  absl::StatusOr<std::string> read = ReadBack(Path("e"), 0);
  ASSERT_TRUE(read.ok()) << read.status();
  EXPECT_TRUE(read->empty());
}

TEST_F(CheckpointFileTest, WriteIntoMissingDirectoryNamesPathAndCall) {
  const std::string path = Path("nowhere/g0");
  absl::StatusOr<FileDigest> written = WriteFileDurably(path, "x");
  EXPECT_EQ(written.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(written.status().message()),
              AllOf(HasSubstr(path), HasSubstr("open"),
                    HasSubstr("No such file or directory")));
  EXPECT_TRUE(Entries(dir_).empty());
}

TEST_F(CheckpointFileTest, WriteUnderAFileFailsWithNotADirectory) {
  ASSERT_TRUE(WriteFileDurably(Path("plain"), "x").ok());
  absl::StatusOr<FileDigest> written = WriteFileDurably(Path("plain/g0"), "x");
  EXPECT_FALSE(written.ok());
  EXPECT_THAT(std::string(written.status().message()),
              AllOf(HasSubstr(Path("plain/g0")), HasSubstr("Not a directory")));
  EXPECT_THAT(Entries(dir_), ::testing::ElementsAre("plain"));
}

// The temporary file is written, then its rename fails: it is removed.
TEST_F(CheckpointFileTest, FailedRenameLeavesNoTemporaryFile) {
  ASSERT_EQ(mkdir(Path("taken").c_str(), 0755), 0);
  ASSERT_EQ(mkdir(Path("taken/inside").c_str(), 0755), 0);
  absl::StatusOr<FileDigest> written =
      WriteFileDurably(Path("taken"), Pattern(4096));
  EXPECT_FALSE(written.ok());
  EXPECT_THAT(std::string(written.status().message()),
              AllOf(HasSubstr(Path("taken")), HasSubstr("rename")));
  EXPECT_THAT(Entries(dir_), ::testing::ElementsAre("taken"));
}

TEST_F(CheckpointFileTest, WriteIntoReadOnlyDirectoryLeavesNothing) {
  if (geteuid() == 0) GTEST_SKIP() << "root writes into read-only folders";
  ASSERT_EQ(mkdir(Path("ro").c_str(), 0555), 0);
  absl::StatusOr<FileDigest> written = WriteFileDurably(Path("ro/g0"), "x");
  EXPECT_EQ(written.status().code(), absl::StatusCode::kPermissionDenied);
  EXPECT_THAT(std::string(written.status().message()),
              AllOf(HasSubstr(Path("ro/g0")), HasSubstr("open")));
  EXPECT_TRUE(Entries(Path("ro")).empty());
}

TEST_F(CheckpointFileTest, MissingFileIsNotFoundNamingIt) {
  absl::StatusOr<std::string> read = ReadBack(Path("gone"), 1);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(std::string(read.status().message()), HasSubstr(Path("gone")));
}

TEST_F(CheckpointFileTest, WrongSizeIsDataLossBeforeAnythingIsRead) {
  const std::string bytes = Pattern(100);
  ASSERT_TRUE(WriteFileDurably(Path("f"), bytes).ok());
  absl::StatusOr<std::string> read = ReadBack(Path("f"), 101);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(read.status().message()),
              AllOf(HasSubstr(Path("f")), HasSubstr("expected 101 bytes"),
                    HasSubstr("found 100")));
  // A size no memory could hold is refused, not allocated.
  read = ReadBack(Path("f"), uint64_t{1} << 62);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
}

TEST_F(CheckpointFileTest, TruncatedFileIsDataLossNamingIt) {
  const std::string bytes = Pattern(5000);
  ASSERT_TRUE(WriteFileDurably(Path("f"), bytes).ok());
  ASSERT_EQ(truncate(Path("f").c_str(), 4999), 0);
  absl::StatusOr<std::string> read = ReadBack(Path("f"), 5000);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(std::string(read.status().message()),
              AllOf(HasSubstr(Path("f")), HasSubstr("expected 5000 bytes"),
                    HasSubstr("found 4999")));
}

TEST_F(CheckpointFileTest, DirectoryIsNotARegularFile) {
  ASSERT_EQ(mkdir(Path("d").c_str(), 0755), 0);
  absl::StatusOr<std::string> read = ReadBack(Path("d"), 0);
  EXPECT_EQ(read.status().code(), absl::StatusCode::kFailedPrecondition);
  EXPECT_THAT(std::string(read.status().message()), HasSubstr(Path("d")));
}

}  // namespace
}  // namespace ps::server
