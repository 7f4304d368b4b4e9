#include "client/psctl/safetensors.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <numeric>
#include <set>
#include <tuple>
#include <utility>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "client/psctl/file_io.h"
#include "nlohmann/json.hpp"

static_assert(__BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__,
              "safetensors data is little-endian and copied as it is");

namespace ps::client {
namespace {

using Json = nlohmann::json;

constexpr char kMetadataKey[] = "__metadata__";
constexpr std::pair<absl::string_view, int> kDtypes[] = {
    {"BOOL", 1}, {"U8", 1},  {"I8", 1},  {"F8_E5M2", 1}, {"F8_E4M3", 1},
    {"I16", 2},  {"U16", 2}, {"F16", 2}, {"BF16", 2},    {"I32", 4},
    {"U32", 4},  {"F32", 4}, {"I64", 8}, {"U64", 8},     {"F64", 8}};

// A name for messages: quoted, cut to 100 bytes.
std::string Quoted(absl::string_view name) {
  if (name.size() <= 100) return absl::StrCat("\"", name, "\"");
  return absl::StrCat("\"", name.substr(0, 100), "...\"");
}

std::string KnownDtypes() {
  return absl::StrJoin(kDtypes, ", ", [](std::string* out, const auto& d) {
    out->append(d.first.data(), d.first.size());
  });
}

// True when `s` is well-formed UTF-8 (no overlong forms, no surrogates),
// which nlohmann::json needs to write it.
bool IsUtf8(absl::string_view s) {
  size_t i = 0;
  while (i < s.size()) {
    const unsigned char c = s[i];
    int more = 0;
    uint32_t cp = 0, min = 0;
    if (c < 0x80) {
      ++i;
      continue;
    } else if ((c & 0xE0) == 0xC0) {
      more = 1, cp = c & 0x1F, min = 0x80;
    } else if ((c & 0xF0) == 0xE0) {
      more = 2, cp = c & 0x0F, min = 0x800;
    } else if ((c & 0xF8) == 0xF0) {
      more = 3, cp = c & 0x07, min = 0x10000;
    } else {
      return false;
    }
    if (s.size() - i <= static_cast<size_t>(more)) return false;
    for (int k = 1; k <= more; ++k) {
      const unsigned char next = s[i + k];
      if ((next & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (next & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) {
      return false;
    }
    i += more + 1;
  }
  return true;
}

// product(shape) * element size, or false when it overflows a uint64.
bool ByteSize(const std::vector<int64_t>& shape, int element, uint64_t* bytes) {
  uint64_t n = element;
  for (int64_t d : shape) {
    if (d < 0 || __builtin_mul_overflow(n, static_cast<uint64_t>(d), &n)) {
      return false;
    }
  }
  *bytes = n;
  return true;
}

absl::Status CheckTensor(const SafetensorsTensor& t,
                         std::set<absl::string_view>* names) {
  auto bad = [&](absl::string_view what) {
    return absl::InvalidArgumentError(
        absl::StrCat("tensor ", Quoted(t.name), ": ", what));
  };
  if (t.name == kMetadataKey || !IsUtf8(t.name)) {
    return bad("a tensor name must be UTF-8 and not __metadata__");
  }
  if (!names->insert(t.name).second) return bad("named twice");
  const int element = DtypeSize(t.dtype);
  if (element == 0) {
    return bad(absl::StrCat("dtype ", Quoted(t.dtype), " is not one of ",
                            KnownDtypes()));
  }
  uint64_t bytes = 0;
  if (!ByteSize(t.shape, element, &bytes) || bytes != t.data.size()) {
    return bad(absl::StrCat("shape [", absl::StrJoin(t.shape, ", "), "] of ",
                            t.dtype, " does not take the ", t.data.size(),
                            " bytes of data given"));
  }
  return absl::OkStatus();
}

// Indexes of `tensors` by decreasing element size, stable.
std::vector<size_t> DataOrder(const std::vector<SafetensorsTensor>& tensors) {
  std::vector<size_t> order(tensors.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](size_t a, size_t b) {
    return DtypeSize(tensors[a].dtype) > DtypeSize(tensors[b].dtype);
  });
  return order;
}

absl::Status CheckMetadata(const std::map<std::string, std::string>& m) {
  for (const auto& [key, value] : m) {
    if (!IsUtf8(key) || !IsUtf8(value)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "metadata ", Quoted(key), ": keys and values must be UTF-8"));
    }
  }
  return absl::OkStatus();
}

// One header entry, checked, before its data is copied.
struct Entry {
  std::string name;
  std::string dtype;
  std::vector<int64_t> shape;
  uint64_t begin = 0, end = 0;
};

class Parser {
 public:
  Parser(absl::string_view bytes, absl::string_view source)
      : bytes_(bytes), source_(source) {}

  absl::StatusOr<Safetensors> Parse();

