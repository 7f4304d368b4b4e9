#include "worker/train/in_memory_sparse_store.h"

#include <algorithm>
#include <utility>

#include "absl/strings/str_format.h"
#include "common/hash.h"

namespace ps::worker {

InMemorySparseStore::InMemorySparseStore(
    std::vector<float> dense, const InMemorySparseStoreOptions& options)
    : dense_(std::move(dense)), options_(options) {}

absl::StatusOr<InMemorySparseStore::Table*> InMemorySparseStore::FindTable(
    const SparseBlock& block) {
  if (block.dim < 1 || block.values.size() != block.keys.size() * block.dim) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "block of table \"%s\" has %d values for %d keys of dim %d (dim must "
        "be >= 1)",
        block.table, block.values.size(), block.keys.size(), block.dim));
  }
  Table& table = tables_[block.table];
  if (table.dim == 0) table.dim = block.dim;
  if (block.dim != table.dim) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "block of table \"%s\" has dim %d, the table has dim %d", block.table,
        block.dim, table.dim));
  }
  return &table;
}

float* InMemorySparseStore::Row(Table& table, const std::string& name,
                                uint64_t key) {
  auto [it, added] = table.offset.try_emplace(key, table.values.size());
  if (added) {
    const bool zero = name == kWideTable;
    const uint64_t base = SplitMix64(options_.seed ^ SplitMix64(key) ^
                                     static_cast<uint64_t>(table.dim));
    for (int j = 0; j < table.dim; ++j) {
      // The top 24 bits as a uniform value in [0, 1).
      const float u = static_cast<float>(SplitMix64(base + j) >> 40) /
                      static_cast<float>(uint64_t{1} << 24);
      table.values.push_back(zero ? 0.0f : (2 * u - 1) * options_.init_scale);
    }
  }
  return table.values.data() + it->second;
}

absl::StatusOr<int64_t> InMemorySparseStore::Pull(
    float* dense, std::vector<SparseBlock>* blocks, int64_t /*clock*/) {
  std::copy(dense_.begin(), dense_.end(), dense);
  for (SparseBlock& block : *blocks) {
    absl::StatusOr<Table*> table = FindTable(block);
    if (!table.ok()) return table.status();
    for (size_t k = 0; k < block.keys.size(); ++k) {
      const float* row = Row(**table, block.table, block.keys[k]);
      std::copy_n(row, block.dim, block.values.data() + k * block.dim);
    }
  }
  return 0;
}

absl::Status InMemorySparseStore::Push(const float* dense_grads,
                                       const std::vector<SparseBlock>& blocks,
                                       int64_t /*clock*/) {
  // Every block is checked before anything changes.
  std::vector<Table*> tables;
  for (const SparseBlock& block : blocks) {
    absl::StatusOr<Table*> table = FindTable(block);
    if (!table.ok()) return table.status();
    tables.push_back(*table);
  }
  const float lr = options_.learning_rate;
  for (size_t i = 0; i < dense_.size(); ++i) dense_[i] -= lr * dense_grads[i];
  for (size_t b = 0; b < blocks.size(); ++b) {
    const SparseBlock& block = blocks[b];
    for (size_t k = 0; k < block.keys.size(); ++k) {
      float* row = Row(*tables[b], block.table, block.keys[k]);
      const float* grad = block.values.data() + k * block.dim;
      for (int j = 0; j < block.dim; ++j) row[j] -= lr * grad[j];
    }
  }
  return absl::OkStatus();
}

float* InMemorySparseStore::MutableRow(const std::string& table, int dim,
                                       uint64_t key) {
  Table& t = tables_[table];
  if (t.dim == 0) t.dim = dim;
  return Row(t, table, key);
}

int64_t InMemorySparseStore::rows(const std::string& table) const {
  auto it = tables_.find(table);
  return it == tables_.end() ? 0
                             : static_cast<int64_t>(it->second.offset.size());
}

}  // namespace ps::worker
