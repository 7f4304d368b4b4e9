// The input layout of the push_request and pull_request fuzz targets: a
// serialised request cut into the pieces a server receives it in (gRPC
// hands over a message as a list of slices, cut anywhere), chosen by the
// input itself so that the fuzzer explores the cuts too.
//
//   byte 0     setup: the job the request goes to (fuzz/data_plane_job.h)
//   byte 1     bits 0-2: number of cuts (0..7); bit 3: misaligned pieces
//   2 x cuts   each a uint16 LE; the cut is at it % (message size + 1)
//   the rest   the message
//
// Each piece is copied into a heap block of exactly its size (one byte
// more in front when misaligned, so its bytes start at an odd address), so
// AddressSanitizer sees any read past a piece's end: pieces do not sit
// side by side as they would in one buffer. Cuts may repeat (empty
// pieces). Not thread-safe.
#ifndef PS_FUZZ_REQUEST_PIECES_H_
#define PS_FUZZ_REQUEST_PIECES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/strings/string_view.h"

namespace ps::fuzz {

inline constexpr int kMaxCuts = 7;

class RequestPieces {
 public:
  // Nothing when the input is shorter than its header.
  static std::optional<RequestPieces> Split(const uint8_t* data, size_t size);

  uint8_t setup() const { return setup_; }
  // The whole message, in one buffer.
  const std::string& message() const { return message_; }
  // The message in pieces, each in its own block.
  const std::vector<absl::string_view>& pieces() const { return pieces_; }
  // Whether `view` lies wholly inside one piece.
  bool InsideAPiece(absl::string_view view) const;

 private:
  uint8_t setup_ = 0;
  std::string message_;
  std::vector<std::unique_ptr<char[]>> blocks_;
  std::vector<absl::string_view> pieces_;
};

// An input in the layout above (for the seeds): `setup`, the message cut
// at `cuts` (at most kMaxCuts, each <= message.size()).
std::string EncodeRequestInput(uint8_t setup, const std::vector<uint16_t>& cuts,
                               bool misaligned, const std::string& message);

}  // namespace ps::fuzz

#endif  // PS_FUZZ_REQUEST_PIECES_H_
