#include "worker/data/fashion_mnist.h"

#include <zlib.h>

#include <algorithm>
#include <cerrno>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "absl/functional/function_ref.h"
#include "absl/status/status.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/string_view.h"

namespace ps::worker {
namespace {

constexpr uint32_t kImagesMagic = 2051;
constexpr uint32_t kLabelsMagic = 2049;
constexpr int kNumClasses = 10;
// Caps each image side so rows * cols and offsets stay far from overflow.
constexpr uint32_t kMaxImageSide = 1 << 16;
// Bytes decompressed per gzread; bounds memory use for any header claim.
constexpr size_t kChunkBytes = 1 << 20;

struct GzCloser {
  void operator()(gzFile file) const { gzclose(file); }
};
using GzHandle = std::unique_ptr<gzFile_s, GzCloser>;

// Consumes a chunk of decompressed bytes; may reject them.
using ByteSink = absl::FunctionRef<absl::Status(const uint8_t*, size_t)>;

// Sequential reader over one gzip'd idx file. Every error names the path.
class IdxReader {
 public:
  static absl::StatusOr<IdxReader> Open(const std::string& path) {
    errno = 0;
    GzHandle file(gzopen(path.c_str(), "rb"));
    if (file == nullptr) {
      if (errno == ENOENT) {
        return absl::NotFoundError(absl::StrCat("file not found: ", path));
      }
      return absl::ErrnoToStatus(errno, absl::StrCat("cannot open ", path));
    }
    gzbuffer(file.get(), 256 * 1024);
    return IdxReader(path, std::move(file));
  }

  const std::string& path() const { return path_; }

  // Reads one big-endian header field.
  absl::StatusOr<uint32_t> ReadU32(absl::string_view field) {
    uint8_t b[4];
    absl::Status status = Read(4, field, [&b](const uint8_t* p, size_t) {
      std::copy(p, p + 4, b);
      return absl::OkStatus();
    });
    if (!status.ok()) return status;
    return uint32_t{b[0]} << 24 | uint32_t{b[1]} << 16 | uint32_t{b[2]} << 8 |
           uint32_t{b[3]};
  }

  // Feeds exactly `n` further bytes to `sink`, in chunks of at most
  // kChunkBytes. `what` names the data for the truncation message.
  absl::Status Read(uint64_t n, absl::string_view what, ByteSink sink) {
    if (buffer_.empty()) buffer_.resize(kChunkBytes);
    while (n > 0) {
      const unsigned want =
          static_cast<unsigned>(std::min<uint64_t>(n, kChunkBytes));
      const int got = gzread(file_.get(), buffer_.data(), want);
      if (got < 0) return GzError();
      offset_ += got;
      if (static_cast<unsigned>(got) < want) {
        return absl::DataLossError(absl::StrFormat(
            "%s: truncated: stream ends at byte %d while reading %s, %d more "
            "bytes expected",
            path_, offset_, what, n - got));
      }
      if (absl::Status s = sink(buffer_.data(), want); !s.ok()) return s;
      n -= want;
    }
    return absl::OkStatus();
  }

  absl::Status Skip(uint64_t n, absl::string_view what) {
    return Read(n, what,
                [](const uint8_t*, size_t) { return absl::OkStatus(); });
  }

  // Fails if anything follows the data the header describes: a count that
  // understates the file is as wrong as one that overstates it.
  absl::Status ExpectEnd() {
    uint8_t byte;
    const int got = gzread(file_.get(), &byte, 1);
    if (got < 0) return GzError();
    if (got > 0) {
      return absl::DataLossError(absl::StrFormat(
          "%s: trailing data after byte %d, expected end of file as the "
          "header implies",
          path_, offset_));
    }
    return absl::OkStatus();
  }

 private:
  IdxReader(std::string path, GzHandle file)
      : path_(std::move(path)), file_(std::move(file)) {}

  absl::Status GzError() {
    int code = Z_OK;
    const char* message = gzerror(file_.get(), &code);
    return absl::DataLossError(
        absl::StrFormat("%s: corrupt gzip stream near byte %d: %s (zlib %d)",
                        path_, offset_, message, code));
  }

