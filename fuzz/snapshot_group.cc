#include "fuzz/snapshot_group.h"

#include <cstring>
#include <utility>
#include <vector>

#include "absl/base/internal/raw_logging.h"
#include "server/group_snapshot_format.h"
#include "server/update_rule.h"
#include "server/value_pieces.h"

namespace ps::fuzz {
namespace {

constexpr int kDim = 2;

v1::TableDef Def(const std::string& name, v1::OptimizerType type, int dim) {
  v1::TableDef def;
  def.set_name(name);
  def.set_kind(dim > 0 ? v1::SPARSE : v1::DENSE);
  def.set_dim(dim);
  def.set_size(dim > 0 ? 0 : 16);
  def.mutable_init()->set_kind(v1::Initializer::UNIFORM);
  def.mutable_init()->set_scale(0.5f);
  def.mutable_init()->set_seed(7);
  def.mutable_optimizer()->set_type(type);
  def.mutable_optimizer()->set_learning_rate(0.1f);
  return def;
}

std::unique_ptr<server::UpdateRule> Rule(const v1::TableDef& def) {
  auto rule = server::MakeUpdateRule(def.optimizer());
  ABSL_RAW_CHECK(rule.ok(), "the fuzz group's optimizer is invalid");
  return *std::move(rule);
}

// Gradients that differ per push: n floats from `seed`.
std::vector<float> Grads(size_t n, uint64_t seed) {
  std::vector<float> g(n);
  for (size_t i = 0; i < n; ++i) g[i] = float((seed * 31 + i * 7) % 13) - 6;
  return g;
}

}  // namespace

std::vector<v1::TableDef> SnapshotGroup::Tables() {
  return {Def("w", v1::ADAM, 0), Def("emb", v1::ADAGRAD, kDim)};
}

SnapshotGroup::SnapshotGroup(v1::Consistency mode, int64_t begin,
                             int64_t end) {
  const std::vector<v1::TableDef> tables = Tables();
  const v1::TableDef& w = tables[0];
  const v1::TableDef& emb = tables[1];
  dense_ = std::make_unique<server::DenseShard>(w, begin, end, Rule(w));
  sparse_ = std::make_unique<server::SparseShard>(emb, kDim, Rule(emb));
  clock_ = std::make_unique<server::JobClock>(
      mode, mode == v1::SSP ? 1 : 0, std::vector<std::string>{"w0", "w1"});
  parts_.dense = {{"w", dense_.get()}};
  parts_.sparse = {{"emb", sparse_.get()}};
  parts_.dedup = &dedup_;
  parts_.clock = clock_.get();
  if (mode == v1::BSP) {
    bsp_ = std::make_unique<server::BspAccumulator>(
        std::vector<server::DenseShard*>{dense_.get()});
    sparse_bsp_ = std::make_unique<server::SparseBspAccumulator>(
        std::vector<server::SparseShard*>{sparse_.get()});
    parts_.bsp = bsp_.get();
    parts_.sparse_bsp = sparse_bsp_.get();
  }
}

void SnapshotGroup::Train(int clocks, bool half_clock) {
  for (int c = 0; c < clocks; ++c) {
    Push("w0", next_seq_++, c, 1);
    Push("w1", next_seq_++, c, 1);
  }
  if (half_clock) Push("w0", next_seq_++, clocks, 2);
}

// As TableStore::Push: checked, recorded in PushDedup, applied (or summed
// under BSP, applied once every worker finished the clock), clock recorded.
void SnapshotGroup::Push(const std::string& worker, uint64_t seq, int64_t clock,
                         int32_t pushes) {
  ABSL_RAW_CHECK(clock_->CheckPush(worker, clock, pushes).ok() &&
                     dedup_.FirstTime(worker, seq),
                 "the fuzz group's push is out of order");
  const int64_t offset = dense_->begin() + int64_t(seq % 3);
  const std::vector<float> g = Grads(dense_->end() - offset, seq);
  const std::vector<uint64_t> keys = {seq % 5, 5 + seq % 4, 100 + seq};
  const std::vector<float> rows = Grads(keys.size() * kDim, seq + 1);
  if (bsp_ != nullptr) {
    bsp_->Add(dense_.get(), offset, g.size(), g.data());
    const absl::string_view bytes(reinterpret_cast<const char*>(rows.data()),
                                  rows.size() * sizeof(float));
    sparse_bsp_->Add(sparse_.get(), keys, server::ValuePieces({bytes}), 0);
  } else {
    dense_->Apply(offset, g.size(), g.data());
    sparse_->Apply(keys, rows.data());
  }
  bool all_finished = false;
  ABSL_RAW_CHECK(clock_->RecordPush(worker, clock, pushes, &all_finished).ok(),
                 "the fuzz group's clock refused a push");
  if (all_finished && bsp_ != nullptr) {
    bsp_->ApplyAndReset(0.5f);
    sparse_bsp_->ApplyAndReset(0.5f);
    clock_->Published(clock + 1);
  }
}

std::string SnapshotGroup::Snapshot() const {
  std::string out;
  server::WriteGroupSnapshot(parts_, &out);
  return out;
}

void FixSnapshotFrame(std::string& bytes) {
  namespace snapshot = server::snapshot;
  if (bytes.size() < snapshot::kHeaderBytes + snapshot::kTrailerBytes) return;
  const uint64_t size = bytes.size();
  std::memcpy(&bytes[snapshot::kMagicBytes + 4], &size, sizeof(size));
  const size_t body = bytes.size() - snapshot::kTrailerBytes;
  const uint32_t crc =
      snapshot::Crc32(absl::string_view(bytes).substr(0, body));
  std::memcpy(&bytes[body], &crc, sizeof(crc));
}

}  // namespace ps::fuzz
