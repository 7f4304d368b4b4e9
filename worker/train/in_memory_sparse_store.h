// A SparseParamStore held in one process's memory that applies plain SGD on
// every push: what the sparse trainer's tests and its step benchmark train
// against, standing in for the parameter servers.

#ifndef PS_WORKER_TRAIN_IN_MEMORY_SPARSE_STORE_H_
#define PS_WORKER_TRAIN_IN_MEMORY_SPARSE_STORE_H_

#include <cstdint>
#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/node_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "worker/train/sparse_trainer.h"

namespace ps::worker {

struct InMemorySparseStoreOptions {
  float learning_rate = 0.1f;  // SGD: value -= learning_rate * gradient.
  // A row is created when first pulled or pushed: zero in the "wide" table
  // (as a fresh linear model starts), uniform in (-init_scale, init_scale)
  // in any other, seeded by (seed, table's dim, key) so runs repeat.
  float init_scale = 0.1f;
  uint64_t seed = 0;
};

// Not thread-safe. Pulls are never stale: the staleness is always 0.
class InMemorySparseStore : public SparseParamStore {
 public:
  // `dense` is the initial dense buffer; its size is num_dense.
  InMemorySparseStore(std::vector<float> dense,
                      const InMemorySparseStoreOptions& options);

  // InvalidArgument when a block's dim differs from the one the table was
  // first used with or its values are not keys.size() * dim.
  absl::StatusOr<int64_t> Pull(float* dense, std::vector<SparseBlock>* blocks,
                               int64_t clock) override;
  absl::Status Push(const float* dense_grads,
                    const std::vector<SparseBlock>& blocks,
                    int64_t clock) override;

  const std::vector<float>& dense() const { return dense_; }
  std::vector<float>* mutable_dense() { return &dense_; }
  // The row of `key` in `table` (created as a pull would), to inspect or
  // change; valid until the table next grows.
  float* MutableRow(const std::string& table, int dim, uint64_t key);
  int64_t rows(const std::string& table) const;

 private:
  struct Table {
    int dim = 0;
    absl::flat_hash_map<uint64_t, int64_t> offset;  // Key -> first value.
    std::vector<float> values;
  };

  absl::StatusOr<Table*> FindTable(const SparseBlock& block);
  float* Row(Table& table, const std::string& name, uint64_t key);

  std::vector<float> dense_;
  InMemorySparseStoreOptions options_;
  // Node-based: Push keeps Table pointers while later blocks may add tables.
  absl::node_hash_map<std::string, Table> tables_;
};

}  // namespace ps::worker

#endif  // PS_WORKER_TRAIN_IN_MEMORY_SPARSE_STORE_H_
