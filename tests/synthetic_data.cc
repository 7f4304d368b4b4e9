#include "tests/synthetic_data.h"

#include <zlib.h>

#include <cmath>
#include <cstdint>
#include <cstring>
#include <fstream>
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

namespace {

absl::Status WriteFlightsFile(const std::string& path, int first, int rows,
                              std::mt19937* rng) {
  static constexpr const char* kAirports[] = {"ATL", "ORD", "DFW", "LAX",
                                              "DEN", "SFO", "SEA", "BOS"};
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  if (!out) return absl::PermissionDeniedError(absl::StrCat("cannot write ", path));
  out.write("PSF1", 4);
  const uint32_t record = 16;
  const uint64_t count = rows;
  out.write(reinterpret_cast<const char*>(&record), 4);
  out.write(reinterpret_cast<const char*>(&count), 8);
  std::uniform_int_distribution<int> airport(0, 7);
  std::uniform_real_distribution<double> unit(0, 1);
  for (int i = 0; i < rows; ++i) {
    const int32_t minute = (first + i) * 7;  // non-decreasing
    const int hour = minute / 60 % 24;
    const int origin = airport(*rng);
    const int dest = (origin + 1 + airport(*rng) % 7) % 8;
    const double logit = -3 + 3.0 * (hour >= 17) + 2.5 * (origin < 2);
    const bool delayed = unit(*rng) < 1 / (1 + std::exp(-logit));
    const int16_t delay = delayed ? 40 : 0;
    const uint16_t distance = static_cast<uint16_t>(200 + 300 * dest);
    char codes[8] = {};
    std::memcpy(codes, kAirports[origin], 3);
    std::memcpy(codes + 4, kAirports[dest], 3);
    out.write(reinterpret_cast<const char*>(&minute), 4);
    out.write(reinterpret_cast<const char*>(&delay), 2);
    out.write(reinterpret_cast<const char*>(&distance), 2);
    out.write(codes, 8);
  }
  out.close();
  if (!out) return absl::DataLossError(absl::StrCat("short write to ", path));
  return absl::OkStatus();
}

}  // namespace

absl::Status WriteSyntheticFlights(const std::string& dir, int train_rows,
                                   int test_rows, unsigned seed) {
  std::mt19937 rng(seed);
  absl::Status s =
      WriteFlightsFile(absl::StrCat(dir, "/train.psf"), 0, train_rows, &rng);
  if (!s.ok()) return s;
  return WriteFlightsFile(absl::StrCat(dir, "/test.psf"), train_rows,
                          test_rows, &rng);
}

}  // namespace ps::testing
