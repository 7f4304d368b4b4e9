// Fixed-width little-endian encoding for snapshots (server/group_snapshot.h):
// a writer that appends to a string, and a reader over untrusted bytes that
// never reads past its end. Floats travel as their bit patterns, so NaN
// payloads and the sign of zero survive a round trip.
//
// The reader's errors are sticky: after the first short read every read
// fails and yields zeros, and status() names what was being read, where,
// and how many bytes it needed. Callers read a whole record, then check
// ok() once. SnapshotFileReader reads the same way from a file, front to
// back, taking the file's CRC-32 as it goes. No class is thread-safe.
#ifndef PS_SERVER_SNAPSHOT_CODEC_H_
#define PS_SERVER_SNAPSHOT_CODEC_H_

#include <cstdint>
#include <memory>
#include <string>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"

namespace ps::server {

class SnapshotWriter {
 public:
  // Appends to *out, which must outlive the writer.
  explicit SnapshotWriter(std::string* out) : out_(out) {}

  void U8(uint8_t v) { Raw(&v, 1); }
  void U32(uint32_t v) { Raw(&v, 4); }
  void U64(uint64_t v) { Raw(&v, 8); }
  void I32(int32_t v) { Raw(&v, 4); }
  void I64(int64_t v) { Raw(&v, 8); }
  void F32(float v) { Raw(&v, 4); }
  // A u32 length, then the bytes.
  void String(absl::string_view s);
  // n bytes copied as they are (floats and keys already in memory).
  void Raw(const void* data, size_t n);
  // Appends n bytes and returns where they start, for the caller to fill
  // (unaligned; valid until the next append).
  char* Extend(size_t n);
  // Overwrites 8 bytes at `at` with v (a length known only at the end).
  void PatchU64(size_t at, uint64_t v);

  size_t size() const { return out_->size(); }

 private:
  std::string* const out_;
};

class SnapshotReader {
 public:
  // `bytes` must outlive the reader and every pointer it hands out. They
  // start at byte `base` of the snapshot: positions in errors count from
  // the snapshot's first byte.
  explicit SnapshotReader(absl::string_view bytes, size_t base = 0)
      : bytes_(bytes), base_(base) {}

  // Each reads one value into *v, or fails (see above) naming `what`.
  bool U8(absl::string_view what, uint8_t* v) { return Fixed(what, v, 1); }
  bool U32(absl::string_view what, uint32_t* v) { return Fixed(what, v, 4); }
  bool U64(absl::string_view what, uint64_t* v) { return Fixed(what, v, 8); }
  bool I32(absl::string_view what, int32_t* v) { return Fixed(what, v, 4); }
  bool I64(absl::string_view what, int64_t* v) { return Fixed(what, v, 8); }
  bool F32(absl::string_view what, float* v) { return Fixed(what, v, 4); }
  bool String(absl::string_view what, std::string* v);
  // `count` items of `item_bytes` each, left in place: returns where they
  // start (unaligned), or nullptr on failure. Checks count * item_bytes
  // against what is left without overflowing.
  const char* Span(absl::string_view what, uint64_t count, size_t item_bytes);
  // Fails naming `what` unless the value read is `expected` (a section tag).
  bool Expect(absl::string_view what, uint32_t expected);
  // Records a failure found by the caller (an invalid value at the current
  // position). Keeps the first failure.
  void Fail(absl::string_view message);

  bool ok() const { return status_.ok(); }
  // INVALID_ARGUMENT naming the first failure, or OK.
  const absl::Status& status() const { return status_; }
  size_t position() const { return at_; }
  size_t left() const { return bytes_.size() - at_; }

 private:
  bool Fixed(absl::string_view what, void* v, size_t n);
  bool Need(absl::string_view what, uint64_t count, size_t item_bytes);

  const absl::string_view bytes_;
  const size_t base_;
  size_t at_ = 0;
  absl::Status status_;
};

// A snapshot read straight from its file, so that the large parts (a dense
// range's floats) land where they belong without passing through a buffer
// of the whole file. Errors are sticky as SnapshotReader's, with the same
// INVALID_ARGUMENT messages; besides, an I/O error (absl::ErrnoToStatus)
// or a file that ends early (DATA_LOSS: it changed while it was read)
// names the file.
class SnapshotFileReader {
 public:
  // `fd` is open for reading, stays open while the reader is used, and
  // its file's size was checked by the caller; the reader reads its first
  // `limit` bytes (and, with ReadAfterLimit, a few more). `file` names it
  // in errors.
  SnapshotFileReader(int fd, uint64_t limit, std::string file);

  bool U8(absl::string_view what, uint8_t* v) { return Read(what, v, 1); }
  bool U32(absl::string_view what, uint32_t* v) { return Read(what, v, 4); }
  bool U64(absl::string_view what, uint64_t* v) { return Read(what, v, 8); }
  bool I32(absl::string_view what, int32_t* v) { return Read(what, v, 4); }
  bool I64(absl::string_view what, int64_t* v) { return Read(what, v, 8); }
  bool String(absl::string_view what, std::string* v);
  // The next `n` bytes into `out` (fails, naming `what`, where fewer than n
  // are left before the limit; `out` is then zeroed). The file is read
  // kBufferBytes at a time into one buffer of the reader's, checksummed
  // there, and copied out: the kernel writes only that buffer. (On a VM with
  // shadow page tables, the kernel's first write to each page of a
  // process's memory is slow: read() straight into a new group's 536 MB of
  // values took 1.0-1.2 s against 0.2 s this way.)
  bool Read(absl::string_view what, void* out, uint64_t n);
  // Read, keeping nothing: the next `n` bytes are checksummed and passed.
  bool Skip(absl::string_view what, uint64_t n) {
    return Read(what, nullptr, n);
  }
  bool Expect(absl::string_view what, uint32_t expected);
  void Fail(absl::string_view message);

  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }
  uint64_t position() const { return at_; }
  uint64_t left() const { return limit_ - at_; }
  // zlib's CRC-32 of the bytes read so far.
  uint32_t crc32() const { return crc_; }
  // Reads and checksums whatever is left before the limit, whether or not
  // a parse failed (a failure found by the caller stays the status): the
  // CRC-32 of everything up to the limit, to tell a damaged file from a
  // malformed one. False where an I/O error or an early end of the file
  // stopped it (that is then the status).
  bool ChecksumRest();
  // The `n` bytes right after the limit (a trailer), not checksummed; false
  // as ChecksumRest.
  bool ReadAfterLimit(void* out, size_t n);

 private:
  static constexpr uint64_t kBufferBytes = uint64_t{4} << 20;

  // Reads the next bytes (up to the buffer's size or the limit) into the
  // buffer; false as ReadAt.
  bool Fill();
  // Bytes [at, at + n) of the file into `out`; false with status_ set on an
  // I/O error or an early end (DATA_LOSS: the file changed while it was
  // read).
  bool ReadAt(char* out, size_t n, uint64_t at);

  const int fd_;
  const uint64_t limit_;
  const std::string file_;
  const size_t capacity_;  // min(limit, kBufferBytes)
  const std::unique_ptr<char[]> buffer_;
  size_t buffer_at_ = 0, buffer_end_ = 0;  // unread bytes of buffer_
  uint64_t at_ = 0;  // bytes handed out (and checksummed)
  uint32_t crc_ = 0;
  absl::Status status_;
};

}  // namespace ps::server

#endif  // PS_SERVER_SNAPSHOT_CODEC_H_
