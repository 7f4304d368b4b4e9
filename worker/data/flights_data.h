// Loader for the US flight-delay workload: 3,000,000 flights of January to
// June 2001 from vega-datasets' flights-3m.parquet, converted once by
// deploy/flights/setup.sh into two PSF1 files (train.psf: the first 90% of
// rows in date order, test.psf: the last 10%).
//
// PSF1 file format, all integers little-endian:
//
//   header, 16 bytes:
//     char[4]  magic        "PSF1"
//     uint32   record_size  16
//     uint64   row_count
//   row_count records of 16 bytes each, nothing after the last:
//     int32    minute       minutes since 2001-01-01T00:00 of the local (not
//                           UTC-adjusted) departure time; rows are in
//                           non-decreasing order of it
//     int16    delay        departure delay in minutes, clamped to int16
//     uint16   distance     miles, clamped to [0, 65535]
//     char[4]  origin       IATA airport code, ASCII, NUL-padded
//     char[4]  destination  IATA airport code, ASCII, NUL-padded
//
// Records are fixed-size so that a worker seeks straight to its shard and
// reads nothing else.

#ifndef PS_WORKER_DATA_FLIGHTS_DATA_H_
#define PS_WORKER_DATA_FLIGHTS_DATA_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ps::worker {

// Where deploy/flights/setup.sh writes train.psf and test.psf by default.
inline constexpr char kDefaultFlightsDir[] = "/var/lib/pscluster/flights";

inline constexpr char kPsfMagic[4] = {'P', 'S', 'F', '1'};
inline constexpr int kPsfHeaderBytes = 16;
inline constexpr int kPsfRecordBytes = 16;

// A shard of flights as a struct of arrays: every vector has `count`
// entries, and entry i is row first_row + i of the file.
struct FlightRows {
  int64_t count = 0;            // Rows in this shard.
  int64_t first_row = 0;        // Index in the file of this shard's first row.
  int64_t split_count = 0;      // Rows in the whole file, over all shards.
  std::vector<int32_t> minute;  // Minutes since 2001-01-01T00:00, local.
  std::vector<int16_t> delay;   // Departure delay, minutes.
  std::vector<uint16_t> distance;  // Miles.
  // Airport codes packed little-endian, so "ATL" is
  // 'A' | 'T' << 8 | 'L' << 16; NUL padding packs as zero bytes. This is
  // the 4-byte field read as a uint32, and what feature_hash.h hashes.
  std::vector<uint32_t> origin;
  std::vector<uint32_t> destination;
};

// Packs an airport code of at most 4 characters as FlightRows does; longer
// input is truncated to its first 4 characters.
uint32_t PackAirportCode(absl::string_view code);

// The inverse of PackAirportCode: the code without its NUL padding.
std::string AirportCode(uint32_t packed);

// Loads rows [shard_index * N / num_shards, (shard_index + 1) * N / num_shards)
// of the PSF1 file at `path`, where N is its row count. The shards for
// shard_index = 0..num_shards-1 partition the file; a shard is empty when
// num_shards > N. Only the header and the shard's records are read; the
// file's size is checked against the header, so a truncated or overlong file
// fails on every shard alike.
//
// Errors (each message names the path, the value found and what was
// expected):
//   InvalidArgument: num_shards < 1 or shard_index outside [0, num_shards).
//   NotFound:        no file at `path`.
//   DataLoss:        not a PSF1 file: bad magic, record size other than 16,
//                    file shorter than its header, or a file size that does
//                    not match the header's row count (truncated or
//                    trailing bytes), or a read that came up short.
//   Other codes:     the OS refused to open or read the file.
absl::StatusOr<FlightRows> LoadFlights(const std::string& path, int shard_index,
                                       int num_shards);

}  // namespace ps::worker

#endif  // PS_WORKER_DATA_FLIGHTS_DATA_H_
