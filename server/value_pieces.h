// The float32 little-endian values of a push, left in the byte pieces they
// arrived in (gRPC hands over a received message as a list of slices), so
// the server reads them in place instead of first joining them into one
// buffer.
//
// Pieces may have any length and any alignment: a float may straddle two or
// more pieces, and a piece may start at an address that is not 4-aligned.
// ForEachRun hides that, handing out aligned runs of whole floats that point
// into the pieces wherever they can and into a small copy only where they
// cannot.
//
// Non-owning: the pieces' bytes must outlive the ValuePieces. Immutable after
// construction, so thread-safe to read.
#ifndef PS_SERVER_VALUE_PIECES_H_
#define PS_SERVER_VALUE_PIECES_H_

#include <cstdint>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/strings/string_view.h"

namespace ps::server {

class ValuePieces {
 public:
  // Floats one run holds at most when it has to be copied: small enough to
  // stay in L1 between the copy and its use, a multiple of the update
  // rules' vectorised block (apply_loop.h) so copied runs apply at full
  // speed.
  static constexpr int64_t kCopyFloats = 4096;

  ValuePieces() = default;
  // The values are the concatenation of `pieces` (empty pieces allowed).
  explicit ValuePieces(std::vector<absl::string_view> pieces);

  int64_t bytes() const { return bytes_; }
  // Whole floats held: bytes() / 4.
  int64_t floats() const { return bytes_ / 4; }

  // Index of the first float that is NaN or +-Inf, or -1 when all are
  // finite. Reads every byte once, in place.
  int64_t FirstNonFinite() const;

  // Float `index`, which must be < floats().
  float At(int64_t index) const;

  // Calls fn(at, values, n) for consecutive runs that together cover floats
  // [first, first + count) in order: `values` holds floats [first + at,
  // first + at + n), 4-aligned, valid only during the call. Requires
  // first >= 0, count >= 0, first + count <= floats().
  using RunFn =
      absl::FunctionRef<void(int64_t at, const float* values, int64_t n)>;
  void ForEachRun(int64_t first, int64_t count, RunFn fn) const;

 private:
  // Index of the piece holding byte `pos` (< bytes_), skipping empty ones.
  size_t PieceAt(int64_t pos) const;

  std::vector<absl::string_view> pieces_;
  std::vector<int64_t> starts_;  // byte offset of each piece in the values
  int64_t bytes_ = 0;
};

}  // namespace ps::server

#endif  // PS_SERVER_VALUE_PIECES_H_
