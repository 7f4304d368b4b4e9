#include "worker/data/feature_hash.h"

#include <cctype>
#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "common/hash.h"
#include "common/model_layout.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "proto/ps/v1/ps.pb.h"
#include "worker/data/flights_data.h"

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
// Keys of all eight features in number order (kAllFeatures); the first six
// columns are the default features' keys, unchanged since before the
// crosses existed.
constexpr int kAll = 8;
constexpr uint64_t kKeys20[][kAll] = {
    {680187, 573214, 845177, 236405, 1024711, 913930, 846165, 951326},
    {432281, 141634, 93228, 236405, 205662, 330649, 467377, 395605},
    {614890, 36028, 981750, 182054, 205662, 278947, 929306, 532699},
    {1657, 965444, 667033, 1027895, 205662, 190779, 219460, 876809},
};
constexpr uint64_t kKeys64Row0[kAll] = {
    14954278209911939323ULL, 7243226719594266398ULL, 412416343170409849ULL,
    4132491476520377205ULL,  3310286063217386183ULL, 6081409776666669578ULL,
    10557441626069592405ULL, 7505624095901254686ULL,
};

const std::vector<FlightFeature> kAllFeatures = {
    FlightFeature::kOrigin,     FlightFeature::kDestination,
    FlightFeature::kRoute,      FlightFeature::kHour,
    FlightFeature::kWeekday,    FlightFeature::kDistanceBucket,
    FlightFeature::kOriginHour, FlightFeature::kDestinationHour,
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

std::vector<uint64_t> Keys(const FlightRows& rows, int64_t i,
                           const std::vector<FlightFeature>& features,
                           int num_bits) {
  std::vector<uint64_t> keys(features.size());
  FlightKeys(rows, i, features, num_bits, keys.data());
  return keys;
}

std::vector<uint64_t> Columns(const uint64_t (&row)[kAll],
                              const std::vector<FlightFeature>& features) {
  std::vector<uint64_t> out;
  for (FlightFeature f : features) out.push_back(row[static_cast<int>(f) - 1]);
  return out;
}

// The proto enum the job spec carries and the mirror here must agree.
TEST(FeatureHashTest, NumbersMatchTheProtoEnum) {
  static_assert(static_cast<int>(FlightFeature::kOrigin) == v1::ORIGIN);
  static_assert(static_cast<int>(FlightFeature::kDestination) == v1::DEST);
  static_assert(static_cast<int>(FlightFeature::kRoute) == v1::ROUTE);
  static_assert(static_cast<int>(FlightFeature::kHour) == v1::HOUR);
  static_assert(static_cast<int>(FlightFeature::kWeekday) == v1::WEEKDAY);
  static_assert(static_cast<int>(FlightFeature::kDistanceBucket) ==
                v1::DISTANCE_BUCKET);
  static_assert(static_cast<int>(FlightFeature::kOriginHour) ==
                v1::ORIGIN_HOUR);
  static_assert(static_cast<int>(FlightFeature::kDestinationHour) ==
                v1::DEST_HOUR);
  EXPECT_EQ(kMaxFlightFeatureNumber, v1::FlightFeature_MAX);
  for (int n = v1::FlightFeature_MIN; n <= v1::FlightFeature_MAX; ++n) {
    absl::StatusOr<FlightFeature> f = FlightFeatureFromNumber(n);
    if (n == v1::FLIGHT_FEATURE_UNSPECIFIED) {
      EXPECT_EQ(f.status().code(), absl::StatusCode::kInvalidArgument);
      continue;
    }
    ASSERT_TRUE(f.ok()) << f.status();
    std::string proto_name = v1::FlightFeature_Name(n);
    for (char& c : proto_name) c = static_cast<char>(std::tolower(c));
    EXPECT_EQ(FlightFeatureName(*f), proto_name);
  }
}

TEST(FeatureHashTest, DefaultFeaturesAreTheJobSpecDefaults) {
  // The worker keeps its own list to stay free of the proto; the job spec's
  // default (common/model_layout) is the one jobs get.
  std::vector<int> spec_default;
  for (v1::FlightFeature f : ps::DefaultFlightFeatures()) {
    spec_default.push_back(f);
  }
  std::vector<int> worker_default;
  for (FlightFeature f : DefaultFlightFeatures()) {
    worker_default.push_back(static_cast<int>(f));
  }
  EXPECT_EQ(worker_default, spec_default);
}

TEST(FeatureHashTest, SaltIsSplitMix64OutputOfTheFeatureNumber) {
  // The first output of splitmix64 seeded with 0, as published with it.
  EXPECT_EQ(FeatureSalt(FlightFeature::kOrigin), 0xE220A8397B1DCDAFULL);
  EXPECT_EQ(FeatureSalt(FlightFeature::kDestinationHour),
            Mix64(8 * 0x9E3779B97F4A7C15ULL));
}

TEST(FeatureHashTest, FeatureValuesDecodeTimeDistanceAndCodes) {
  const FlightRows rows = MakeRows();
  auto values = [&rows](int64_t i) {
    std::vector<uint64_t> out;
    for (FlightFeature f : kAllFeatures) {
      out.push_back(FlightFeatureValue(f, rows.minute[i], rows.distance[i],
                                       rows.origin[i], rows.destination[i]));
    }
    return out;
  };
  const uint64_t las = 'L' | 'A' << 8 | 'S' << 16;
  const uint64_t phl = 'P' | 'H' << 8 | 'L' << 16;
  EXPECT_THAT(values(0),
              ElementsAre(las, phl, las | phl << 32, 0, 0, 6, las, phl));
  EXPECT_THAT(values(1),
              ElementsAre(rows.origin[1], rows.destination[1], _, 0, 6, 1,
                          rows.origin[1], rows.destination[1]));
  EXPECT_THAT(values(2), ElementsAre('A', 0x5A595857ULL, _, 23, 6, 0,
                                     'A' | uint64_t{23} << 32,
                                     0x5A595857ULL | uint64_t{23} << 32));
  EXPECT_THAT(values(3), ElementsAre(_, _, _, 10, 6, 7,
                                     rows.origin[3] | uint64_t{10} << 32,
                                     rows.destination[3] | uint64_t{10} << 32));
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
    EXPECT_THAT(Keys(rows, i, kAllFeatures, 20), ElementsAreArray(kKeys20[i]))
        << "row " << i;
  }
  EXPECT_THAT(Keys(rows, 0, kAllFeatures, 64), ElementsAreArray(kKeys64Row0));
}

