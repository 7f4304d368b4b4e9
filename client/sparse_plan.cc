#include "client/sparse_plan.h"

#include <cstring>

#include "absl/strings/str_cat.h"
#include "common/hash.h"

namespace ps::client {
namespace {

constexpr int64_t kKeyBytes = sizeof(uint64_t);
constexpr int64_t kFloatBytes = sizeof(float);

absl::StatusOr<int> SparseDim(const v1::PartitionMap& map,
                              const std::string& name) {
  const v1::TableDef* def = nullptr;
  for (const v1::TableDef& d : map.tables()) {
    if (d.name() == name) def = &d;
  }
  if (def == nullptr) {
    return absl::NotFoundError(absl::StrCat(
        "table ", name, " is not in partition map epoch ", map.epoch()));
  }
  if (def->kind() != v1::SPARSE) {
    return absl::InvalidArgumentError(absl::StrCat(
        "table ", name, " is DENSE; sparse keys need a SPARSE table"));
  }
  if (def->dim() < 1) {
    return absl::InvalidArgumentError(absl::StrCat(
        "sparse table ", name, " has dim ", def->dim(),
        " in partition map epoch ", map.epoch(), "; it must be >= 1"));
  }
  return def->dim();
}

absl::Status CheckSparsePartitions(const v1::PartitionMap& map) {
  const uint32_t partitions = map.sparse_partitions();
  if (partitions == 0 ||
      map.partition_servers_size() != static_cast<int>(partitions)) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition map epoch ", map.epoch(), " has ", partitions,
                     " sparse partitions and ", map.partition_servers_size(),
                     " partition servers; expected equal and >= 1"));
  }
  return absl::OkStatus();
}

// Key indexes of `keys` per server, each in key order.
void GroupByServer(const v1::PartitionMap& map, absl::Span<const uint64_t> keys,
                   std::vector<std::vector<int64_t>>* by_server) {
  for (auto& v : *by_server) v.clear();
  for (size_t i = 0; i < keys.size(); ++i) {
    const int server = map.partition_servers(
        SparsePartition(keys[i], map.sparse_partitions()));
    (*by_server)[server].push_back(static_cast<int64_t>(i));
  }
}

// Builds a server's requests, filling one until the next row would take it
// past chunk_bytes.
class RequestPacker {
 public:
  RequestPacker(int servers, int64_t chunk_bytes)
      : open_(servers, -1), chunk_bytes_(chunk_bytes) {}

  // Adds key `index` of ref `ref` (of row width `dim`) to a request to
  // `server`.
  void Add(int server, int ref, absl::Span<const uint64_t> keys, int64_t index,
           int dim) {
    const int64_t row_bytes = dim * kFloatBytes + kKeyBytes;
    // An open request holds at least one row, so a row bigger than
    // chunk_bytes still goes, alone.
    if (open_[server] < 0 ||
        out_[open_[server]].Bytes() + row_bytes > chunk_bytes_) {
      open_[server] = static_cast<int>(out_.size());
      out_.emplace_back().server_index = server;
    }
    SparseRequest& r = out_[open_[server]];
    if (r.slices.empty() || r.slices.back().first != ref) {
      r.slices.emplace_back(ref, 0);
    }
    ++r.slices.back().second;
    r.keys.push_back(&keys[index]);
    r.rows.push_back(index);
    r.values += dim;
  }

  std::vector<SparseRequest> Take() { return std::move(out_); }

 private:
  std::vector<int> open_;  // per server: the request it is filling, or -1
  const int64_t chunk_bytes_;
  std::vector<SparseRequest> out_;
};

// Calls dense(piece, value) for each folded dense piece of `r` and then
// row(ref, key index, dim, value) for each sparse row, `value` being the
// index of its first float on the wire.
template <typename DenseFn, typename RowFn>
void ForEachValueRun(const SparseRequest& r, const SparseCall& call,
                     DenseFn dense, RowFn row) {
  int64_t value = 0;
  for (int c : r.dense_chunks) {
    for (const RoutedSlice& piece : (*call.chunks)[c].pieces) {
      dense(piece, value);
      value += piece.count;
    }
  }
  size_t i = 0;
  for (const auto& [ref, count] : r.slices) {
    const int dim = call.dims[ref];
    for (int64_t k = 0; k < count; ++k, ++i) {
      row(ref, r.rows[i], dim, value);
      value += dim;
    }
  }
}

}  // namespace

int64_t SparseRequest::Bytes() const {
  return (values + dense_values) * kFloatBytes +
         static_cast<int64_t>(keys.size()) * kKeyBytes;
}

absl::StatusOr<std::vector<int>> SparseDims(
    const v1::PartitionMap& map, const std::vector<SparseKeys>& tables) {
  std::vector<int> dims;
  for (const SparseKeys& t : tables) {
    absl::StatusOr<int> dim = SparseDim(map, *t.table);
    if (!dim.ok()) return dim.status();
    dims.push_back(*dim);
  }
  return dims;
}

