// How one pull or push of dense values becomes RPCs, decided without any
// network: every TableRef is routed through the partition map, and the
// pieces for each server are packed, in order, into chunks of bounded size.
// Many small pieces share one chunk (a small model costs about one RPC per
// server); a piece bigger than a chunk is split over several.
#ifndef PS_CLIENT_CHUNK_PLAN_H_
#define PS_CLIENT_CHUNK_PLAN_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "common/partition.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {

// Values [offset, offset + count) of `table`, exchanged with
// buffer[buffer_offset, buffer_offset + count) of the caller's flat float
// buffer.
struct TableRef {
  std::string table;
  int64_t offset = 0;
  int64_t count = 0;
  int64_t buffer_offset = 0;
};

bool operator==(const TableRef& a, const TableRef& b);
inline bool operator!=(const TableRef& a, const TableRef& b) {
  return !(a == b);
}

// The payload of one RPC: pieces for one server, their values concatenated
// in piece order on the wire.
struct Chunk {
  int server_index = 0;
  std::vector<RoutedSlice> pieces;
  int64_t values = 0;  // sum of the pieces' counts; in [1, chunk_values]
};

// Dense requests are not split below this (see ChunkValues), and the end
// of each server's part of a call is cut down to requests of this size
// (PlanChunks' taper). Measured with bench/dataplane_bench, three
// alternating runs with and without the taper, when requests were 4 MiB
// (kDefaultChunkBytes is now 2 MiB): a 16 MB push to one server 2.84 / 2.96
// / 2.73 -> 2.93 / 3.31 / 3.07 GB/s, pull 2.86 / 2.88 / 2.50 -> 2.99 / 3.38
// / 3.25 GB/s, p50 of a call 6.2 / 5.6 / 6.4 -> 5.5 / 5.0 / 5.3 ms; 64 MB and
// two servers within noise.
inline constexpr int64_t kMinSplitChunkBytes = 512 << 10;

// Values per dense request for a call over `refs` to `servers` servers of
// `channels` connections each, with requests of at most `chunk_bytes`.
int64_t ChunkValues(const std::vector<TableRef>& refs, int servers,
                    int channels, int64_t chunk_bytes);

// Plans `refs` against `map` with at most `chunk_values` values per chunk.
// Refs with count 0 are skipped, so an empty plan is possible. Chunks of
// different servers are interleaved (server 0's first, server 1's first, ...)
// so that every server starts working as early as possible.
//
// With taper_min_values > 0, a server's last chunk that holds at least
// 2 * taper_min_values is cut into chunks of half its values, a quarter, ...,
// down to two of taper_min_values to 2 * taper_min_values - 1 (2 MB becomes
// 1 MB, 512 KB, 512 KB for 128K values). A server reads and applies
// its last request after the client has sent everything, with nothing else
// to overlap; a smaller last request shortens that tail.
//
// Errors (nothing is planned):
//   INVALID_ARGUMENT  chunk_values < 1, taper_min_values < 0, or a negative
//                     count or buffer_offset
//   NOT_FOUND         a table the map does not define
//   OUT_OF_RANGE      a ref outside its table
absl::StatusOr<std::vector<Chunk>> PlanChunks(const v1::PartitionMap& map,
                                              const std::vector<TableRef>& refs,
                                              int64_t chunk_values,
                                              int64_t taper_min_values = 0);

}  // namespace ps::client

#endif  // PS_CLIENT_CHUNK_PLAN_H_
