#include "worker/feature_hash.h"

#include <algorithm>
#include <iterator>

#include "absl/status/status.h"
#include "absl/strings/str_format.h"

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

}  // namespace

uint64_t Mix64(uint64_t x) {
  x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ULL;
  x = (x ^ (x >> 27)) * 0x94D049BB133111EBULL;
  return x ^ (x >> 31);
}

uint64_t SlotSalt(FlightSlot slot) {
  return Mix64((static_cast<uint64_t>(slot) + 1) * kGoldenGamma);
}

int DistanceBucket(uint16_t miles) {
  return static_cast<int>(std::upper_bound(std::begin(kDistanceEdges),
                                           std::end(kDistanceEdges), miles) -
                          std::begin(kDistanceEdges));
}

uint64_t FlightSlotValue(FlightSlot slot, int32_t minute, uint16_t distance,
                         uint32_t origin, uint32_t destination) {
  switch (slot) {
    case FlightSlot::kOrigin:
      return origin;
    case FlightSlot::kDestination:
      return destination;
    case FlightSlot::kRoute:
      return uint64_t{origin} | uint64_t{destination} << 32;
    case FlightSlot::kHour:
      return static_cast<uint64_t>(FloorMod(minute, kMinutesPerDay) / 60);
    case FlightSlot::kWeekday:
      return static_cast<uint64_t>(
          FloorMod(FloorDiv(minute, kMinutesPerDay), 7));
    case FlightSlot::kDistanceBucket:
      return static_cast<uint64_t>(DistanceBucket(distance));
  }
  return 0;  // Unreachable: the switch covers every slot.
}

uint64_t FeatureKey(FlightSlot slot, uint64_t value, int num_bits) {
  return Mix64(value ^ SlotSalt(slot)) & Mask(num_bits);
}

std::array<uint64_t, kFlightSlots> FlightKeys(const FlightRows& rows, int64_t i,
                                              int num_bits) {
  std::array<uint64_t, kFlightSlots> keys;
  for (int s = 0; s < kFlightSlots; ++s) {
    const auto slot = static_cast<FlightSlot>(s);
    keys[s] = FeatureKey(slot,
                         FlightSlotValue(slot, rows.minute[i], rows.distance[i],
                                         rows.origin[i], rows.destination[i]),
                         num_bits);
  }
  return keys;
}

absl::StatusOr<FlightFeatures> HashFlightFeatures(
    const FlightRows& rows, const FeatureHashOptions& options) {
  if (options.num_bits < 1 || options.num_bits > 64) {
    return absl::InvalidArgumentError(
        absl::StrFormat("num_bits %d, expected 1..64", options.num_bits));
  }
  const size_t n = static_cast<size_t>(rows.count);
  if (rows.count < 0 || rows.minute.size() != n || rows.delay.size() != n ||
      rows.distance.size() != n || rows.origin.size() != n ||
      rows.destination.size() != n) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "FlightRows with count %d has columns of %d minute, %d delay, %d "
        "distance, %d origin and %d destination values, expected %d each",
        rows.count, rows.minute.size(), rows.delay.size(), rows.distance.size(),
        rows.origin.size(), rows.destination.size(), rows.count));
  }
  FlightFeatures out;
  out.count = rows.count;
  out.num_bits = options.num_bits;
  out.keys.resize(n * kFlightSlots);
  out.labels.resize(n);
  for (size_t i = 0; i < n; ++i) {
    const std::array<uint64_t, kFlightSlots> keys =
        FlightKeys(rows, static_cast<int64_t>(i), options.num_bits);
    std::copy(keys.begin(), keys.end(), out.keys.begin() + i * kFlightSlots);
    out.labels[i] = rows.delay[i] > kDelayedThresholdMinutes ? 1.0f : 0.0f;
  }
  return out;
}

}  // namespace ps::worker
