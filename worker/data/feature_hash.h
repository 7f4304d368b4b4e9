// Hashed categorical features of the flight-delay workload (the "hashing
// trick"): every row becomes one uint64 key per configured feature, all
// keys in one key space of 2^num_bits, and a 0/1 label, delay > 15 minutes.
//
// Features and the value each hashes (minute, distance and the packed
// airport codes are the FlightRows fields of worker/data/flights_data.h):
//
//   1 origin           origin code packed little-endian ("ATL" = 0x4c5441)
//   2 destination      destination code, packed the same way
//   3 route            origin | destination << 32 (the origin x dest cross)
//   4 hour             hour of the local departure time, 0..23
//   5 weekday          day of the week, 0 = Monday .. 6 = Sunday
//                      (2001-01-01 was a Monday)
//   6 distance bucket  number of edges in {250, 500, 750, 1000, 1500, 2000,
//                      2500} miles that are <= the distance, 0..7: the
//                      buckets narrow where flights are dense (76% fly under
//                      1000 miles) and the tail above 2500 is one bucket
//   7 origin x hour    origin | hour << 32
//   8 dest x hour      destination | hour << 32
//
// key = Mix64(value ^ FeatureSalt(feature)) mod 2^num_bits, with Mix64 from
// common/hash.h. Features share the key space and may collide; the salt,
// which depends on the feature's number (never on its position in a feature
// list), makes equal values of different features (hour 3, weekday 3) land
// on unrelated keys and keeps a feature's keys the same whatever other
// features a model uses.
//
// The hash is fixed and platform-independent: bench/flights_torch.py
// implements it bit for bit, and both assert the same hard-coded keys
// (feature_hash_test.cc, `flights_torch.py --self-check`). Changing anything
// here changes every trained model's keys: update both sides together.

#ifndef PS_WORKER_DATA_FEATURE_HASH_H_
#define PS_WORKER_DATA_FEATURE_HASH_H_

#include <cstdint>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "worker/data/flights_data.h"

namespace ps::worker {

// The features of the table above. The numbers are those of the proto enum
// ps.v1.FlightFeature (proto/ps/v1/ps.proto), which a job spec carries: a
// caller converts with FlightFeatureFromNumber. This library mirrors the
// enum rather than depending on the generated proto code so that data
// loading needs no protobuf; feature_hash_test.cc checks the numbers agree.
enum class FlightFeature : int {
  kOrigin = 1,
  kDestination = 2,
  kRoute = 3,
  kHour = 4,
  kWeekday = 5,
  kDistanceBucket = 6,
  kOriginHour = 7,
  kDestinationHour = 8,
};

inline constexpr int kMaxFlightFeatureNumber = 8;

// A flight is "delayed", label 1, when its delay exceeds this many minutes
// (about 20% of the rows).
inline constexpr int kDelayedThresholdMinutes = 15;

// ORIGIN, DEST, ROUTE, HOUR, WEEKDAY, DISTANCE_BUCKET: what an empty feature
// list means (ModelSpec.features).
std::vector<FlightFeature> DefaultFlightFeatures();

// The feature with proto number `number`; InvalidArgument naming the number
// and the allowed range for anything else (0, the proto's UNSPECIFIED,
// included).
absl::StatusOr<FlightFeature> FlightFeatureFromNumber(int number);

// Lower-case name, as bench/flights_torch.py --features spells it:
// "origin", "dest", "route", "hour", "weekday", "distance_bucket",
// "origin_hour", "dest_hour".
const char* FlightFeatureName(FlightFeature feature);

// OK when every entry is a feature of the table and none repeats; else
// InvalidArgument naming the position and value. An empty list is valid
// (it means DefaultFlightFeatures()).
absl::Status ValidateFlightFeatures(absl::Span<const FlightFeature> features);

struct FeatureHashOptions {
  // Keys fall in [0, 2^num_bits); 1..64. The default 2^20 matches the
  // PyTorch baseline. Fewer bits mean a smaller table and more collisions:
  // the 3M flights hold 3,895 distinct values of the six default features
  // (229 origins, 228 destinations, 3,399 routes, 24 + 7 + 8 others), which
  // collide into 3,887 keys at 2^20 and into about 3% fewer at 2^16.
  int num_bits = 20;
  // The features to hash, in the order their keys appear in each row; each
  // at most once. Empty means DefaultFlightFeatures().
  std::vector<FlightFeature> features;
};

// The features of a shard: row i's key for the feature at position s of
// `features` is keys[i * slots + s].
struct FlightFeatures {
  int64_t count = 0;  // Rows.
  int num_bits = 0;   // The options' num_bits the keys were made with.
  int slots = 0;      // Keys per row: features.size().
  std::vector<FlightFeature> features;  // Never empty once hashed.
  std::vector<uint64_t> keys;           // count * slots keys, row-major.
  std::vector<float> labels;  // count labels: 1 if delay > 15, else 0.
};

// Mix64(number * 0x9E3779B97F4A7C15): the number-th output of a splitmix64
// generator seeded with 0.
uint64_t FeatureSalt(FlightFeature feature);

// 0..7, see the table above.
int DistanceBucket(uint16_t miles);

// The value `feature` hashes for one flight, before salting.
uint64_t FlightFeatureValue(FlightFeature feature, int32_t minute,
                            uint16_t distance, uint32_t origin,
                            uint32_t destination);

// Mix64(value ^ FeatureSalt(feature)) mod 2^num_bits; num_bits must be in
// 1..64.
uint64_t FeatureKey(FlightFeature feature, uint64_t value, int num_bits);

// Writes the keys of row i of `rows` for `features` (non-empty, valid), in
// that order, to keys[0, features.size()). Requires 0 <= i < rows.count and
// num_bits in 1..64.
void FlightKeys(const FlightRows& rows, int64_t i,
                absl::Span<const FlightFeature> features, int num_bits,
                uint64_t* keys);

// Keys and labels for every row of `rows`.
//
// Errors:
//   InvalidArgument: options.num_bits outside 1..64, a feature list that
//                    ValidateFlightFeatures rejects, or a column of `rows`
//                    whose length differs from rows.count.
absl::StatusOr<FlightFeatures> HashFlightFeatures(
    const FlightRows& rows, const FeatureHashOptions& options);

}  // namespace ps::worker

#endif  // PS_WORKER_DATA_FEATURE_HASH_H_
