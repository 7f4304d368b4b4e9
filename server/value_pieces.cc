#include "server/value_pieces.h"

#include <algorithm>
#include <cmath>
#include <cstring>

namespace ps::server {
namespace {

constexpr uint32_t kExponentBits = 0x7f800000u;  // all ones: NaN or Inf

bool NonFinite(const char* p) {
  uint32_t bits;
  std::memcpy(&bits, p, sizeof(bits));  // any alignment
  return (bits & kExponentBits) == kExponentBits;
}

// Fixed trip count, counted rather than or-ed: the form GCC's -O2
// vectoriser accepts (see apply_loop.h).
constexpr int64_t kScanBlock = 64;
int CountNonFiniteBlock(const char* p) {
  int found = 0;
  for (int64_t i = 0; i < kScanBlock; ++i) found += NonFinite(p + 4 * i);
  return found;
}

// Index of the first NaN or Inf among the n floats at p (any alignment),
// or -1.
int64_t FirstNonFiniteIn(const char* p, int64_t n) {
  int64_t i = 0;
  while (i + kScanBlock <= n && CountNonFiniteBlock(p + 4 * i) == 0) {
    i += kScanBlock;
  }
  for (; i < n; ++i) {
    if (NonFinite(p + 4 * i)) return i;
  }
  return -1;
}

bool Aligned(const char* p) {
  return reinterpret_cast<uintptr_t>(p) % alignof(float) == 0;
}

}  // namespace

ValuePieces::ValuePieces(std::vector<absl::string_view> pieces)
    : pieces_(std::move(pieces)) {
  starts_.reserve(pieces_.size());
  for (absl::string_view piece : pieces_) {
    starts_.push_back(bytes_);
    bytes_ += static_cast<int64_t>(piece.size());
  }
}

size_t ValuePieces::PieceAt(int64_t pos) const {
  // The last piece starting at or before pos; empty pieces share a start
  // with their successor, so upper_bound skips them.
  auto it = std::upper_bound(starts_.begin(), starts_.end(), pos);
  return static_cast<size_t>(it - starts_.begin()) - 1;
}

int64_t ValuePieces::FirstNonFinite() const {
  // In place, piece by piece, in order: the floats that start in a piece
  // and end in it are scanned where they lie; one that starts in it and
  // ends in a later piece is assembled by At().
  for (size_t k = 0; k < pieces_.size(); ++k) {
    const int64_t start = starts_[k];
    const int64_t end = start + static_cast<int64_t>(pieces_[k].size());
    const int64_t first = (start + 3) / 4;  // first float starting here
    const int64_t whole_end = end / 4;      // floats [first, whole_end) fit
    if (first < whole_end) {
      const int64_t i = FirstNonFiniteIn(
          pieces_[k].data() + (first * 4 - start), whole_end - first);
      if (i >= 0) return first + i;
    }
    if (end % 4 != 0 && whole_end >= first && whole_end < floats() &&
        !std::isfinite(At(whole_end))) {
      return whole_end;
    }
  }
  return -1;
}

float ValuePieces::At(int64_t index) const {
  float out = 0;
  ForEachRun(index, 1, [&out](int64_t, const float* v, int64_t) { out = *v; });
  return out;
}

void ValuePieces::ForEachRun(int64_t first, int64_t count, RunFn fn) const {
  if (count <= 0) return;
  alignas(64) float copy[kCopyFloats];
  char* const copy_bytes = reinterpret_cast<char*>(copy);
  int64_t copied = 0;       // bytes in `copy`
  int64_t copy_at = 0;      // run index (relative to first) of copy[0]
  int64_t pos = first * 4;  // next byte to hand out
  const int64_t end = (first + count) * 4;
  size_t k = PieceAt(pos);
  auto flush = [&] {
    fn(copy_at, copy, copied / 4);
    copied = 0;
  };
  while (pos < end) {
    while (pos >= starts_[k] + static_cast<int64_t>(pieces_[k].size())) ++k;
    const char* p = pieces_[k].data() + (pos - starts_[k]);
    const int64_t in_piece =
        std::min(starts_[k] + static_cast<int64_t>(pieces_[k].size()), end) -
        pos;
    const bool direct = in_piece >= 4 && Aligned(p);
    if (direct && copied % 4 == 0) {
      // Whole aligned floats in place. The copy so far ends on a float:
      // hand it out first, keeping the runs in order.
      if (copied > 0) flush();
      const int64_t n = in_piece / 4;
      fn(pos / 4 - first, reinterpret_cast<const float*>(p), n);
      pos += n * 4;
      continue;
    }
    // A float split across pieces (copy just its bytes, then look again: the
    // rest of this piece may be aligned), or a misaligned piece (copy as
    // much as fits).
    if (copied == 0) copy_at = pos / 4 - first;
    const int64_t n = copied % 4 != 0
                          ? std::min(in_piece, 4 - copied % 4)
                          : std::min(in_piece, kCopyFloats * 4 - copied);
    std::memcpy(copy_bytes + copied, p, n);
    copied += n;
    pos += n;
    if (copied == kCopyFloats * 4) flush();
  }
  if (copied > 0) flush();
}

}  // namespace ps::server