// A feature's key depends on the feature, not on where the list puts it or
// which other features the list holds.
TEST(FeatureHashTest, KeysDoNotDependOnPositionInTheList) {
  const FlightRows rows = MakeRows();
  const std::vector<FlightFeature> shuffled = {
      FlightFeature::kDestinationHour, FlightFeature::kWeekday,
      FlightFeature::kOrigin, FlightFeature::kOriginHour};
  for (int64_t i = 0; i < rows.count; ++i) {
    EXPECT_THAT(Keys(rows, i, shuffled, 20),
                ElementsAreArray(Columns(kKeys20[i], shuffled)))
        << "row " << i;
  }
}

TEST(FeatureHashTest, HashFlightFeaturesLaysOutKeysRowMajorWithLabels) {
  absl::StatusOr<FlightFeatures> features =
      HashFlightFeatures(MakeRows(), FeatureHashOptions{});
  ASSERT_TRUE(features.ok()) << features.status();
  EXPECT_EQ(features->count, 4);
  EXPECT_EQ(features->num_bits, 20);
  EXPECT_EQ(features->slots, 6);
  EXPECT_EQ(features->features, DefaultFlightFeatures());
  ASSERT_EQ(features->keys.size(), 4u * 6);
  for (int i = 0; i < 4; ++i) {
    for (int s = 0; s < 6; ++s) {
      EXPECT_EQ(features->keys[i * 6 + s], kKeys20[i][s]);
    }
  }
  // Delays 33, 17, -5, 0 against the 15-minute threshold.
  EXPECT_THAT(features->labels, ElementsAre(1.0f, 1.0f, 0.0f, 0.0f));
}

TEST(FeatureHashTest, HashFlightFeaturesUsesTheConfiguredFeatures) {
  FeatureHashOptions options;
  options.features = kAllFeatures;
  absl::StatusOr<FlightFeatures> features =
      HashFlightFeatures(MakeRows(), options);
  ASSERT_TRUE(features.ok()) << features.status();
  EXPECT_EQ(features->slots, kAll);
  EXPECT_EQ(features->features, kAllFeatures);
  ASSERT_EQ(features->keys.size(), 4u * kAll);
  for (int i = 0; i < 4; ++i) {
    for (int s = 0; s < kAll; ++s) {
      EXPECT_EQ(features->keys[i * kAll + s], kKeys20[i][s]);
    }
  }
}

TEST(FeatureHashTest, RepeatedOrUnknownFeaturesAreInvalidArgument) {
  FeatureHashOptions options;
  options.features = {FlightFeature::kHour, FlightFeature::kRoute,
                      FlightFeature::kHour};
  absl::StatusOr<FlightFeatures> features =
      HashFlightFeatures(MakeRows(), options);
  EXPECT_EQ(features.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(features.status().message(), HasSubstr("features[2] is hour"));
  options.features = {FlightFeature::kHour, static_cast<FlightFeature>(9)};
  features = HashFlightFeatures(MakeRows(), options);
  EXPECT_EQ(features.status().code(), absl::StatusCode::kInvalidArgument);
  EXPECT_THAT(features.status().message(), HasSubstr("features[1] is 9"));
  EXPECT_THAT(FlightFeatureFromNumber(0).status().message(),
              HasSubstr("flight feature 0, expected 1..8"));
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
  const std::vector<uint64_t> full = Keys(rows, 0, kAllFeatures, 64);
  const std::vector<uint64_t> low = Keys(rows, 0, kAllFeatures, 12);
  for (int s = 0; s < kAll; ++s) EXPECT_EQ(low[s], full[s] & 0xfff);
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