absl::StatusOr<std::vector<SparseRequest>> RouteSparse(
    const v1::PartitionMap& map, int64_t chunk_bytes,
    const std::vector<SparseKeys>& tables, const std::vector<int>& dims) {
  if (tables.empty()) return std::vector<SparseRequest>();
  if (absl::Status s = CheckSparsePartitions(map); !s.ok()) return s;
  const int servers = map.servers_size();
  RequestPacker packer(servers, chunk_bytes);
  std::vector<std::vector<int64_t>> by_server(servers);
  for (size_t ref = 0; ref < tables.size(); ++ref) {
    GroupByServer(map, tables[ref].keys, &by_server);
    for (int s = 0; s < servers; ++s) {
      for (int64_t i : by_server[s]) {
        packer.Add(s, static_cast<int>(ref), tables[ref].keys, i, dims[ref]);
      }
    }
  }
  return packer.Take();
}

std::vector<bool> FoldDenseChunks(const std::vector<Chunk>& chunks,
                                  int64_t max_fold_bytes, int64_t chunk_bytes,
                                  std::vector<SparseRequest>* sparse) {
  std::vector<bool> folded(chunks.size(), false);
  if (sparse->empty()) return folded;
  std::vector<SparseRequest*> first;
  for (SparseRequest& r : *sparse) {
    if (first.size() <= static_cast<size_t>(r.server_index)) {
      first.resize(r.server_index + 1, nullptr);
    }
    if (first[r.server_index] == nullptr) first[r.server_index] = &r;
  }
  for (size_t c = 0; c < chunks.size(); ++c) {
    const Chunk& chunk = chunks[c];
    SparseRequest* r = static_cast<size_t>(chunk.server_index) < first.size()
                           ? first[chunk.server_index]
                           : nullptr;
    const int64_t bytes = chunk.values * kFloatBytes;
    if (r == nullptr || bytes > max_fold_bytes ||
        r->Bytes() + bytes > chunk_bytes) {
      continue;
    }
    r->dense_chunks.push_back(static_cast<int>(c));
    r->dense_values += chunk.values;
    folded[c] = true;
  }
  return folded;
}

std::vector<int32_t> CountPushesPerServer(const std::vector<Chunk>& chunks,
                                          const std::vector<bool>& folded,
                                          int servers, bool every_server,
                                          std::vector<SparseRequest>* sparse) {
  std::vector<int32_t> per_server(servers, 0);
  for (size_t c = 0; c < chunks.size(); ++c) {
    if (!folded[c]) ++per_server[chunks[c].server_index];
  }
  for (const SparseRequest& r : *sparse) ++per_server[r.server_index];
  if (!every_server) return per_server;
  for (int s = 0; s < servers; ++s) {
    if (per_server[s] > 0) continue;
    sparse->emplace_back().server_index = s;
    per_server[s] = 1;
  }
  return per_server;
}

void WriteSparseSlices(
    const SparseRequest& r, const SparseCall& call,
    google::protobuf::RepeatedPtrField<v1::DenseSlice>* dense,
    google::protobuf::RepeatedPtrField<v1::SparseSlice>* sparse,
    std::string* keys) {
  for (int c : r.dense_chunks) {
    for (const RoutedSlice& piece : (*call.chunks)[c].pieces) {
      v1::DenseSlice* slice = dense->Add();
      slice->set_table(piece.table);
      slice->set_offset(piece.offset);
      slice->set_count(piece.count);
    }
  }
  for (const auto& [ref, count] : r.slices) {
    v1::SparseSlice* slice = sparse->Add();
    slice->set_table(*(*call.tables)[ref].table);
    slice->set_keys(count);
  }
  keys->resize(r.keys.size() * kKeyBytes);
  char* out = keys->data();
  for (const uint64_t* key : r.keys) {
    std::memcpy(out, key, kKeyBytes);
    out += kKeyBytes;
  }
}

std::string GatherSparseValues(const SparseRequest& r, const SparseCall& call,
                               const float* grads,
                               const std::vector<const float*>& rows) {
  std::string values((r.dense_values + r.values) * kFloatBytes, '\0');
  char* out = values.data();
  ForEachValueRun(
      r, call,
      [&](const RoutedSlice& piece, int64_t at) {
        std::memcpy(out + at * kFloatBytes, grads + piece.buffer_offset,
                    piece.count * kFloatBytes);
      },
      [&](int ref, int64_t row, int dim, int64_t at) {
        std::memcpy(out + at * kFloatBytes, rows[ref] + row * dim,
                    dim * kFloatBytes);
      });
  return values;
}

absl::Status ScatterSparseValues(const SparseRequest& r, const SparseCall& call,
                                 const std::string& values, float* buffer,
                                 const std::vector<float*>& rows) {
  const int64_t expected = (r.dense_values + r.values) * kFloatBytes;
  if (static_cast<int64_t>(values.size()) != expected) {
    return absl::DataLossError(absl::StrCat("pull answered ", values.size(),
                                            " bytes of values; expected ",
                                            expected));
  }
  const char* in = values.data();
  ForEachValueRun(
      r, call,
      [&](const RoutedSlice& piece, int64_t at) {
        std::memcpy(buffer + piece.buffer_offset, in + at * kFloatBytes,
                    piece.count * kFloatBytes);
      },
      [&](int ref, int64_t row, int dim, int64_t at) {
        std::memcpy(rows[ref] + row * dim, in + at * kFloatBytes,
                    dim * kFloatBytes);
      });
  return absl::OkStatus();
}

}  // namespace ps::client