 private:
  absl::StatusOr<Json> Header(absl::string_view* data) const;
  absl::Status ReadMetadata(const Json& j,
                            std::map<std::string, std::string>* out) const;
  absl::Status ReadEntry(const std::string& name, const Json& j,
                         Entry* e) const;
  absl::Status ReadShape(const Json& j, Entry* e) const;
  absl::Status ReadOffsets(const Json& j, Entry* e) const;
  absl::Status CheckLayout(std::vector<Entry>* entries, uint64_t size) const;

  absl::Status Invalid(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", what));
  }
  absl::Status Bad(const Entry& e, absl::string_view what) const {
    return Invalid(absl::StrCat("tensor ", Quoted(e.name), ": ", what));
  }

  absl::string_view bytes_;
  std::string source_;
};

absl::StatusOr<Json> Parser::Header(absl::string_view* data) const {
  if (bytes_.size() < 8) {
    return Invalid(absl::StrCat("not safetensors: ", bytes_.size(),
                                " bytes, shorter than the header length"));
  }
  uint64_t n = 0;
  std::memcpy(&n, bytes_.data(), 8);
  if (n > bytes_.size() - 8) {
    return Invalid(absl::StrCat("header length ", n, " but only ",
                                bytes_.size() - 8, " bytes follow"));
  }
  if (n > kMaxSafetensorsHeaderBytes) {
    return Invalid(absl::StrCat("header length ", n, "; at most ",
                                kMaxSafetensorsHeaderBytes, " allowed"));
  }
  const absl::string_view text = bytes_.substr(8, n);
  if (text.empty() || text[0] != '{') {
    return Invalid("the header does not start with '{'");
  }
  Json header = Json::parse(text.begin(), text.end(), nullptr,
                            /*allow_exceptions=*/false);
  if (header.is_discarded() || !header.is_object()) {
    return Invalid("the header is not a well-formed UTF-8 JSON object");
  }
  *data = bytes_.substr(8 + n);
  return header;
}

absl::Status Parser::ReadMetadata(
    const Json& j, std::map<std::string, std::string>* out) const {
  if (!j.is_object()) return Invalid("__metadata__ is not an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (!it.value().is_string()) {
      return Invalid(
          absl::StrCat("__metadata__ ", Quoted(it.key()), " is not a string"));
    }
    (*out)[it.key()] = it.value().get<std::string>();
  }
  return absl::OkStatus();
}

absl::Status Parser::ReadEntry(const std::string& name, const Json& j,
                               Entry* e) const {
  e->name = name;
  if (!j.is_object()) return Bad(*e, "its entry is not an object");
  for (auto it = j.begin(); it != j.end(); ++it) {
    if (it.key() != "dtype" && it.key() != "shape" &&
        it.key() != "data_offsets") {
      return Bad(*e, absl::StrCat("unexpected field ", Quoted(it.key()),
                                  "; expected dtype, shape, data_offsets"));
    }
  }
  const auto dtype = j.find("dtype");
  if (dtype == j.end() || !dtype->is_string()) {
    return Bad(*e, "needs \"dtype\", a string");
  }
  e->dtype = dtype->get<std::string>();
  const int element = DtypeSize(e->dtype);
  if (element == 0) {
    return Bad(*e, absl::StrCat("dtype ", Quoted(e->dtype), " is not one of ",
                                KnownDtypes()));
  }
  absl::Status s = ReadShape(j, e);
  if (s.ok()) s = ReadOffsets(j, e);
  if (!s.ok()) return s;
  uint64_t bytes = 0;
  if (!ByteSize(e->shape, element, &bytes) || bytes != e->end - e->begin) {
    return Bad(*e, absl::StrCat("shape [", absl::StrJoin(e->shape, ", "),
                                "] of ", e->dtype, " does not take the ",
                                e->end - e->begin, " bytes of data_offsets [",
                                e->begin, ", ", e->end, "]"));
  }
  return absl::OkStatus();
}

absl::Status Parser::ReadShape(const Json& j, Entry* e) const {
  const auto shape = j.find("shape");
  if (shape == j.end() || !shape->is_array()) {
    return Bad(*e, "needs \"shape\", an array");
  }
  for (const Json& d : *shape) {
    if (!d.is_number_unsigned() ||
        d.get<uint64_t>() > std::numeric_limits<int64_t>::max()) {
      return Bad(*e, absl::StrCat("shape ", Quoted(shape->dump(-1, ' ', true)),
                                  " is not an array of integers >= 0"));
    }
    e->shape.push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }
  return absl::OkStatus();
}

absl::Status Parser::ReadOffsets(const Json& j, Entry* e) const {
  const auto offsets = j.find("data_offsets");
  if (offsets == j.end() || !offsets->is_array() || offsets->size() != 2 ||
      !(*offsets)[0].is_number_unsigned() ||
      !(*offsets)[1].is_number_unsigned()) {
    return Bad(*e, "needs \"data_offsets\", [begin, end] as integers >= 0");
  }
  e->begin = (*offsets)[0].get<uint64_t>();
  e->end = (*offsets)[1].get<uint64_t>();
  if (e->begin > e->end) {
    return Bad(*e, absl::StrCat("data_offsets [", e->begin, ", ", e->end,
                                "] end before they begin"));
  }
  return absl::OkStatus();
}

absl::Status Parser::CheckLayout(std::vector<Entry>* entries,
                                 uint64_t size) const {
  std::sort(entries->begin(), entries->end(),
            [](const Entry& a, const Entry& b) {
              return std::tie(a.begin, a.end) < std::tie(b.begin, b.end);
            });
  uint64_t covered = 0;  // the data up to here belongs to a tensor
  for (const Entry& e : *entries) {
    const std::string span =
        absl::StrCat("data_offsets [", e.begin, ", ", e.end, "]");
    if (e.end > size) {
      return Bad(e, absl::StrCat(span, " go past the end of the data (", size,
                                 " bytes)"));
    }
    if (e.begin < covered) {
      return Bad(e, absl::StrCat(span,
                                 " overlap another tensor's, which "
                                 "ends at ",
                                 covered));
    }
    if (e.begin > covered) {
      return Bad(e, absl::StrCat(span, " leave ", e.begin - covered,
                                 " bytes before them that no tensor holds"));
    }
    covered = e.end;
  }
  if (covered != size) {
    return Invalid(absl::StrCat(size - covered, " bytes of data after the ",
                                "last tensor"));
  }
  return absl::OkStatus();
}

absl::StatusOr<Safetensors> Parser::Parse() {
  absl::string_view data;
  absl::StatusOr<Json> header = Header(&data);
  if (!header.ok()) return header.status();
  Safetensors out;
  std::vector<Entry> entries;
  for (auto it = header->begin(); it != header->end(); ++it) {
    absl::Status s =
        it.key() == kMetadataKey
            ? ReadMetadata(it.value(), &out.metadata)
            : ReadEntry(it.key(), it.value(), &entries.emplace_back());
    if (!s.ok()) return s;
  }
  absl::Status s = CheckLayout(&entries, data.size());
  if (!s.ok()) return s;
  out.tensors.reserve(entries.size());
  for (Entry& e : entries) {
    out.tensors.push_back({std::move(e.name), std::move(e.dtype),
                           std::move(e.shape),
                           std::string(data.substr(e.begin, e.end - e.begin))});
  }
  return out;
}

}  // namespace