  std::string path_;
  GzHandle file_;
  uint64_t offset_ = 0;  // Decompressed bytes consumed so far.
  std::vector<uint8_t> buffer_;
};

// Header fields common to both kinds of idx file; dim is 1 for labels.
struct IdxHeader {
  int64_t count = 0;
  int64_t dim = 0;
};

absl::StatusOr<IdxHeader> ReadHeader(IdxReader& reader, uint32_t magic) {
  absl::StatusOr<uint32_t> found = reader.ReadU32("magic number");
  if (!found.ok()) return found.status();
  if (*found != magic) {
    return absl::DataLossError(absl::StrFormat(
        "%s: bad magic number %d, expected %d (%s idx file)", reader.path(),
        *found, magic, magic == kImagesMagic ? "images" : "labels"));
  }
  absl::StatusOr<uint32_t> count = reader.ReadU32("item count");
  if (!count.ok()) return count.status();
  IdxHeader header{*count, 1};
  if (magic == kLabelsMagic) return header;

  for (absl::string_view side : {"row count", "column count"}) {
    absl::StatusOr<uint32_t> n = reader.ReadU32(side);
    if (!n.ok()) return n.status();
    if (*n < 1 || *n > kMaxImageSide) {
      return absl::DataLossError(
          absl::StrFormat("%s: image %s is %d, expected 1..%d", reader.path(),
                          side, *n, kMaxImageSide));
    }
    header.dim *= *n;
  }
  return header;
}

// Decodes the shard's pixels and checks the rest of the file is complete.
absl::Status ReadImages(IdxReader& reader, const IdxHeader& header,
                        int64_t begin, int64_t end, Examples& out) {
  if (auto s = reader.Skip(begin * header.dim, "pixels"); !s.ok()) return s;
  auto decode = [&out](const uint8_t* p, size_t n) {
    const size_t old_size = out.x.size();
    out.x.resize(old_size + n);  // Amortised growth, tracking real data.
    float* dst = out.x.data() + old_size;
    for (size_t i = 0; i < n; ++i) dst[i] = p[i] / 255.0f;
    return absl::OkStatus();
  };
  if (auto s = reader.Read((end - begin) * header.dim, "pixels", decode);
      !s.ok()) {
    return s;
  }
  if (auto s = reader.Skip((header.count - end) * header.dim, "pixels");
      !s.ok()) {
    return s;
  }
  return reader.ExpectEnd();
}

// Checks every label in the file and keeps those of rows [begin, end).
absl::Status ReadLabels(IdxReader& reader, const IdxHeader& header,
                        int64_t begin, int64_t end, Examples& out) {
  int64_t row = 0;
  auto decode = [&](const uint8_t* p, size_t n) {
    for (size_t i = 0; i < n; ++i, ++row) {
      if (p[i] >= kNumClasses) {
        return absl::DataLossError(
            absl::StrFormat("%s: label %d at row %d, expected 0..%d",
                            reader.path(), p[i], row, kNumClasses - 1));
      }
      if (row >= begin && row < end) out.y.push_back(p[i]);
    }
    return absl::OkStatus();
  };
  if (auto s = reader.Read(header.count, "labels", decode); !s.ok()) return s;
  return reader.ExpectEnd();
}

}  // namespace

absl::StatusOr<Examples> LoadFashionMnist(const std::string& dir, Split split,
                                          int shard_index, int num_shards) {
  if (num_shards < 1 || shard_index < 0 || shard_index >= num_shards) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "shard_index %d of num_shards %d: expected num_shards >= 1 and "
        "0 <= shard_index < num_shards",
        shard_index, num_shards));
  }
  const std::string prefix =
      absl::StrCat(dir, "/", split == Split::kTrain ? "train" : "t10k");
  absl::StatusOr<IdxReader> images =
      IdxReader::Open(prefix + "-images-idx3-ubyte.gz");
  if (!images.ok()) return images.status();
  absl::StatusOr<IdxReader> labels =
      IdxReader::Open(prefix + "-labels-idx1-ubyte.gz");
  if (!labels.ok()) return labels.status();

  // Both headers are checked before any bulk decoding.
  absl::StatusOr<IdxHeader> image_header = ReadHeader(*images, kImagesMagic);
  if (!image_header.ok()) return image_header.status();
  absl::StatusOr<IdxHeader> label_header = ReadHeader(*labels, kLabelsMagic);
  if (!label_header.ok()) return label_header.status();
  if (image_header->count != label_header->count) {
    return absl::DataLossError(absl::StrFormat(
        "%s holds %d images but %s holds %d labels, expected equal counts",
        images->path(), image_header->count, labels->path(),
        label_header->count));
  }

  const int64_t n = image_header->count;
  const int64_t begin = n * shard_index / num_shards;
  const int64_t end = n * (shard_index + 1) / num_shards;
  Examples out;
  out.count = end - begin;
  out.split_count = n;
  out.dim = image_header->dim;
  if (auto s = ReadImages(*images, *image_header, begin, end, out); !s.ok()) {
    return s;
  }
  if (auto s = ReadLabels(*labels, *label_header, begin, end, out); !s.ok()) {
    return s;
  }
  return out;
}

void Standardize(float mean, float std, Examples* examples) {
  const float inv = 1.0f / std;
  for (float& v : examples->x) v = (v - mean) * inv;
}

}  // namespace ps::worker
