#include "server/snapshot_codec.h"

#include <libdeflate.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
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
        absl::StrCat("snapshot at byte ", base_ + at_, ": ", message));
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

void SnapshotFileReader::Fail(absl::string_view message) {
  if (status_.ok()) {
    status_ = absl::InvalidArgumentError(
        absl::StrCat("snapshot at byte ", at_, ": ", message));
  }
}

SnapshotFileReader::SnapshotFileReader(int fd, uint64_t limit,
                                       std::string file)
    : fd_(fd),
      limit_(limit),
      file_(std::move(file)),
      capacity_(static_cast<size_t>(std::min(limit, kBufferBytes))),
      buffer_(new char[capacity_]) {}

bool SnapshotFileReader::ReadAt(char* out, size_t n, uint64_t at) {
  for (size_t done = 0; done < n;) {
    const ssize_t got =
        pread(fd_, out + done, n - done, static_cast<off_t>(at + done));
    if (got < 0 && errno == EINTR) continue;
    if (got <= 0) {
      status_ = got < 0
                    ? absl::ErrnoToStatus(errno, absl::StrCat("read ", file_))
                    : absl::DataLossError(absl::StrCat(
                          "read ", file_, ": ended at byte ", at + done,
                          " (the file changed while it was read)"));
      return false;
    }
    done += static_cast<size_t>(got);
  }
  return true;
}

bool SnapshotFileReader::Fill() {
  buffer_at_ = buffer_end_ = 0;
  const size_t want =
      static_cast<size_t>(std::min<uint64_t>(capacity_, limit_ - at_));
  if (!ReadAt(buffer_.get(), want, at_)) return false;
  buffer_end_ = want;
  return true;
}

bool SnapshotFileReader::ChecksumRest() {
  while (at_ < limit_) {
    if (buffer_at_ == buffer_end_ && !Fill()) return false;
    const size_t piece = buffer_end_ - buffer_at_;
    crc_ = libdeflate_crc32(crc_, buffer_.get() + buffer_at_, piece);
    buffer_at_ = buffer_end_;
    at_ += piece;
  }
  return true;
}

bool SnapshotFileReader::ReadAfterLimit(void* out, size_t n) {
  return ReadAt(static_cast<char*>(out), n, limit_);
}

bool SnapshotFileReader::Read(absl::string_view what, void* out, uint64_t n) {
  if (ok() && n > left()) {
    Fail(absl::StrCat("truncated: ", what, " needs ", n, " bytes; ", left(),
                      " left"));
  }
  char* to = static_cast<char*>(out);
  while (ok() && n > 0) {
    if (buffer_at_ == buffer_end_ && !Fill()) break;
    const size_t piece = static_cast<size_t>(
        std::min<uint64_t>(n, buffer_end_ - buffer_at_));
    const char* from = buffer_.get() + buffer_at_;
    crc_ = libdeflate_crc32(crc_, from, piece);
    if (to != nullptr) {  // nullptr: Skip
      std::memcpy(to, from, piece);
      to += piece;
    }
    buffer_at_ += piece;
    at_ += piece;
    n -= piece;
  }
  if (n > 0 && to != nullptr) std::memset(to, 0, n);
  return ok();
}

bool SnapshotFileReader::String(absl::string_view what, std::string* v) {
  uint32_t size = 0;
  if (!U32(what, &size)) {
    v->clear();
    return false;
  }
  if (size > left()) {
    Fail(absl::StrCat("truncated: ", what, " needs ", size, " bytes; ", left(),
                      " left"));
    v->clear();
    return false;
  }
  v->resize(size);
  return Read(what, v->data(), size);
}

bool SnapshotFileReader::Expect(absl::string_view what, uint32_t expected) {
  const uint64_t at = at_;
  uint32_t v = 0;
  if (!U32(what, &v)) return false;
  if (v != expected) {
    if (status_.ok()) {
      status_ = absl::InvalidArgumentError(
          absl::StrCat("snapshot at byte ", at, ": ", what, ": found 0x",
                       absl::Hex(v), ", expected 0x", absl::Hex(expected)));
    }
    return false;
  }
  return true;
}

}  // namespace ps::server
