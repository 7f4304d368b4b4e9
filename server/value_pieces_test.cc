#include "server/value_pieces.h"

#include <cstring>
#include <limits>
#include <string>
#include <vector>

#include "gtest/gtest.h"

namespace ps::server {
namespace {

std::vector<float> Iota(int64_t n) {
  std::vector<float> v(n);
  for (int64_t i = 0; i < n; ++i) v[i] = static_cast<float>(i) + 0.5f;
  return v;
}

// `floats` serialised into `storage` at byte offset `skew` (so the pieces
// can be misaligned) and cut into pieces at the given byte positions.
ValuePieces Cut(const std::vector<float>& floats, std::vector<int64_t> cuts,
                int skew, std::string* storage) {
  const int64_t bytes = static_cast<int64_t>(floats.size()) * 4;
  storage->assign(bytes + skew, '\0');
  std::memcpy(storage->data() + skew, floats.data(), bytes);
  cuts.push_back(bytes);
  std::vector<absl::string_view> pieces;
  int64_t at = 0;
  for (int64_t cut : cuts) {
    pieces.emplace_back(storage->data() + skew + at, cut - at);
    at = cut;
  }
  return ValuePieces(std::move(pieces));
}

// Everything ForEachRun hands out for [first, first + count), checked for
// order, alignment and contiguity.
std::vector<float> Collect(const ValuePieces& values, int64_t first,
                           int64_t count) {
  std::vector<float> out;
  values.ForEachRun(first, count, [&](int64_t at, const float* v, int64_t n) {
    EXPECT_EQ(at, static_cast<int64_t>(out.size())) << "runs out of order";
    EXPECT_GT(n, 0);
    EXPECT_EQ(reinterpret_cast<uintptr_t>(v) % alignof(float), 0u);
    out.insert(out.end(), v, v + n);
  });
  return out;
}

TEST(ValuePiecesTest, OnePieceIsHandedOutInPlace) {
  std::vector<float> v = Iota(100);
  ValuePieces values({absl::string_view(reinterpret_cast<const char*>(v.data()),
                                        v.size() * 4)});
  EXPECT_EQ(values.bytes(), 400);
  EXPECT_EQ(values.floats(), 100);
  int runs = 0;
  values.ForEachRun(10, 50, [&](int64_t at, const float* p, int64_t n) {
    ++runs;
    EXPECT_EQ(at, 0);
    EXPECT_EQ(p, v.data() + 10) << "an aligned piece must not be copied";
    EXPECT_EQ(n, 50);
  });
  EXPECT_EQ(runs, 1);
}

TEST(ValuePiecesTest, FloatsSplitAcrossPiecesAreReassembled) {
  const std::vector<float> v = Iota(50);
  std::string storage;
  // Cuts inside floats, including a piece of one byte and an empty piece.
  ValuePieces values = Cut(v, {1, 2, 2, 7, 41, 42, 150}, 0, &storage);
  EXPECT_EQ(Collect(values, 0, 50), v);
  EXPECT_EQ(Collect(values, 1, 3),
            std::vector<float>(v.begin() + 1, v.begin() + 4));
  EXPECT_EQ(Collect(values, 49, 1), std::vector<float>{v[49]});
  EXPECT_TRUE(Collect(values, 7, 0).empty());
}

TEST(ValuePiecesTest, MisalignedPiecesAreCopiedInBlocks) {
  const int64_t n = 3 * ValuePieces::kCopyFloats + 17;
  const std::vector<float> v = Iota(n);
  for (int skew = 0; skew < 4; ++skew) {
    std::string storage;
    ValuePieces values = Cut(v, {4 * 1000 + 3, 4 * 9000 + 1}, skew, &storage);
    EXPECT_EQ(Collect(values, 0, n), v) << "skew " << skew;
    EXPECT_EQ(Collect(values, 999, 2), std::vector<float>({v[999], v[1000]}));
  }
}

TEST(ValuePiecesTest, AtReadsAnyFloat) {
  const std::vector<float> v = Iota(9);
  std::string storage;
  ValuePieces values = Cut(v, {3, 5, 13}, 1, &storage);
  for (int i = 0; i < 9; ++i) EXPECT_EQ(values.At(i), v[i]);
}

TEST(ValuePiecesTest, FirstNonFiniteFindsTheFirstNanOrInfAnywhere) {
  std::vector<float> v = Iota(1000);
  std::string storage;
  EXPECT_EQ(Cut(v, {401, 402}, 3, &storage).FirstNonFinite(), -1);
  v[700] = std::numeric_limits<float>::infinity();
  v[900] = std::numeric_limits<float>::quiet_NaN();
  EXPECT_EQ(Cut(v, {401, 402}, 3, &storage).FirstNonFinite(), 700);
  // Straddling a cut (bytes 400..403 hold float 100).
  v[100] = -std::numeric_limits<float>::infinity();
  EXPECT_EQ(Cut(v, {401, 402}, 0, &storage).FirstNonFinite(), 100);
  EXPECT_EQ(Cut(v, {401, 402}, 2, &storage).At(100),
            -std::numeric_limits<float>::infinity());
}

TEST(ValuePiecesTest, FirstNonFiniteAgreesWithAPlainScanForAnyCuts) {
  const int64_t n = 150;  // more than two of the scan's blocks
  for (int64_t bad = 0; bad < n; bad += 7) {
    std::vector<float> v = Iota(n);
    v[bad] = std::numeric_limits<float>::quiet_NaN();
    if (bad + 40 < n) v[bad + 40] = std::numeric_limits<float>::infinity();
    for (int64_t step : {1, 3, 5, 13, 257}) {
      std::vector<int64_t> cuts;
      for (int64_t c = step; c < n * 4; c += step + c % 7) cuts.push_back(c);
      std::string storage;
      EXPECT_EQ(
          Cut(v, cuts, static_cast<int>(step % 4), &storage).FirstNonFinite(),
          bad)
          << "step " << step;
    }
  }
}

TEST(ValuePiecesTest, EmptyValuesHaveNoRuns) {
  ValuePieces none;
  EXPECT_EQ(none.bytes(), 0);
  EXPECT_EQ(none.FirstNonFinite(), -1);
  ValuePieces empty_pieces({absl::string_view(), absl::string_view()});
  EXPECT_EQ(empty_pieces.FirstNonFinite(), -1);
  EXPECT_TRUE(Collect(empty_pieces, 0, 0).empty());
}

}  // namespace
}  // namespace ps::server
