#include "fuzz/request_pieces.h"

#include <algorithm>
#include <cstring>

namespace ps::fuzz {

std::optional<RequestPieces> RequestPieces::Split(const uint8_t* data,
                                                  size_t size) {
  if (size < 2) return std::nullopt;
  const int cuts = data[1] & 7;
  const bool misaligned = (data[1] & 8) != 0;
  const size_t header = 2 + 2 * static_cast<size_t>(cuts);
  if (size < header) return std::nullopt;
  RequestPieces out;
  out.setup_ = data[0];
  out.message_.assign(reinterpret_cast<const char*>(data) + header,
                      size - header);
  std::vector<size_t> at;
  for (int i = 0; i < cuts; ++i) {
    const size_t v = data[2 + 2 * i] | (size_t{data[3 + 2 * i]} << 8);
    at.push_back(v % (out.message_.size() + 1));
  }
  std::sort(at.begin(), at.end());
  at.push_back(out.message_.size());
  size_t from = 0;
  for (size_t to : at) {
    const size_t n = to - from;
    const size_t front = misaligned ? 1 : 0;
    auto block = std::make_unique<char[]>(n + front);
    std::memcpy(block.get() + front, out.message_.data() + from, n);
    out.pieces_.emplace_back(block.get() + front, n);
    out.blocks_.push_back(std::move(block));
    from = to;
  }
  return out;
}

bool RequestPieces::InsideAPiece(absl::string_view view) const {
  for (absl::string_view piece : pieces_) {
    if (view.data() >= piece.data() &&
        view.data() + view.size() <= piece.data() + piece.size()) {
      return true;
    }
  }
  return false;
}

std::string EncodeRequestInput(uint8_t setup, const std::vector<uint16_t>& cuts,
                               bool misaligned, const std::string& message) {
  std::string out;
  out.push_back(static_cast<char>(setup));
  out.push_back(static_cast<char>(cuts.size() | (misaligned ? 8 : 0)));
  for (uint16_t cut : cuts) {
    out.push_back(static_cast<char>(cut & 0xff));
    out.push_back(static_cast<char>(cut >> 8));
  }
  return out + message;
}

}  // namespace ps::fuzz
