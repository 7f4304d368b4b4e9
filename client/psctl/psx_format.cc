#include "client/psctl/psx_format.h"

#include <cstring>
#include <limits>

#include "absl/strings/str_cat.h"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "PSX files are little-endian and copied as they are");

namespace ps::client {
namespace {

constexpr absl::string_view kMagic1 = "PSX1";
constexpr absl::string_view kMagic2 = "PSX2";
// The fewest bytes a table can take: name length, kind, dimension count
// and value count (PSX1 has no kind).
constexpr uint64_t kMinTableBytes2 = 4 + 4 + 4 + 8;
constexpr uint64_t kMinTableBytes1 = 4 + 4 + 8;

template <typename T>
void Put(std::string* out, T v) {
  out->append(reinterpret_cast<const char*>(&v), sizeof(v));
}

template <typename T>
void PutArray(std::string* out, const std::vector<T>& v) {
  out->append(reinterpret_cast<const char*>(v.data()), v.size() * sizeof(T));
}

// Reads fixed-size fields off the front of a byte string. Every read checks
// the bytes left first; nothing is resized before that.
class Cursor {
 public:
  explicit Cursor(absl::string_view bytes) : rest_(bytes) {}
  uint64_t left() const { return rest_.size(); }

  template <typename T>
  bool Get(T* v) {
    if (rest_.size() < sizeof(T)) return false;
    std::memcpy(v, rest_.data(), sizeof(T));
    rest_.remove_prefix(sizeof(T));
    return true;
  }

  // `n` elements into *out, when n * sizeof(T) bytes are left.
  template <typename T>
  bool GetArray(uint64_t n, std::vector<T>* out) {
    if (n > rest_.size() / sizeof(T)) return false;
    out->resize(n);
    // memcpy from or to an empty vector's null data() is undefined.
    if (n > 0) std::memcpy(out->data(), rest_.data(), n * sizeof(T));
    rest_.remove_prefix(n * sizeof(T));
    return true;
  }

  bool GetString(uint64_t n, std::string* out) {
    if (n > rest_.size()) return false;
    out->assign(rest_.data(), n);
    rest_.remove_prefix(n);
    return true;
  }

 private:
  absl::string_view rest_;
};

class PsxParser {
 public:
  PsxParser(absl::string_view bytes, absl::string_view source)
      : in_(bytes), source_(source) {}

  absl::StatusOr<std::vector<ExportedTable>> Parse();

 private:
  absl::Status ParseTable(ExportedTable* t);
  absl::Status ParseShape(ExportedTable* t);
  absl::Status ParseDense(ExportedTable* t);
  absl::Status ParseSparse(ExportedTable* t);

  absl::Status Corrupt(absl::string_view what) const {
    return absl::DataLossError(absl::StrCat(source_, ": ", what));
  }
  // What is wrong with table number `index_` (by name once it is known).
  absl::Status Bad(const ExportedTable& t, absl::string_view what) const {
    if (t.name.empty()) {
      return Corrupt(absl::StrCat("table #", index_, ": ", what));
    }
    return Corrupt(absl::StrCat("table ", t.name, ": ", what));
  }
  std::string Left() const { return absl::StrCat(in_.left(), " are left"); }

