// How the sparse rows of one pull or push become requests, decided without
// any network: each key goes to the server of its virtual partition, a
// server's rows are packed into requests of bounded size, and small dense
// chunks of the same server ride along in its first sparse request (so that
// a training step costs one RPC per server). Also writes those requests'
// bodies and reads a pull's answer back into the caller's memory; pull and
// push share one walk over the values in wire order.
#ifndef PS_CLIENT_SPARSE_PLAN_H_
#define PS_CLIENT_SPARSE_PLAN_H_

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "client/chunk_plan.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {

// One sparse ref of a call, whichever direction.
struct SparseKeys {
  const std::string* table = nullptr;  // not owned
  absl::Span<const uint64_t> keys;
  bool has_values = false;  // rows (pull) or grads (push) is not null
};

// Sparse rows of one call bound for one server, as one request.
struct SparseRequest {
  int server_index = 0;
  // Small dense chunks of the same server carried by this request instead
  // of their own RPCs (their values come first on the wire).
  std::vector<int> dense_chunks;
  int64_t dense_values = 0;
  std::vector<std::pair<int, int64_t>> slices;  // (sparse ref, key count)
  std::vector<const uint64_t*> keys;            // per row, in slice order
  std::vector<int64_t> rows;  // per row: index of the key in its ref
  int64_t values = 0;         // floats of the rows (without dense_values)

  // Bytes on the wire of the values and keys.
  int64_t Bytes() const;
};

// The row width of each of `tables`. NOT_FOUND for a table `map` does not
// define, INVALID_ARGUMENT for a dense one or one with dim < 1.
absl::StatusOr<std::vector<int>> SparseDims(
    const v1::PartitionMap& map, const std::vector<SparseKeys>& tables);

// Routes the keys of `tables` (of row widths `dims`) to the servers of
// `map` and groups them into requests of at most `chunk_bytes` of rows and
// keys (a bigger row goes alone). Requests are ordered by ref, then server.
// INVALID_ARGUMENT when the map's sparse partitions are inconsistent.
absl::StatusOr<std::vector<SparseRequest>> RouteSparse(
    const v1::PartitionMap& map, int64_t chunk_bytes,
    const std::vector<SparseKeys>& tables, const std::vector<int>& dims);

// Folds each dense chunk of at most `max_fold_bytes` into the first sparse
// request to its server, while that request stays within `chunk_bytes`;
// returns which chunks were folded. Big chunks keep their own RPC.
std::vector<bool> FoldDenseChunks(const std::vector<Chunk>& chunks,
                                  int64_t max_fold_bytes, int64_t chunk_bytes,
                                  std::vector<SparseRequest>* sparse);

// The number of requests of a push to each of `servers` servers: its dense
// chunks not folded and its sparse requests. With `every_server`, a server
// that would get none gets an empty sparse request (appended to *sparse) and
// counts 1, so that it hears of the push's clock.
std::vector<int32_t> CountPushesPerServer(const std::vector<Chunk>& chunks,
                                          const std::vector<bool>& folded,
                                          int servers, bool every_server,
                                          std::vector<SparseRequest>* sparse);

// What the values of a call's sparse requests are read from or written to.
struct SparseCall {
  const std::vector<Chunk>* chunks = nullptr;  // the dense plan's
  const std::vector<SparseKeys>* tables = nullptr;
  std::vector<int> dims;  // per table
};

// Writes the slices, sparse slices and keys of `r`, the parts a pull and a
// push request share.
void WriteSparseSlices(
    const SparseRequest& r, const SparseCall& call,
    google::protobuf::RepeatedPtrField<v1::DenseSlice>* dense,
    google::protobuf::RepeatedPtrField<v1::SparseSlice>* sparse,
    std::string* keys);

// The values of `r` in wire order, from the caller's dense gradients `grads`
// and each sparse ref's row gradients `rows[ref]`.
std::string GatherSparseValues(const SparseRequest& r, const SparseCall& call,
                               const float* grads,
                               const std::vector<const float*>& rows);

// Copies a pull's answer `values` (in wire order) into the caller's dense
// `buffer` and each sparse ref's `rows[ref]`. DATA_LOSS when `values` has
// the wrong size.
absl::Status ScatterSparseValues(const SparseRequest& r, const SparseCall& call,
                                 const std::string& values, float* buffer,
                                 const std::vector<float*>& rows);

}  // namespace ps::client

#endif  // PS_CLIENT_SPARSE_PLAN_H_
