#include "server/snapshot_codec.h"

#include <cstring>

#include "absl/base/config.h"
#include "absl/strings/str_cat.h"

namespace ps::server {

// Values are copied as they sit in memory.
static_assert(ABSL_IS_LITTLE_ENDIAN,
              "snapshots are little-endian and copied as they are");

void SnapshotWriter::String(absl::string_view s) {
  U32(static_cast<uint32_t>(s.size()));
  Raw(s.data(), s.size());
}

void SnapshotWriter::Raw(const void* data, size_t n) {
  if (n != 0) out_->append(static_cast<const char*>(data), n);
}

char* SnapshotWriter::Extend(size_t n) {
  const size_t at = out_->size();
  out_->resize(at + n);
  return out_->data() + at;
}

void SnapshotWriter::PatchU64(size_t at, uint64_t v) {
  std::memcpy(&(*out_)[at], &v, sizeof(v));
}

void SnapshotReader::Fail(absl::string_view message) {
  if (status_.ok()) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("snapshot at byte ", at_, ": ", message));
  }
}

bool SnapshotReader::Need(absl::string_view what, uint64_t count,
                          size_t item_bytes) {
  if (!ok()) return false;
  if (item_bytes != 0 && count > left() / item_bytes) {
    Fail(absl::StrCat("truncated: ", what, " needs ", count, " x ", item_bytes,
                      " bytes; ", left(), " left"));
    return false;
  }
  return true;
}

bool SnapshotReader::Fixed(absl::string_view what, void* v, size_t n) {
  if (!Need(what, 1, n)) {
    std::memset(v, 0, n);
    return false;
  }
  std::memcpy(v, bytes_.data() + at_, n);
  at_ += n;
  return true;
}

bool SnapshotReader::String(absl::string_view what, std::string* v) {
  uint32_t size = 0;
  const char* data = U32(what, &size) ? Span(what, size, 1) : nullptr;
  if (data == nullptr) {
    v->clear();
    return false;
  }
  v->assign(data, size);
  return true;
}

const char* SnapshotReader::Span(absl::string_view what, uint64_t count,
                                 size_t item_bytes) {
  if (!Need(what, count, item_bytes)) return nullptr;
  const char* start = bytes_.data() + at_;
  at_ += count * item_bytes;
  return start;
}

bool SnapshotReader::Expect(absl::string_view what, uint32_t expected) {
  uint32_t v = 0;
  if (!U32(what, &v)) return false;
  if (v != expected) {
    at_ -= 4;
    Fail(absl::StrCat(what, ": found 0x", absl::Hex(v), ", expected 0x",
                      absl::Hex(expected)));
    return false;
  }
  return true;
}

}  // namespace ps::server