  Cursor in_;
  std::string source_;
  bool v2_ = true;
  int index_ = 0;  // of the table being parsed
};

absl::StatusOr<std::vector<ExportedTable>> PsxParser::Parse() {
  std::string magic;
  uint32_t count = 0;
  if (!in_.GetString(4, &magic) || !in_.Get(&count)) {
    return Corrupt("not a PSX export (shorter than its 8-byte header)");
  }
  if (magic != kMagic1 && magic != kMagic2) {
    return Corrupt("not a PSX1 or PSX2 export (bad magic)");
  }
  v2_ = magic == kMagic2;
  const uint64_t min_bytes = v2_ ? kMinTableBytes2 : kMinTableBytes1;
  if (count > in_.left() / min_bytes) {
    return Corrupt(absl::StrCat("declares ", count, " tables of at least ",
                                min_bytes, " bytes each but only ", in_.left(),
                                " bytes follow"));
  }
  std::vector<ExportedTable> tables;
  for (index_ = 0; index_ < static_cast<int>(count); ++index_) {
    ExportedTable t;
    absl::Status s = ParseTable(&t);
    if (!s.ok()) return s;
    tables.push_back(std::move(t));
  }
  if (in_.left() != 0) {
    return Corrupt(absl::StrCat(in_.left(), " bytes after the last of ", count,
                                " tables"));
  }
  return tables;
}

absl::Status PsxParser::ParseTable(ExportedTable* t) {
  uint32_t len = 0, kind = 0;
  if (!in_.Get(&len)) return Bad(*t, "truncated before its name length");
  if (len == 0 || len > kMaxTableNameBytes) {
    return Bad(*t, absl::StrCat("name length ", len, "; allowed: 1 to ",
                                kMaxTableNameBytes));
  }
  if (!in_.GetString(len, &t->name)) {
    return Bad(*t, absl::StrCat("a name of ", len, " bytes but only ", Left()));
  }
  if (v2_ && !in_.Get(&kind)) return Bad(*t, "truncated before its kind");
  if (kind > 1) {
    return Bad(*t, absl::StrCat("kind ", kind,
                                "; allowed: 0 (dense), "
                                "1 (sparse)"));
  }
  absl::Status s = ParseShape(t);
  if (s.ok()) s = kind == 1 ? ParseSparse(t) : ParseDense(t);
  if (s.ok()) s = CheckTable(*t);
  if (!s.ok() && s.code() == absl::StatusCode::kInvalidArgument) {
    return Corrupt(s.message());  // CheckTable names the table
  }
  return s;
}

absl::Status PsxParser::ParseShape(ExportedTable* t) {
  uint32_t dims = 0;
  if (!in_.Get(&dims)) return Bad(*t, "truncated before its dimension count");
  if (dims > kMaxTableDims) {
    return Bad(*t, absl::StrCat(dims, " dimensions; at most ", kMaxTableDims,
                                " allowed"));
  }
  if (!in_.GetArray(dims, &t->shape)) {
    return Bad(*t, absl::StrCat(dims, " dimensions (", dims * 8,
                                " bytes) but only ", Left()));
  }
  if (ShapeProduct(t->shape) < 0) {
    return Bad(*t,
               "a negative dimension, or dimensions whose product "
               "overflows a 64-bit integer");
  }
  return absl::OkStatus();
}

absl::Status PsxParser::ParseDense(ExportedTable* t) {
  int64_t n = 0;
  if (!in_.Get(&n)) return Bad(*t, "truncated before its value count");
  if (n < 0 || n > kMaxTableValues) {
    return Bad(*t, absl::StrCat("value count ", n, "; allowed: 0 to ",
                                kMaxTableValues));
  }
  if (!in_.GetArray(n, &t->values)) {
    return Bad(*t, absl::StrCat("declares ", n, " values (", n * 4,
                                " bytes) but only ", Left()));
  }
  return absl::OkStatus();
}

absl::Status PsxParser::ParseSparse(ExportedTable* t) {
  int32_t dim = 0;
  int64_t rows = 0;
  if (!in_.Get(&dim) || !in_.Get(&rows)) {
    return Bad(*t, "truncated in its sparse header");
  }
  if (dim < 1 || dim > kMaxSparseDim) {
    return Bad(
        *t, absl::StrCat("row width ", dim, "; allowed: 1 to ", kMaxSparseDim));
  }
  if (rows < 0 || rows > kMaxTableValues / dim) {
    return Bad(*t, absl::StrCat("row count ", rows, "; allowed: 0 to ",
                                kMaxTableValues / dim, " rows of ", dim));
  }
  const uint64_t row_bytes = 8 + 4 * static_cast<uint64_t>(dim);
  if (static_cast<uint64_t>(rows) > in_.left() / row_bytes) {
    return Bad(*t, absl::StrCat("declares ", rows, " rows of ", row_bytes,
                                " bytes but only ", Left()));
  }
  t->sparse = true;
  t->dim = dim;
  // Both fit: checked against the bytes left above.
  in_.GetArray(rows, &t->keys);
  in_.GetArray(rows * dim, &t->values);
  return absl::OkStatus();
}

}  // namespace

absl::StatusOr<std::string> EncodePsx(
    const std::vector<ExportedTable>& tables) {
  if (tables.size() > std::numeric_limits<uint32_t>::max()) {
    return absl::InvalidArgumentError(
        absl::StrCat(tables.size(), " tables; PSX holds at most 2^32 - 1"));
  }
  std::string out(kMagic2);
  Put<uint32_t>(&out, tables.size());
  for (const ExportedTable& t : tables) {
    absl::Status s = CheckTable(t);
    if (!s.ok()) return s;
    Put<uint32_t>(&out, t.name.size());
    out += t.name;
    Put<uint32_t>(&out, t.sparse ? 1 : 0);
    Put<uint32_t>(&out, t.shape.size());
    PutArray(&out, t.shape);
    if (t.sparse) {
      Put<int32_t>(&out, t.dim);
      Put<int64_t>(&out, t.keys.size());
      PutArray(&out, t.keys);
    } else {
      Put<int64_t>(&out, t.values.size());
    }
    PutArray(&out, t.values);
  }
  return out;
}

absl::StatusOr<std::vector<ExportedTable>> ParsePsx(absl::string_view bytes,
                                                    absl::string_view source) {
  return PsxParser(bytes, source).Parse();
}

}  // namespace ps::client
