#include "worker/data/fashion_mnist.h"

#include <zlib.h>

#include <array>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"

namespace ps::worker {
namespace {

using ::testing::AllOf;
using ::testing::HasSubstr;

constexpr uint32_t kImagesMagic = 2051;
constexpr uint32_t kLabelsMagic = 2049;

std::string BigEndian(uint32_t v) {
  return {static_cast<char>(v >> 24), static_cast<char>(v >> 16),
          static_cast<char>(v >> 8), static_cast<char>(v)};
}

std::string ImagesFile(uint32_t count, uint32_t rows, uint32_t cols,
                       const std::string& pixels,
                       uint32_t magic = kImagesMagic) {
  return BigEndian(magic) + BigEndian(count) + BigEndian(rows) +
         BigEndian(cols) + pixels;
}

std::string LabelsFile(uint32_t count, const std::string& labels,
                       uint32_t magic = kLabelsMagic) {
  return BigEndian(magic) + BigEndian(count) + labels;
}

std::string RandomBytes(std::mt19937& rng, size_t n, int max_value) {
  std::uniform_int_distribution<int> dist(0, max_value);
  std::string bytes(n, '\0');
  for (char& c : bytes) c = static_cast<char>(dist(rng));
  return bytes;
}

class FashionMnistTest : public testing::Test {
 protected:
  // Each test gets its own directory, so files never leak between tests.
  void SetUp() override {
    dir_ = testing::TempDir() + "/" +
           testing::UnitTest::GetInstance()->current_test_info()->name();
    std::filesystem::create_directories(dir_);
  }

  std::string ImagesPath(const char* prefix = "train") const {
    return dir_ + "/" + prefix + "-images-idx3-ubyte.gz";
  }
  std::string LabelsPath(const char* prefix = "train") const {
    return dir_ + "/" + prefix + "-labels-idx1-ubyte.gz";
  }

  static void WriteGz(const std::string& path, const std::string& bytes) {
    gzFile file = gzopen(path.c_str(), "wb");
    ASSERT_NE(file, nullptr) << path;
    ASSERT_EQ(gzwrite(file, bytes.data(), bytes.size()),
              static_cast<int>(bytes.size()));
    ASSERT_EQ(gzclose(file), Z_OK);
  }

  // Writes a valid train split of `rows` random 2x3 images.
  void WriteRandomSplit(int rows, const char* prefix = "train") {
    std::mt19937 rng(42);
    pixels_ = RandomBytes(rng, rows * 6, 255);
    labels_ = RandomBytes(rng, rows, 9);
    WriteGz(ImagesPath(prefix), ImagesFile(rows, 2, 3, pixels_));
    WriteGz(LabelsPath(prefix), LabelsFile(rows, labels_));
  }

  absl::StatusOr<Examples> LoadTrain(int shard = 0, int num_shards = 1) {
    return LoadFashionMnist(dir_, Split::kTrain, shard, num_shards);
  }

  std::string dir_;
  std::string pixels_;
  std::string labels_;
};

TEST_F(FashionMnistTest, DecodesPixelsAndLabels) {
  WriteRandomSplit(5);
  absl::StatusOr<Examples> ex = LoadTrain();
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_EQ(ex->count, 5);
  EXPECT_EQ(ex->dim, 6);
  ASSERT_EQ(ex->x.size(), 30u);
  ASSERT_EQ(ex->y.size(), 5u);
  for (size_t i = 0; i < pixels_.size(); ++i) {
    EXPECT_FLOAT_EQ(ex->x[i], static_cast<uint8_t>(pixels_[i]) / 255.0f);
  }
  for (size_t i = 0; i < labels_.size(); ++i) EXPECT_EQ(ex->y[i], labels_[i]);
}

TEST_F(FashionMnistTest, TestSplitReadsT10kFiles) {
  WriteRandomSplit(4, "t10k");
  absl::StatusOr<Examples> ex = LoadFashionMnist(dir_, Split::kTest, 0, 1);
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_EQ(ex->count, 4);
  EXPECT_EQ(LoadTrain().status().code(), absl::StatusCode::kNotFound);
}

TEST_F(FashionMnistTest, ShardsCoverEveryRowExactlyOnce) {
  constexpr int kRows = 23;
  WriteRandomSplit(kRows);
  absl::StatusOr<Examples> all = LoadTrain();
  ASSERT_TRUE(all.ok()) << all.status();
  for (int num_shards : {1, 2, 3, 5, 7, 23, 30}) {
    SCOPED_TRACE(num_shards);
    std::vector<float> x;
    std::vector<int32_t> y;
    for (int shard = 0; shard < num_shards; ++shard) {
      absl::StatusOr<Examples> part = LoadTrain(shard, num_shards);
      ASSERT_TRUE(part.ok()) << part.status();
      EXPECT_EQ(part->dim, 6);
      EXPECT_EQ(part->x.size(), static_cast<size_t>(part->count * 6));
      EXPECT_EQ(part->y.size(), static_cast<size_t>(part->count));
      // Contiguous shards are balanced to within one row.
      EXPECT_GE(part->count, kRows / num_shards);
      EXPECT_LE(part->count, kRows / num_shards + 1);
      x.insert(x.end(), part->x.begin(), part->x.end());
      y.insert(y.end(), part->y.begin(), part->y.end());
    }
    EXPECT_EQ(x, all->x);
    EXPECT_EQ(y, all->y);
  }
}

TEST_F(FashionMnistTest, BadShardArgumentsAreInvalidArgument) {
  WriteRandomSplit(3);
  for (auto [shard, num_shards] :
       std::array<std::pair<int, int>, 4>{{{0, 0}, {-1, 2}, {2, 2}, {0, -3}}}) {
    absl::Status status = LoadTrain(shard, num_shards).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(status.message(),
                AllOf(HasSubstr("shard_index " + std::to_string(shard)),
                      HasSubstr("num_shards " + std::to_string(num_shards))));
  }
}

TEST_F(FashionMnistTest, MissingFilesAreNotFoundNamingThePath) {
  absl::Status status = LoadTrain().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(ImagesPath()));

