#include "worker/data/flights_data.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ps::worker {
namespace {

// Records decoded per read; bounds the staging buffer at 1 MiB.
constexpr int64_t kRecordsPerRead = 1 << 16;

uint32_t LoadU32(const uint8_t* p) {
  return uint32_t{p[0]} | uint32_t{p[1]} << 8 | uint32_t{p[2]} << 16 |
         uint32_t{p[3]} << 24;
}

uint16_t LoadU16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | p[1] << 8);
}

uint64_t LoadU64(const uint8_t* p) {
  return uint64_t{LoadU32(p)} | uint64_t{LoadU32(p + 4)} << 32;
}

// Owns a file descriptor; closes it on every return path.
class Fd {
 public:
  explicit Fd(int fd) : fd_(fd) {}
  Fd(const Fd&) = delete;
  Fd& operator=(const Fd&) = delete;
  ~Fd() {
    if (fd_ >= 0) close(fd_);
  }
  int get() const { return fd_; }

 private:
  int fd_;
};

// Reads exactly `n` bytes at `offset`, retrying short reads; a file that
// ends first is DataLoss, as it shrank after its size was checked.
absl::Status ReadAt(const Fd& fd, const std::string& path, int64_t offset,
                    int64_t n, uint8_t* out) {
  while (n > 0) {
    const ssize_t got = pread(fd.get(), out, n, offset);
    if (got < 0) {
      if (errno == EINTR) continue;
      return absl::ErrnoToStatus(
          errno, absl::StrFormat("%s: read at byte %d failed", path, offset));
    }
    if (got == 0) {
      return absl::DataLossError(absl::StrFormat(
          "%s: file ends at byte %d, %d more bytes expected", path, offset, n));
    }
    out += got;
    offset += got;
    n -= got;
  }
  return absl::OkStatus();
}

// Checks the header against the file size and returns the row count.
absl::StatusOr<int64_t> ReadHeader(const Fd& fd, const std::string& path,
                                   int64_t file_size) {
  if (file_size < kPsfHeaderBytes) {
    return absl::DataLossError(absl::StrFormat(
        "%s: file is %d bytes, shorter than the %d-byte PSF1 header", path,
        file_size, kPsfHeaderBytes));
  }
  uint8_t header[kPsfHeaderBytes];
  if (absl::Status s = ReadAt(fd, path, 0, kPsfHeaderBytes, header); !s.ok()) {
    return s;
  }
  if (std::memcmp(header, kPsfMagic, sizeof(kPsfMagic)) != 0) {
    return absl::DataLossError(absl::StrFormat(
        "%s: bad magic \"%s\", expected \"PSF1\"", path,
        absl::CHexEscape(absl::string_view(
            reinterpret_cast<const char*>(header), sizeof(kPsfMagic)))));
  }
  const uint32_t record_size = LoadU32(header + 4);
  if (record_size != kPsfRecordBytes) {
    return absl::DataLossError(absl::StrFormat(
        "%s: record size %d, expected %d", path, record_size, kPsfRecordBytes));
  }
  // Compared by division first: rows * 16 overflows for absurd headers.
  const uint64_t rows = LoadU64(header + 8);
  const uint64_t body = static_cast<uint64_t>(file_size - kPsfHeaderBytes);
  if (rows > body / kPsfRecordBytes) {
    return absl::DataLossError(absl::StrFormat(
        "%s: truncated: header says %d rows, but the %d bytes after the "
        "header hold only %d whole %d-byte records",
        path, rows, body, body / kPsfRecordBytes, kPsfRecordBytes));
  }
  if (body != rows * kPsfRecordBytes) {
    return absl::DataLossError(absl::StrFormat(
        "%s: %d trailing bytes after the %d rows the header announces, "
        "expected the file to end at byte %d",
        path, body - rows * kPsfRecordBytes, rows,
        kPsfHeaderBytes + rows * kPsfRecordBytes));
  }
  return static_cast<int64_t>(rows);
}

void Decode(const uint8_t* p, int64_t n, FlightRows& out) {
  for (int64_t i = 0; i < n; ++i, p += kPsfRecordBytes) {
    out.minute.push_back(static_cast<int32_t>(LoadU32(p)));
    out.delay.push_back(static_cast<int16_t>(LoadU16(p + 4)));
    out.distance.push_back(LoadU16(p + 6));
    out.origin.push_back(LoadU32(p + 8));
    out.destination.push_back(LoadU32(p + 12));
  }
}

void Reserve(int64_t n, FlightRows& out) {
  out.minute.reserve(n);
  out.delay.reserve(n);
  out.distance.reserve(n);
  out.origin.reserve(n);
  out.destination.reserve(n);
}

}  // namespace

uint32_t PackAirportCode(absl::string_view code) {
  uint32_t packed = 0;
  for (size_t i = 0; i < std::min<size_t>(code.size(), 4); ++i) {
    packed |= uint32_t{static_cast<uint8_t>(code[i])} << (8 * i);
  }
  return packed;
}

std::string AirportCode(uint32_t packed) {
  std::string code;
  for (; packed != 0 && code.size() < 4; packed >>= 8) {
    if ((packed & 0xff) == 0) break;
    code.push_back(static_cast<char>(packed & 0xff));
  }
  return code;
}

absl::StatusOr<FlightRows> LoadFlights(const std::string& path, int shard_index,
                                       int num_shards) {
  if (num_shards < 1 || shard_index < 0 || shard_index >= num_shards) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "shard_index %d of num_shards %d, expected num_shards >= 1 and "
        "0 <= shard_index < num_shards",
        shard_index, num_shards));
  }
  Fd fd(open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    if (errno == ENOENT) {
      return absl::NotFoundError(
          absl::StrCat("flights file not found: ", path,
                       " (create it with deploy/flights/setup.sh)"));
    }
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return absl::ErrnoToStatus(errno, absl::StrCat("cannot stat ", path));
  }
  absl::StatusOr<int64_t> rows = ReadHeader(fd, path, st.st_size);
  if (!rows.ok()) return rows.status();

  FlightRows out;
  out.split_count = *rows;
  // 128-bit products: N * k cannot overflow for any N a header can claim.
  out.first_row =
      static_cast<int64_t>(__int128{*rows} * shard_index / num_shards);
  const int64_t end =
      static_cast<int64_t>(__int128{*rows} * (shard_index + 1) / num_shards);
  out.count = end - out.first_row;
  Reserve(out.count, out);
  std::vector<uint8_t> buffer(std::min(out.count, kRecordsPerRead) *
                              kPsfRecordBytes);
  for (int64_t row = out.first_row; row < end; row += kRecordsPerRead) {
    const int64_t n = std::min(kRecordsPerRead, end - row);
    if (absl::Status s =
            ReadAt(fd, path, kPsfHeaderBytes + row * kPsfRecordBytes,
                   n * kPsfRecordBytes, buffer.data());
        !s.ok()) {
      return s;
    }
    Decode(buffer.data(), n, out);
  }
  return out;
}

}  // namespace ps::worker
