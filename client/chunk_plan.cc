#include "client/chunk_plan.h"

#include <algorithm>

#include "absl/strings/str_cat.h"

namespace ps::client {
namespace {

absl::Status CheckRef(const v1::PartitionMap& map, const TableRef& ref) {
  if (ref.count < 0 || ref.buffer_offset < 0) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table ", ref.table, ": count ", ref.count, " and buffer_offset ",
        ref.buffer_offset, " must both be >= 0"));
  }
  for (const v1::TableDef& t : map.tables()) {
    if (t.name() == ref.table) return absl::OkStatus();
  }
  return absl::NotFoundError(absl::StrCat(
      "table ", ref.table, " is not in partition map epoch ", map.epoch()));
}

// Moves the front of `piece` into `chunk`, as much as fits in `capacity`.
void FillFrom(RoutedSlice* piece, int64_t capacity, Chunk* chunk) {
  RoutedSlice part = *piece;
  part.count = std::min(piece->count, capacity - chunk->values);
  chunk->values += part.count;
  piece->offset += part.count;
  piece->buffer_offset += part.count;
  piece->count -= part.count;
  chunk->pieces.push_back(std::move(part));
}

// Appends `piece` to one server's chunks, starting a new chunk whenever the
// last one is full, so every chunk but the last holds exactly chunk_values.
void Pack(RoutedSlice piece, int64_t chunk_values, std::vector<Chunk>* chunks) {
  while (piece.count > 0) {
    if (chunks->empty() || chunks->back().values == chunk_values) {
      chunks->emplace_back().server_index = piece.server_index;
    }
    FillFrom(&piece, chunk_values, &chunks->back());
  }
}

// Cuts the last of one server's chunks, when it holds at least 2 * min_values,
// into chunks of half its values, a quarter, ..., the last two holding
// min_values to 2 * min_values - 1 (and the same pieces, in order).
void Taper(int64_t min_values, std::vector<Chunk>* chunks) {
  if (chunks->empty() || chunks->back().values < 2 * min_values) return;
  Chunk last = std::move(chunks->back());
  chunks->pop_back();
  std::vector<int64_t> sizes;
  int64_t left = last.values;
  while (left >= 2 * min_values) {
    sizes.push_back(left / 2);
    left -= left / 2;
  }
  sizes.push_back(left);
  size_t next = 0;  // sizes[next] is the size of the chunk being filled
  bool open = false;
  for (RoutedSlice& piece : last.pieces) {
    while (piece.count > 0) {
      if (!open || chunks->back().values == sizes[next]) {
        if (open) ++next;
        chunks->emplace_back().server_index = piece.server_index;
        open = true;
      }
      FillFrom(&piece, sizes[next], &chunks->back());
    }
  }
}

std::vector<Chunk> Interleave(std::vector<std::vector<Chunk>> per_server) {
  std::vector<Chunk> out;
  for (size_t round = 0;; ++round) {
    bool any = false;
    for (std::vector<Chunk>& chunks : per_server) {
      if (round >= chunks.size()) continue;
      out.push_back(std::move(chunks[round]));
      any = true;
    }
    if (!any) return out;
  }
}

}  // namespace

bool operator==(const TableRef& a, const TableRef& b) {
  return a.offset == b.offset && a.count == b.count &&
         a.buffer_offset == b.buffer_offset && a.table == b.table;
}

int64_t ChunkValues(const std::vector<TableRef>& refs, int servers,
                    int channels, int64_t chunk_bytes) {
  // Split a call into at least one request per connection (a 1 MB pull to
  // one server as two of 512 KB, over its two connections), so that both
  // connections and both ends' threads work on it, but into requests of no
  // less than kMinSplitChunkBytes (a 1 MB call to two servers is one request
  // to each, not two) nor more than chunk_bytes. Measured with
  // bench/dataplane_bench: two servers, 1 MB pushes as 4 x 256 KB ran at
  // 1.1-2.0 GB/s, as 2 x 512 KB at 1.9-2.8 GB/s; smaller requests than
  // that were slower still.
  int64_t values = 0;
  for (const TableRef& r : refs) values += std::max<int64_t>(r.count, 0);
  const int64_t ways = int64_t{servers} * channels;
  const int64_t even = (values + ways - 1) / ways;
  const int64_t max_values = chunk_bytes / int64_t{sizeof(float)};
  const int64_t min_values = std::min(
      max_values, kMinSplitChunkBytes / static_cast<int64_t>(sizeof(float)));
  return std::clamp(even, min_values, max_values);
}

absl::StatusOr<std::vector<Chunk>> PlanChunks(const v1::PartitionMap& map,
                                              const std::vector<TableRef>& refs,
                                              int64_t chunk_values,
                                              int64_t taper_min_values) {
  if (chunk_values < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_values ", chunk_values, " must be >= 1"));
  }
  if (taper_min_values < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("taper_min_values ", taper_min_values, " must be >= 0"));
  }
  std::vector<std::vector<Chunk>> per_server(map.servers_size());
  for (const TableRef& ref : refs) {
    if (ref.count == 0) continue;
    if (absl::Status s = CheckRef(map, ref); !s.ok()) return s;
    absl::StatusOr<std::vector<RoutedSlice>> routed =
        Route(map, ref.table, ref.offset, ref.count, ref.buffer_offset);
    if (!routed.ok()) return routed.status();
    for (RoutedSlice& piece : *routed) {
      if (piece.server_index < 0 || piece.server_index >= map.servers_size()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "partition map epoch ", map.epoch(), ": table ", ref.table,
            " has a range on server index ", piece.server_index, " of ",
            map.servers_size(), " servers"));
      }
      std::vector<Chunk>* chunks = &per_server[piece.server_index];
      Pack(std::move(piece), chunk_values, chunks);
    }
  }
  if (taper_min_values > 0) {
    for (std::vector<Chunk>& chunks : per_server) {
      Taper(taper_min_values, &chunks);
    }
  }
  return Interleave(std::move(per_server));
}

}  // namespace ps::client
