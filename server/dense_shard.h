// One contiguous range [begin, end) of a dense table, with its optimizer state.
// Thread-safe.
//
// Locking: the range is cut into stripes of kStripeValues values, each with
// its own reader/writer lock. A Read, Share or Apply holds every stripe its
// range touches (in increasing order, so ranges never deadlock) for its
// whole duration: concurrent pulls proceed in parallel, no read ever sees a
// half-applied update, and updates of disjoint stripes (the chunks of one
// big push, which arrive on several connections at once) apply in parallel
// instead of queueing behind one lock.
//
// Copy on write: each stripe's values live in a block of their own, which
// Share hands out by reference, so that a pull response can go to the
// socket straight from the table instead of through a copy. An Apply to a
// stripe whose block is still referenced writes into a fresh copy of the
// block and puts that in its place; the references keep the old block, and
// the values they saw, until they are dropped. A stripe nobody references
// (the common case: a response holds its blocks only until it is written)
// is updated in place.
#ifndef PS_SERVER_DENSE_SHARD_H_
#define PS_SERVER_DENSE_SHARD_H_

#include <cstdint>
#include <memory>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/synchronization/mutex.h"
#include "proto/ps/v1/ps.pb.h"
#include "server/update_rule.h"
#include "server/value_pieces.h"

namespace ps::server {

class DenseShard {
 public:
  // Values per lock stripe: 1 MiB, a quarter of a client's default chunk,
  // so that chunks cut at multiples of it from the shard's start (the
  // common case) share no stripe.
  static constexpr int64_t kStripeValues = int64_t{1} << 18;

  // `def` must have passed validation; [begin, end) within [0, def.size()).
  DenseShard(const v1::TableDef& def, int64_t begin, int64_t end,
             std::unique_ptr<UpdateRule> rule);

  int64_t begin() const { return begin_; }
  int64_t end() const { return end_; }
  bool Contains(int64_t offset, int64_t count) const {
    return offset >= begin_ && count >= 0 && offset + count <= end_;
  }
  // Bytes of values and optimizer state. Blocks kept only by Share's
  // references are not counted.
  int64_t bytes() const;

  // Copies values [offset, offset+count) (global indices, must be contained)
  // as float32 to `out`, which need not be aligned.
  void Read(int64_t offset, int64_t count, void* out) const;

  // Values of one stripe, shared with the shard: `data` points at the first
  // of `count` floats and keeps their block alive; they never change while
  // it is held (see "Copy on write" above), unless a push finds no memory
  // for its copy (see WritableBlock).
  struct SharedValues {
    std::shared_ptr<const float> data;
    int64_t count = 0;
  };
  // Values [offset, offset+count) (global indices, must be contained)
  // without copying them: appends one SharedValues per stripe the range
  // touches, in order, all taken at one instant (under the stripes' locks,
  // as Read). Appends nothing for count 0. Each keeps its whole block
  // (kStripeValues values) alive, however few values it shows.
  void Share(int64_t offset, int64_t count,
             std::vector<SharedValues>* out) const;
  // Applies the update rule with `grad` to [offset, offset+count).
  void Apply(int64_t offset, int64_t count, const float* grad);
  // The same with the gradient read in place from floats [first,
  // first+count) of `grad`, run by run.
  void Apply(int64_t offset, int64_t count, const ValuePieces& grad,
             int64_t first);

  // Snapshots (server/group_snapshot.h). The optimizer spec the shard was
  // built with (its rule must be MakeUpdateRule of it), and the rule's
  // state planes per value.
  const v1::OptimizerSpec& optimizer() const { return optimizer_; }
  int state_planes() const { return rule_->StateFloats(); }
  // Floats ExportState writes and RestoreState reads:
  // (1 + state_planes()) * (end - begin).
  int64_t state_floats() const;
  // Copies the values of the whole range, then each state plane in turn
  // (plane k of value begin + i at float (1 + k) * (end - begin) + i), to
  // `out`, which need not be aligned. Taken at one instant: every stripe is
  // held for reading.
  void ExportState(void* out) const;
  // Replaces the values and every state plane with state_floats() floats
  // laid out as ExportState writes them (`in` need not be aligned), at one
  // instant: every stripe is held for writing. Values already handed out by
  // Share keep showing the old values (copy on write, as for Apply).
  void RestoreState(const void* in);
  // RestoreState with the floats read in place by `read(to, bytes)`, which
  // fills `to` with the next `bytes` bytes of that layout (a MiB or less
  // at a time) or returns false; then this stops and returns false, with
  // the state part-read. Every stripe is held for writing meanwhile.
  bool ReadState(absl::FunctionRef<bool(void* to, size_t bytes)> read);
  // Every value back at the table's initializer's and every state plane at
  // zero, as the shard was built (after a ReadState that failed).
  void ResetState();

 private:
  enum class Access { kRead, kWrite };
  // Holds the stripes of [offset, offset+count) while it lives.
  class RangeLock {
   public:
    RangeLock(const DenseShard& shard, int64_t offset, int64_t count,
              Access access);
    ~RangeLock();
    RangeLock(const RangeLock&) = delete;
    RangeLock& operator=(const RangeLock&) = delete;

   private:
    absl::Mutex* const first_;
    absl::Mutex* const last_;  // one past the last stripe held
    const Access access_;
  };

  // Requires the stripes of [offset, offset+count) held for writing.
  void ApplyLocked(int64_t offset, int64_t count, const float* grad);
  // Stripe `stripe`'s block, ready to be written: copied first if a
  // SharedValues still references it. Requires the stripe held for writing.
  float* WritableBlock(int64_t stripe);
  // Values in stripe `stripe`: kStripeValues but for a shorter last one.
  int64_t StripeValues(int64_t stripe) const;
  // Stripes of a shard [begin, end).
  static int64_t Stripes(int64_t begin, int64_t end) {
    return (end - begin + kStripeValues - 1) / kStripeValues;
  }

  const int64_t begin_, end_;
  const v1::Initializer init_;
  const v1::OptimizerSpec optimizer_;
  const std::unique_ptr<UpdateRule> rule_;
  // ceil((end - begin) / kStripeValues) locks; stripe i guards values
  // [begin + i * kStripeValues, ...) and the same range of every state plane.
  const std::unique_ptr<absl::Mutex[]> stripes_;
  // One block per stripe, holding its values; blocks_[i] (the pointer and
  // the floats) is guarded by stripes_[i].
  std::vector<std::shared_ptr<float[]>> blocks_;
  // StateFloats() planes of (end - begin) floats each, back to back.
  std::vector<float> state_;
};

}  // namespace ps::server

#endif  // PS_SERVER_DENSE_SHARD_H_
