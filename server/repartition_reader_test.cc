// RepartitionReader: a new group's snapshot built from the old groups'
// checkpoint files must be exactly what Repartition builds from the same
// bytes in memory, keep no more than the new group's share, and refuse a
// damaged, foreign, missing or repeated file with the error naming it.
#include <sys/mman.h>
#include <unistd.h>

#include <cstring>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "server/group_snapshot_format.h"
#include "server/repartition.h"
#include "server/test_sharded_job.h"

namespace ps::server {
namespace {

using ::testing::HasSubstr;

constexpr int64_t kSteps = 3;

// An old group's file: its bytes in a memfd, and what the manifest says.
struct File {
  int fd = -1;
  uint64_t size = 0;
  uint32_t crc32 = 0;
  std::string path;
};

class Files {
 public:
  // `snapshots` by old group, each written as it is (the manifest's CRC-32
  // is that of the bytes given).
  explicit Files(const std::vector<std::string>& snapshots) {
    for (size_t g = 0; g < snapshots.size(); ++g) {
      Add(snapshots[g], snapshot::Crc32(snapshots[g]),
          absl::StrCat("ckpt/group-", g, ".snap"));
    }
  }
  ~Files() {
    for (const File& f : files_) close(f.fd);
  }
  void Add(const std::string& bytes, uint32_t crc32, std::string path) {
    File f{memfd_create(path.c_str(), MFD_CLOEXEC), bytes.size(), crc32,
           std::move(path)};
    EXPECT_GE(f.fd, 0);
    for (size_t at = 0; at < bytes.size();) {
      const ssize_t n = write(f.fd, bytes.data() + at, bytes.size() - at);
      EXPECT_GT(n, 0);
      if (n <= 0) break;
      at += size_t(n);
    }
    files_.push_back(std::move(f));
  }
  const File& operator[](size_t g) const { return files_[g]; }
  size_t size() const { return files_.size(); }