int DtypeSize(absl::string_view dtype) {
  for (const auto& [name, size] : kDtypes) {
    if (name == dtype) return size;
  }
  return 0;
}

absl::StatusOr<std::string> EncodeSafetensors(const Safetensors& file) {
  std::set<absl::string_view> names;
  for (const SafetensorsTensor& t : file.tensors) {
    absl::Status s = CheckTensor(t, &names);
    if (!s.ok()) return s;
  }
  absl::Status s = CheckMetadata(file.metadata);
  if (!s.ok()) return s;
  const std::vector<size_t> order = DataOrder(file.tensors);
  std::vector<std::pair<uint64_t, uint64_t>> offsets(file.tensors.size());
  uint64_t end = 0;
  for (size_t i : order) {
    offsets[i] = {end, end + file.tensors[i].data.size()};
    end = offsets[i].second;
  }
  nlohmann::ordered_json header = nlohmann::ordered_json::object();
  if (!file.metadata.empty()) header[kMetadataKey] = file.metadata;
  for (size_t i = 0; i < file.tensors.size(); ++i) {
    const SafetensorsTensor& t = file.tensors[i];
    header[t.name] = {{"dtype", t.dtype},
                      {"shape", t.shape},
                      {"data_offsets", {offsets[i].first, offsets[i].second}}};
  }
  std::string text = header.dump();  // every string was checked to be UTF-8
  text.append((8 - (8 + text.size()) % 8) % 8, ' ');
  std::string out(8, '\0');
  const uint64_t n = text.size();
  std::memcpy(out.data(), &n, 8);
  out.reserve(8 + text.size() + end);
  out += text;
  for (size_t i : order) out += file.tensors[i].data;
  return out;
}

absl::StatusOr<Safetensors> ParseSafetensors(absl::string_view bytes,
                                             absl::string_view source) {
  return Parser(bytes, source).Parse();
}

absl::Status WriteSafetensors(const Safetensors& file,
                              const std::string& path) {
  absl::StatusOr<std::string> bytes = EncodeSafetensors(file);
  if (!bytes.ok()) return bytes.status();
  return WriteFileAtomically(path, *bytes);
}

absl::StatusOr<Safetensors> ReadSafetensors(const std::string& path) {
  absl::StatusOr<std::string> bytes = ReadFileBytes(path);
  if (!bytes.ok()) return bytes.status();
  return ParseSafetensors(*bytes, path);
}

}  // namespace ps::client
