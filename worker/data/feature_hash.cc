#include "worker/data/feature_hash.h"

#include <algorithm>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"
#include "common/hash.h"

namespace ps::worker {
namespace {

constexpr uint64_t kGoldenGamma = 0x9E3779B97F4A7C15ULL;
constexpr int kMinutesPerDay = 24 * 60;
constexpr uint16_t kDistanceEdges[] = {250, 500, 750, 1000, 1500, 2000, 2500};

// Floor division and modulo, so times before 2001-01-01 still map to the
// right hour and weekday.
int32_t FloorDiv(int32_t a, int32_t b) {
  return a / b - ((a % b != 0) && ((a < 0) != (b < 0)));
}

int32_t FloorMod(int32_t a, int32_t b) { return a - FloorDiv(a, b) * b; }

uint64_t Mask(int num_bits) {
  return num_bits >= 64 ? ~uint64_t{0} : (uint64_t{1} << num_bits) - 1;
}

uint64_t Hour(int32_t minute) {
  return static_cast<uint64_t>(FloorMod(minute, kMinutesPerDay) / 60);
}

absl::Status CheckColumns(const FlightRows& rows) {
  const size_t n = static_cast<size_t>(rows.count);
  if (rows.count >= 0 && rows.minute.size() == n && rows.delay.size() == n &&
      rows.distance.size() == n && rows.origin.size() == n &&
      rows.destination.size() == n) {
    return absl::OkStatus();
  }
  return absl::InvalidArgumentError(absl::StrFormat(
      "FlightRows with count %d has columns of %d minute, %d delay, %d "
      "distance, %d origin and %d destination values, expected %d each",
      rows.count, rows.minute.size(), rows.delay.size(), rows.distance.size(),
      rows.origin.size(), rows.destination.size(), rows.count));
}

}  // namespace

std::vector<FlightFeature> DefaultFlightFeatures() {
  return {FlightFeature::kOrigin,  FlightFeature::kDestination,
          FlightFeature::kRoute,   FlightFeature::kHour,
          FlightFeature::kWeekday, FlightFeature::kDistanceBucket};
}

absl::StatusOr<FlightFeature> FlightFeatureFromNumber(int number) {
  if (number < 1 || number > kMaxFlightFeatureNumber) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "flight feature %d, expected 1..%d (ORIGIN .. DEST_HOUR)", number,
        kMaxFlightFeatureNumber));
  }
  return static_cast<FlightFeature>(number);
}

const char* FlightFeatureName(FlightFeature feature) {
  switch (feature) {
    case FlightFeature::kOrigin:
      return "origin";
    case FlightFeature::kDestination:
      return "dest";
    case FlightFeature::kRoute:
      return "route";
    case FlightFeature::kHour:
      return "hour";
    case FlightFeature::kWeekday:
      return "weekday";
    case FlightFeature::kDistanceBucket:
      return "distance_bucket";
    case FlightFeature::kOriginHour:
      return "origin_hour";
    case FlightFeature::kDestinationHour:
      return "dest_hour";
  }
  return "unknown";
}

absl::Status ValidateFlightFeatures(absl::Span<const FlightFeature> features) {
  bool seen[kMaxFlightFeatureNumber + 1] = {};
  for (size_t i = 0; i < features.size(); ++i) {
    const int number = static_cast<int>(features[i]);
    if (number < 1 || number > kMaxFlightFeatureNumber) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "features[%d] is %d, expected a flight feature in 1..%d", i, number,
          kMaxFlightFeatureNumber));
    }
    if (seen[number]) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "features[%d] is %s (%d) again, expected each feature at most once",
          i, FlightFeatureName(features[i]), number));
    }
    seen[number] = true;
  }
  return absl::OkStatus();
}

uint64_t FeatureSalt(FlightFeature feature) {
  return Mix64(static_cast<uint64_t>(feature) * kGoldenGamma);
}

int DistanceBucket(uint16_t miles) {
  return static_cast<int>(std::upper_bound(std::begin(kDistanceEdges),
                                           std::end(kDistanceEdges), miles) -
                          std::begin(kDistanceEdges));
}

uint64_t FlightFeatureValue(FlightFeature feature, int32_t minute,
                            uint16_t distance, uint32_t origin,
                            uint32_t destination) {
  switch (feature) {
    case FlightFeature::kOrigin:
      return origin;
    case FlightFeature::kDestination:
      return destination;
    case FlightFeature::kRoute:
      return uint64_t{origin} | uint64_t{destination} << 32;
    case FlightFeature::kHour:
      return Hour(minute);
    case FlightFeature::kWeekday:
      return static_cast<uint64_t>(
          FloorMod(FloorDiv(minute, kMinutesPerDay), 7));
    case FlightFeature::kDistanceBucket:
      return static_cast<uint64_t>(DistanceBucket(distance));
    case FlightFeature::kOriginHour:
      return uint64_t{origin} | Hour(minute) << 32;
    case FlightFeature::kDestinationHour:
      return uint64_t{destination} | Hour(minute) << 32;
  }
  return 0;  // Unreachable for validated features.
}

uint64_t FeatureKey(FlightFeature feature, uint64_t value, int num_bits) {
  return Mix64(value ^ FeatureSalt(feature)) & Mask(num_bits);
}

void FlightKeys(const FlightRows& rows, int64_t i,
                absl::Span<const FlightFeature> features, int num_bits,
                uint64_t* keys) {
  for (size_t s = 0; s < features.size(); ++s) {
    keys[s] = FeatureKey(
        features[s],
        FlightFeatureValue(features[s], rows.minute[i], rows.distance[i],
                           rows.origin[i], rows.destination[i]),
        num_bits);
  }
}

absl::StatusOr<FlightFeatures> HashFlightFeatures(
    const FlightRows& rows, const FeatureHashOptions& options) {
  if (options.num_bits < 1 || options.num_bits > 64) {
    return absl::InvalidArgumentError(
        absl::StrFormat("num_bits %d, expected 1..64", options.num_bits));
  }
  if (absl::Status s = ValidateFlightFeatures(options.features); !s.ok()) {
    return s;
  }
  if (absl::Status s = CheckColumns(rows); !s.ok()) return s;
  FlightFeatures out;
  out.count = rows.count;
  out.num_bits = options.num_bits;
  out.features =
      options.features.empty() ? DefaultFlightFeatures() : options.features;
  out.slots = static_cast<int>(out.features.size());
  const size_t n = static_cast<size_t>(rows.count);
  out.keys.resize(n * out.slots);
  out.labels.resize(n);
  for (size_t i = 0; i < n; ++i) {
    FlightKeys(rows, static_cast<int64_t>(i), out.features, options.num_bits,
               out.keys.data() + i * out.slots);
    out.labels[i] = rows.delay[i] > kDelayedThresholdMinutes ? 1.0f : 0.0f;
  }
  return out;
}

}  // namespace ps::worker