  WriteGz(ImagesPath(), ImagesFile(0, 2, 3, ""));
  status = LoadTrain().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kNotFound);
  EXPECT_THAT(status.message(), HasSubstr(LabelsPath()));
}

TEST_F(FashionMnistTest, BadImageMagicIsDataLoss) {
  WriteRandomSplit(2);
  WriteGz(ImagesPath(), ImagesFile(2, 2, 3, pixels_, kLabelsMagic));
  absl::Status status = LoadTrain().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(ImagesPath()),
                                      HasSubstr("2049"), HasSubstr("2051")));
}

TEST_F(FashionMnistTest, BadLabelMagicIsDataLoss) {
  WriteRandomSplit(2);
  WriteGz(LabelsPath(), LabelsFile(2, labels_, 7));
  absl::Status status = LoadTrain().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), AllOf(HasSubstr(LabelsPath()), HasSubstr("7,"),
                                      HasSubstr("2049")));
}

TEST_F(FashionMnistTest, ZeroImageSideIsDataLoss) {
  WriteRandomSplit(2);
  WriteGz(ImagesPath(), ImagesFile(2, 0, 3, ""));
  absl::Status status = LoadTrain().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(ImagesPath()), HasSubstr("row count is 0")));
}

TEST_F(FashionMnistTest, TruncatedImagesAreDataLossForEveryShard) {
  WriteRandomSplit(4);
  // The header promises 4 rows; half of the last row is missing.
  WriteGz(ImagesPath(), ImagesFile(4, 2, 3, pixels_.substr(0, 21)));
  for (int shard : {0, 1}) {
    absl::Status status = LoadTrain(shard, 2).status();
    EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
    EXPECT_THAT(status.message(),
                AllOf(HasSubstr(ImagesPath()), HasSubstr("truncated"),
                      HasSubstr("byte 37"), HasSubstr("3 more bytes")));
  }
}

TEST_F(FashionMnistTest, TruncatedHeaderIsDataLoss) {
  WriteRandomSplit(2);
  WriteGz(LabelsPath(), BigEndian(kLabelsMagic) + "\x00\x00");
  absl::Status status = LoadTrain().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(LabelsPath()), HasSubstr("item count")));
}

TEST_F(FashionMnistTest, TrailingDataIsDataLoss) {
  WriteRandomSplit(3);
  WriteGz(LabelsPath(), LabelsFile(3, labels_ + "\x01"));
  absl::Status status = LoadTrain().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(LabelsPath()), HasSubstr("trailing data")));
}

TEST_F(FashionMnistTest, CountMismatchIsDataLoss) {
  WriteRandomSplit(3);
  WriteGz(LabelsPath(), LabelsFile(2, labels_.substr(0, 2)));
  absl::Status status = LoadTrain().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(ImagesPath()), HasSubstr(LabelsPath()),
                    HasSubstr("3 images"), HasSubstr("2 labels")));
}

TEST_F(FashionMnistTest, LabelOutOfRangeIsDataLossEvenOutsideShard) {
  WriteRandomSplit(4);
  labels_[3] = 10;
  WriteGz(LabelsPath(), LabelsFile(4, labels_));
  absl::Status status = LoadTrain(0, 2).status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(),
              AllOf(HasSubstr(LabelsPath()), HasSubstr("label 10 at row 3"),
                    HasSubstr("expected 0..9")));
}

TEST_F(FashionMnistTest, CorruptGzipStreamIsDataLoss) {
  WriteRandomSplit(200);
  std::string gz;
  {
    std::ifstream in(ImagesPath(), std::ios::binary);
    gz.assign(std::istreambuf_iterator<char>(in), {});
  }
  ASSERT_GT(gz.size(), 100u);
  for (size_t i = 30; i < 60; ++i) gz[i] = static_cast<char>(~gz[i]);
  std::ofstream(ImagesPath(), std::ios::binary) << gz;
  absl::Status status = LoadTrain().status();
  EXPECT_EQ(status.code(), absl::StatusCode::kDataLoss);
  EXPECT_THAT(status.message(), HasSubstr(ImagesPath()));
}

// Runs against the real data when Debian's dataset-fashion-mnist is present.
TEST(FashionMnistRealDataTest, LoadsTestSplit) {
  if (!std::filesystem::exists(kDefaultFashionMnistDir)) {
    GTEST_SKIP() << kDefaultFashionMnistDir << " not installed";
  }
  absl::StatusOr<Examples> ex =
      LoadFashionMnist(kDefaultFashionMnistDir, Split::kTest, 0, 1);
  ASSERT_TRUE(ex.ok()) << ex.status();
  EXPECT_EQ(ex->count, 10000);
  EXPECT_EQ(ex->dim, 784);
  ASSERT_EQ(ex->x.size(), 10000u * 784u);
  std::array<int, 10> per_class{};
  for (int32_t label : ex->y) {
    ASSERT_GE(label, 0);
    ASSERT_LE(label, 9);
    ++per_class[label];
  }
  for (int n : per_class) EXPECT_EQ(n, 1000);
  for (float v : ex->x) {
    ASSERT_GE(v, 0.0f);
    ASSERT_LE(v, 1.0f);
  }
}

}  // namespace
}  // namespace ps::worker
