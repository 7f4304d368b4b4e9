#include "tests/synthetic_data.h"

#include <zlib.h>

#include <random>

#include "absl/strings/str_cat.h"

namespace ps::testing {
namespace {

void PutBigEndian(std::string* out, uint32_t v) {
  for (int shift = 24; shift >= 0; shift -= 8) out->push_back(static_cast<char>(v >> shift));
}

absl::Status WriteGz(const std::string& path, const std::string& bytes) {
  gzFile f = gzopen(path.c_str(), "wb");
  if (f == nullptr) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  const int written = gzwrite(f, bytes.data(), bytes.size());
  gzclose(f);
  if (written != static_cast<int>(bytes.size())) {
    return absl::DataLossError(absl::StrCat("short write to ", path));
  }
  return absl::OkStatus();
}

absl::Status WriteSplit(const std::string& dir, const std::string& prefix,
                        int rows, std::mt19937* rng) {
  std::string images, labels;
  PutBigEndian(&images, 2051);
  PutBigEndian(&images, rows);
  PutBigEndian(&images, 28);
  PutBigEndian(&images, 28);
  PutBigEndian(&labels, 2049);
  PutBigEndian(&labels, rows);
  std::uniform_int_distribution<int> noise(0, 90);
  for (int i = 0; i < rows; ++i) {
    const int label = (*rng)() % 10;
    labels.push_back(static_cast<char>(label));
    for (int p = 0; p < 28 * 28; ++p) {
      const int row = p / 28;
      const bool lit = row >= 2 * label && row < 2 * label + 3;
      images.push_back(static_cast<char>(lit ? 200 + noise(*rng) % 56 : noise(*rng)));
    }
  }
  absl::Status s = WriteGz(absl::StrCat(dir, "/", prefix, "-images-idx3-ubyte.gz"), images);
  if (!s.ok()) return s;
  return WriteGz(absl::StrCat(dir, "/", prefix, "-labels-idx1-ubyte.gz"), labels);
}

}  // namespace

absl::Status WriteSyntheticFashionMnist(const std::string& dir, int train_rows,
                                        int test_rows, unsigned seed) {
  std::mt19937 rng(seed);
  absl::Status s = WriteSplit(dir, "train", train_rows, &rng);
  if (!s.ok()) return s;
  return WriteSplit(dir, "t10k", test_rows, &rng);
}

}  // namespace ps::testing