 private:
  std::vector<File> files_;
};

// Every file of `files` (old group g the g-th, in `order` when given) into
// a reader for new group `group`, then Finish; *kept gets what it kept.
absl::StatusOr<std::string> FromFiles(const v1::PartitionMap& old_map,
                                      const Files& files,
                                      const v1::PartitionMap& new_map,
                                      int group, uint64_t* kept = nullptr,
                                      std::vector<int> order = {}) {
  absl::StatusOr<std::unique_ptr<RepartitionReader>> reader =
      RepartitionReader::Start(old_map, new_map, group);
  if (!reader.ok()) return reader.status();
  if (order.empty()) {
    for (size_t g = 0; g < files.size(); ++g) order.push_back(int(g));
  }
  for (int g : order) {
    const File& f = files[g];
    if (absl::Status s = (*reader)->AddFile(g, f.fd, f.size, f.crc32, f.path);
        !s.ok()) {
      return s;
    }
  }
  if (kept != nullptr) *kept = (*reader)->kept_bytes();
  return (*reader)->Finish({kSteps, kSteps});
}

struct Trained {
  v1::PartitionMap map;
  std::vector<std::string> snapshots;
};

Trained Train(int servers, v1::Consistency mode) {
  ShardedJob job(ShardedMap(servers, 4), mode);
  EXPECT_TRUE(job.Start().ok());
  for (int64_t step = 0; step < kSteps; ++step) {
    for (int rank = 0; rank < 2; ++rank) {
      EXPECT_TRUE(job.PushStep(rank, step).ok()) << step << " " << rank;
    }
  }
  absl::StatusOr<std::vector<std::string>> snapshots = job.Snapshots();
  EXPECT_TRUE(snapshots.ok()) << snapshots.status();
  return {job.map(), snapshots.ok() ? *snapshots : std::vector<std::string>()};
}

void ExpectSameAsInMemory(v1::Consistency mode, int from, int to) {
  const Trained old = Train(from, mode);
  const v1::PartitionMap new_map = ShardedMap(to, 9);
  absl::StatusOr<RepartitionedGroups> want =
      Repartition(old.map, old.snapshots, new_map, {kSteps, kSteps});
  ASSERT_TRUE(want.ok()) << want.status();
  uint64_t old_bytes = 0;
  for (const std::string& s : old.snapshots) old_bytes += s.size();
  const Files files(old.snapshots);
  for (int g = 0; g < to; ++g) {
    uint64_t kept = 0;
    absl::StatusOr<std::string> got =
        FromFiles(old.map, files, new_map, g, &kept);
    ASSERT_TRUE(got.ok()) << got.status();
    EXPECT_TRUE(*got == want->snapshots[g]) << "new group " << g;
    // Its own share, not the checkpoint: at most the values and state it
    // writes (its snapshot less headers and BSP sums).
    EXPECT_LE(kept, got->size()) << "new group " << g;
    if (to > 1) {
      EXPECT_LT(kept, old_bytes / 2 + old_bytes / 4) << g;
    }
    // The files' order does not matter.
    std::vector<int> reversed;
    for (int h = from - 1; h >= 0; --h) reversed.push_back(h);
    absl::StatusOr<std::string> again =
        FromFiles(old.map, files, new_map, g, nullptr, reversed);
    ASSERT_TRUE(again.ok()) << again.status();
    EXPECT_TRUE(*again == want->snapshots[g]) << "new group " << g;
  }
}

TEST(RepartitionReaderTest, TwoServersToThreeUnderSsp) {
  ExpectSameAsInMemory(v1::SSP, 2, 3);
}

TEST(RepartitionReaderTest, TwoServersToOneUnderAsp) {
  ExpectSameAsInMemory(v1::ASP, 2, 1);
}

TEST(RepartitionReaderTest, ThreeServersToTwoUnderBsp) {
  ExpectSameAsInMemory(v1::BSP, 3, 2);
}

TEST(RepartitionReaderTest, OneServerToFourUnderBsp) {
  ExpectSameAsInMemory(v1::BSP, 1, 4);
}

TEST(RepartitionReaderTest, DamagedFileIsDataLossNamingIt) {
  const Trained old = Train(2, v1::ASP);
  const v1::PartitionMap new_map = ShardedMap(3, 9);
  // A bit flipped in the dense values, in the sparse rows, in the trailer.
  for (size_t at : {size_t{100}, old.snapshots[1].size() - 64,
                    old.snapshots[1].size() - 2}) {
    std::vector<std::string> damaged = old.snapshots;
    Files files({damaged[0]});
    const uint32_t manifest_crc = snapshot::Crc32(damaged[1]);
    damaged[1][at] ^= 0x10;
    files.Add(damaged[1], manifest_crc, "ckpt/group-1.snap");
    absl::StatusOr<std::string> got = FromFiles(old.map, files, new_map, 0);
    EXPECT_EQ(got.status().code(), absl::StatusCode::kDataLoss) << at;
    EXPECT_THAT(got.status().message(), HasSubstr("ckpt/group-1.snap")) << at;
  }
}

TEST(RepartitionReaderTest, FileCutWhileReadIsDataLoss) {
  const Trained old = Train(2, v1::ASP);
  Files files({old.snapshots[0]});
  // The manifest and the caller's check said more bytes than are there.
  const std::string cut =
      old.snapshots[1].substr(0, old.snapshots[1].size() / 2);
  files.Add(cut, snapshot::Crc32(old.snapshots[1]), "ckpt/group-1.snap");
  const File& f = files[1];
  absl::StatusOr<std::unique_ptr<RepartitionReader>> reader =
      RepartitionReader::Start(old.map, ShardedMap(3, 9), 0);
  ASSERT_TRUE(reader.ok()) << reader.status();
  const absl::Status s =
      (*reader)->AddFile(1, f.fd, old.snapshots[1].size(), f.crc32, f.path);
  EXPECT_EQ(s.code(), absl::StatusCode::kDataLoss) << s;
  EXPECT_THAT(s.message(), HasSubstr("the file changed while it was read"));
}

TEST(RepartitionReaderTest, AnotherGroupsFileIsRefusedAsInMemory) {
  const Trained old = Train(2, v1::ASP);
  const v1::PartitionMap new_map = ShardedMap(3, 9);
  const std::vector<std::string> swapped = {old.snapshots[1], old.snapshots[0]};
  absl::StatusOr<RepartitionedGroups> want =
      Repartition(old.map, swapped, new_map, {kSteps, kSteps});
  ASSERT_FALSE(want.ok());
  const Files files(swapped);
  absl::StatusOr<std::string> got = FromFiles(old.map, files, new_map, 0);
  EXPECT_EQ(got.status().code(), want.status().code());
  EXPECT_THAT(got.status().message(), HasSubstr("old group 0"));
}

TEST(RepartitionReaderTest, MissingOrRepeatedFileIsRefused) {
  const Trained old = Train(2, v1::ASP);
  const v1::PartitionMap new_map = ShardedMap(3, 9);
  const Files files(old.snapshots);
  absl::StatusOr<std::string> missing =
      FromFiles(old.map, files, new_map, 0, nullptr, {0});
  EXPECT_EQ(missing.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(missing.status().message(), HasSubstr("old group 1: no file"));
  absl::StatusOr<std::string> twice =
      FromFiles(old.map, files, new_map, 0, nullptr, {0, 0});
  EXPECT_EQ(twice.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(twice.status().message(), HasSubstr("read already"));
}

// The trailer's CRC-32 rewritten for `bytes` after a change, so that the
// parse, not the checksum, meets it.
void FixTrailer(std::string& bytes) {
  const size_t body = bytes.size() - snapshot::kTrailerBytes;
  const uint32_t crc =
      snapshot::Crc32(absl::string_view(bytes).substr(0, body));
  std::memcpy(&bytes[body], &crc, sizeof(crc));
}

// Flipped bytes behind valid checksums, all through the file: the reader
// never crashes, and builds exactly what Repartition builds from the same
// bytes or refuses where Repartition refuses.
TEST(RepartitionReaderTest, FlippedBytesAreRefusedOrBuiltAsInMemory) {
  const Trained old = Train(2, v1::BSP);
  const v1::PartitionMap new_map = ShardedMap(3, 9);
  const std::string& file = old.snapshots[0];
  int refused = 0, built = 0;
  for (size_t at = 0; at + snapshot::kTrailerBytes < file.size();
       at += at < 512 ? 1 : 61) {
    std::vector<std::string> changed = old.snapshots;
    changed[0][at] ^= static_cast<char>(0x80 >> (at % 8));
    FixTrailer(changed[0]);
    absl::StatusOr<RepartitionedGroups> want =
        Repartition(old.map, changed, new_map, {kSteps, kSteps}, 1);
    const Files files(changed);
    absl::StatusOr<std::string> got = FromFiles(old.map, files, new_map, 1);
    ASSERT_EQ(got.ok(), want.ok()) << "byte " << at << ": file " << got.status()
                                   << "; in memory " << want.status();
    if (got.ok()) {
      ++built;
      EXPECT_TRUE(*got == want->snapshots[1]) << "byte " << at;
    } else {
      ++refused;
      EXPECT_EQ(got.status().code(), absl::StatusCode::kInvalidArgument)
          << "byte " << at << ": " << got.status();
    }
  }
  // Both outcomes met: flips in values load, flips in structure do not.
  EXPECT_GT(refused, 0);
  EXPECT_GT(built, 0);
}

TEST(RepartitionReaderTest, StartRefusesWhatItCannotBuild) {
  const v1::PartitionMap two = ShardedMap(2, 4);
  // The same pieces in the same groups: each group loads its own file.
  EXPECT_EQ(RepartitionReader::Start(two, ShardedMap(2, 9), 0).status().code(),
            absl::StatusCode::kInvalidArgument);
  EXPECT_EQ(RepartitionReader::Start(two, ShardedMap(3, 9), 3).status().code(),
            absl::StatusCode::kInvalidArgument);
  v1::PartitionMap other_rate = ShardedMap(3, 9);
  other_rate.mutable_tables(0)->mutable_optimizer()->set_learning_rate(0.5f);
  absl::StatusOr<std::unique_ptr<RepartitionReader>> r =
      RepartitionReader::Start(two, other_rate, 0);
  EXPECT_EQ(r.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("differs"));
}

}  // namespace
}  // namespace ps::server
