// Hashed categorical features of the flight-delay workload (the "hashing
// trick"): every row becomes kFlightSlots uint64 keys into one sparse table
// of 2^num_bits rows, and a 0/1 label, delay > 15 minutes.
//
// Slots and the value each hashes (minute, distance and the packed airport
// codes are the FlightRows fields of worker/flights_data.h):
//
//   0 origin           origin code packed little-endian ("ATL" = 0x4c5441)
//   1 destination      destination code, packed the same way
//   2 route            origin | destination << 32 (the origin x dest cross)
//   3 hour             hour of the local departure time, 0..23
//   4 weekday          day of the week, 0 = Monday .. 6 = Sunday
//                      (2001-01-01 was a Monday)
//   5 distance bucket  number of edges in {250, 500, 750, 1000, 1500, 2000,
//                      2500} miles that are <= the distance, 0..7: the
//                      buckets narrow where flights are dense (76% fly under
//                      1000 miles) and the tail above 2500 is one bucket
//
// key = Mix64(value ^ SlotSalt(slot)) mod 2^num_bits. Different slots share
// the key space and may collide; the salt makes equal values of different
// slots (hour 3, weekday 3) land on unrelated keys.
//
// The hash is fixed and platform-independent: bench/flights_torch.py
// implements it bit for bit, and both assert the same hard-coded keys
// (feature_hash_test.cc, `flights_torch.py --self-check`). Changing anything
// here changes every trained model's keys: update both sides together.

#ifndef PS_WORKER_FEATURE_HASH_H_
#define PS_WORKER_FEATURE_HASH_H_

#include <array>
#include <cstdint>
#include <vector>

#include "absl/status/statusor.h"
#include "worker/flights_data.h"

namespace ps::worker {

inline constexpr int kFlightSlots = 6;

enum class FlightSlot : int {
  kOrigin = 0,
  kDestination = 1,
  kRoute = 2,
  kHour = 3,
  kWeekday = 4,
  kDistanceBucket = 5,
};

// A flight is "delayed", label 1, when its delay exceeds this many minutes
// (about 20% of the rows).
inline constexpr int kDelayedThresholdMinutes = 15;

struct FeatureHashOptions {
  // Keys fall in [0, 2^num_bits); 1..64. The default 2^20 matches the
  // PyTorch baseline. Fewer bits mean a smaller table and more collisions:
  // the 3M flights hold 3,895 distinct slot values (229 origins, 228
  // destinations, 3,399 routes, 24 + 7 + 8 others), which collide into
  // 3,887 keys at 2^20 and into about 3% fewer at 2^16.
  int num_bits = 20;
};

// The features of a shard: row i's key for slot s is keys[i * kFlightSlots
// + s].
struct FlightFeatures {
  int64_t count = 0;           // Rows.
  int num_bits = 0;            // The options' num_bits the keys were made with.
  std::vector<uint64_t> keys;  // count * kFlightSlots keys, row-major.
  std::vector<float> labels;   // count labels: 1 if delay > 15, else 0.
};

// The splitmix64 finalizer: a bijective, well-mixed 64-bit to 64-bit map.
uint64_t Mix64(uint64_t x);

// Mix64((slot + 1) * 0x9E3779B97F4A7C15): the (slot + 1)-th output of a
// splitmix64 generator seeded with 0.
uint64_t SlotSalt(FlightSlot slot);

// 0..7, see the table above.
int DistanceBucket(uint16_t miles);

// The value slot `slot` hashes for one flight, before salting.
uint64_t FlightSlotValue(FlightSlot slot, int32_t minute, uint16_t distance,
                         uint32_t origin, uint32_t destination);

// Mix64(value ^ SlotSalt(slot)) mod 2^num_bits; num_bits must be in 1..64.
uint64_t FeatureKey(FlightSlot slot, uint64_t value, int num_bits);

// The kFlightSlots keys of row i of `rows`, in slot order. Requires
// 0 <= i < rows.count and num_bits in 1..64.
std::array<uint64_t, kFlightSlots> FlightKeys(const FlightRows& rows, int64_t i,
                                              int num_bits);

// Keys and labels for every row of `rows`.
//
// Errors:
//   InvalidArgument: options.num_bits outside 1..64, or a column of `rows`
//                    whose length differs from rows.count.
absl::StatusOr<FlightFeatures> HashFlightFeatures(
    const FlightRows& rows, const FeatureHashOptions& options);

}  // namespace ps::worker

#endif  // PS_WORKER_FEATURE_HASH_H_
