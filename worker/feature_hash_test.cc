#include "worker/feature_hash.h"

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "worker/flights_data.h"

namespace ps::worker {
namespace {

using ::testing::_;
using ::testing::ElementsAre;
using ::testing::ElementsAreArray;
using ::testing::HasSubstr;

struct Flight {
  int32_t minute;
  int16_t delay;
  uint16_t distance;
  const char* origin;
  const char* destination;
};

// The same rows and keys as SELF_CHECK_ROWS / SELF_CHECK_KEYS_* in
// bench/flights_torch.py, which asserts them with `--self-check`: if one
// side changes, both must, or the baseline no longer trains the same model.
constexpr Flight kRows[] = {
    {1, 33, 2176, "LAS", "PHL"},       // The file's first row.
    {260640, 17, 332, "ATL", "MEM"},   // 2001-07-01 00:00, a Sunday.
    {-1, -5, 0, "A", "WXYZ"},          // 2000-12-31 23:59; short/long codes.
    {100000, 0, 65535, "SFO", "JFK"},  // 2001-03-11 10:40 (Sunday), top bucket.
};
constexpr uint64_t kKeys20[][kFlightSlots] = {
    {680187, 573214, 845177, 236405, 1024711, 913930},
    {432281, 141634, 93228, 236405, 205662, 330649},
    {614890, 36028, 981750, 182054, 205662, 278947},
    {1657, 965444, 667033, 1027895, 205662, 190779},
};
constexpr uint64_t kKeys64Row0[kFlightSlots] = {
    14954278209911939323ULL, 7243226719594266398ULL, 412416343170409849ULL,
    4132491476520377205ULL,  3310286063217386183ULL, 6081409776666669578ULL,
};

FlightRows MakeRows() {
  FlightRows rows;
  for (const Flight& f : kRows) {
    rows.minute.push_back(f.minute);
    rows.delay.push_back(f.delay);
    rows.distance.push_back(f.distance);
    rows.origin.push_back(PackAirportCode(f.origin));
    rows.destination.push_back(PackAirportCode(f.destination));
  }
  rows.count = rows.split_count = static_cast<int64_t>(rows.minute.size());
  return rows;
}

TEST(FeatureHashTest, Mix64IsSplitMix64) {
  // The first output of splitmix64 seeded with 0, as published with it.
  EXPECT_EQ(SlotSalt(FlightSlot::kOrigin), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(Mix64(0x9E3779B97F4A7C15ULL), 0xE220A8397B1DCDAFULL);
}

TEST(FeatureHashTest, SlotValuesDecodeTimeDistanceAndCodes) {
  const FlightRows rows = MakeRows();
  auto values = [&rows](int64_t i) {
    std::vector<uint64_t> out;
    for (int s = 0; s < kFlightSlots; ++s) {
      out.push_back(FlightSlotValue(static_cast<FlightSlot>(s), rows.minute[i],
                                    rows.distance[i], rows.origin[i],
                                    rows.destination[i]));
    }
    return out;
  };
  const uint64_t las = 'L' | 'A' << 8 | 'S' << 16;
  const uint64_t phl = 'P' | 'H' << 8 | 'L' << 16;
  EXPECT_THAT(values(0), ElementsAre(las, phl, las | phl << 32, 0, 0, 6));
  EXPECT_THAT(values(1),
              ElementsAre(rows.origin[1], rows.destination[1], _, 0, 6, 1));
  EXPECT_THAT(values(2), ElementsAre('A', 0x5A595857ULL, _, 23, 6, 0));
  EXPECT_THAT(values(3), ElementsAre(_, _, _, 10, 6, 7));
}

TEST(FeatureHashTest, DistanceBucketEdgesAreInclusiveBelow) {
  EXPECT_EQ(DistanceBucket(0), 0);
  EXPECT_EQ(DistanceBucket(249), 0);
  EXPECT_EQ(DistanceBucket(250), 1);
  EXPECT_EQ(DistanceBucket(999), 3);
  EXPECT_EQ(DistanceBucket(1000), 4);
  EXPECT_EQ(DistanceBucket(2499), 6);
  EXPECT_EQ(DistanceBucket(2500), 7);
  EXPECT_EQ(DistanceBucket(65535), 7);
}

TEST(FeatureHashTest, KeysMatchPythonBaseline) {
  const FlightRows rows = MakeRows();
  for (int64_t i = 0; i < rows.count; ++i) {
    EXPECT_THAT(FlightKeys(rows, i, 20), ElementsAreArray(kKeys20[i]))
        << "row " << i;
  }
  EXPECT_THAT(FlightKeys(rows, 0, 64), ElementsAreArray(kKeys64Row0));
}

TEST(FeatureHashTest, HashFlightFeaturesLaysOutKeysRowMajorWithLabels) {
  absl::StatusOr<FlightFeatures> features =
      HashFlightFeatures(MakeRows(), FeatureHashOptions{});
  ASSERT_TRUE(features.ok()) << features.status();
  EXPECT_EQ(features->count, 4);
  EXPECT_EQ(features->num_bits, 20);
  ASSERT_EQ(features->keys.size(), 4u * kFlightSlots);
  for (int i = 0; i < 4; ++i) {
    for (int s = 0; s < kFlightSlots; ++s) {
      EXPECT_EQ(features->keys[i * kFlightSlots + s], kKeys20[i][s]);
    }
  }
  // Delays 33, 17, -5, 0 against the 15-minute threshold.
  EXPECT_THAT(features->labels, ElementsAre(1.0f, 1.0f, 0.0f, 0.0f));
}

TEST(FeatureHashTest, DelayOfExactlyFifteenMinutesIsOnTime) {
  FlightRows rows = MakeRows();
  rows.delay = {15, 16, -32768, 32767};
  absl::StatusOr<FlightFeatures> features =
      HashFlightFeatures(rows, FeatureHashOptions{});
  ASSERT_TRUE(features.ok()) << features.status();
  EXPECT_THAT(features->labels, ElementsAre(0.0f, 1.0f, 0.0f, 1.0f));
}

TEST(FeatureHashTest, KeysStayBelowTwoToTheNumBits) {
  const FlightRows rows = MakeRows();
  for (int bits : {1, 7, 20, 63}) {
    FeatureHashOptions options;
    options.num_bits = bits;
    absl::StatusOr<FlightFeatures> features = HashFlightFeatures(rows, options);
    ASSERT_TRUE(features.ok()) << features.status();
    for (uint64_t key : features->keys) EXPECT_LT(key, uint64_t{1} << bits);
  }
}

TEST(FeatureHashTest, FewerBitsKeepTheLowBitsOfTheFullHash) {
  const FlightRows rows = MakeRows();
  const std::array<uint64_t, kFlightSlots> full = FlightKeys(rows, 0, 64);
  const std::array<uint64_t, kFlightSlots> low = FlightKeys(rows, 0, 12);
  for (int s = 0; s < kFlightSlots; ++s) EXPECT_EQ(low[s], full[s] & 0xfff);
}

TEST(FeatureHashTest, NumBitsOutOfRangeIsInvalidArgument) {
  for (int bits : {0, -1, 65}) {
    FeatureHashOptions options;
    options.num_bits = bits;
    absl::StatusOr<FlightFeatures> features =
        HashFlightFeatures(MakeRows(), options);
    EXPECT_EQ(features.status().code(), absl::StatusCode::kInvalidArgument);
    EXPECT_THAT(features.status().message(), HasSubstr("num_bits"));
  }
}

TEST(FeatureHashTest, RaggedColumnsAreInvalidArgument) {
  FlightRows rows = MakeRows();
  rows.origin.pop_back();
  absl::StatusOr<FlightFeatures> features =
      HashFlightFeatures(rows, FeatureHashOptions{});
  EXPECT_EQ(features.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(features.status().message(), HasSubstr("3 origin"));
}

}  // namespace
}  // namespace ps::worker
