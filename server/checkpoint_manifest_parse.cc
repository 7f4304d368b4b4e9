// ParseManifest: the manifest's JSON read into a CheckpointManifest, every
// member's JSON type and C++ range checked on the way, then
// ValidateManifest (checkpoint_manifest.cc). Nothing here may throw out or
// crash on any bytes: parsing is bounded in depth, members are looked up
// with find(), and values are read only once their type is known.
#include <algorithm>
#include <cstdint>
#include <initializer_list>
#include <limits>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "server/checkpoint_file.h"

namespace ps::server {
namespace {

using Json = nlohmann::json;

constexpr int kMaxDepth = 64;

// Whether arrays and objects in `text` nest deeper than kMaxDepth (the
// parser, and dump() below, recurse per level). Brackets in strings do
// not count; malformed text is left to the parser.
bool TooDeep(absl::string_view text) {
  int depth = 0;
  bool in_string = false, escaped = false;
  for (char c : text) {
    if (in_string) {
      if (escaped) {
        escaped = false;
      } else if (c == '\\') {
        escaped = true;
      } else if (c == '"') {
        in_string = false;
      }
    } else if (c == '"') {
      in_string = true;
    } else if (c == '[' || c == '{') {
      if (++depth > kMaxDepth) return true;
    } else if (c == ']' || c == '}') {
      --depth;
    }
  }
  return false;
}

std::string Join(const std::string& path, absl::string_view key) {
  return path.empty() ? std::string(key) : absl::StrCat(path, ".", key);
}

// Reads members of JSON objects into C++ fields. Errors name `where` and
// the member's path; the first one sticks and later reads do nothing.
class Reader {
 public:
  explicit Reader(absl::string_view where) : where_(where) {}

  void Fail(absl::string_view field, absl::string_view what) {
    if (!status_.ok()) return;
    status_ = absl::InvalidArgumentError(absl::StrCat(
        where_, ": ", field.empty() ? "manifest" : field, ": ", what));
  }
  bool ok() const { return status_.ok(); }
  const absl::Status& status() const { return status_; }

  // Whether `j`, at `path`, is an object whose members are among `keys`.
  bool Object(const Json& j, const std::string& path,
              std::initializer_list<absl::string_view> keys) {
    if (!ok()) return false;
    if (!j.is_object()) {
      Fail(path, absl::StrCat("expected an object, found ", j.type_name()));
      return false;
    }
    for (const auto& [key, value] : j.items()) {
      if (std::find(keys.begin(), keys.end(), key) == keys.end()) {
        Fail(Join(path, key), "unknown member");
        return false;
      }
    }
    return true;
  }

  // Member `key` of the object `j`, if it is there with the right type.
  const Json* Member(const Json& j, const std::string& path,
                     absl::string_view key, Json::value_t type) {
    if (!ok()) return nullptr;
    auto it = j.find(std::string(key));
    if (it == j.end()) {
      Fail(Join(path, key), "missing");
      return nullptr;
    }
    const bool right = type == Json::value_t::number_integer
                           ? it->is_number_integer()
                           : it->type() == type;
    if (!right) {
      Fail(Join(path, key),
           absl::StrCat(
               "expected ", Json(type).type_name(),
               type == Json::value_t::number_integer ? " (integer)" : "",
               ", found ", it->type_name()));
      return nullptr;
    }
    return &*it;
  }

  void String(const Json& j, const std::string& path, absl::string_view key,
              std::string* out) {
    const Json* v = Member(j, path, key, Json::value_t::string);
    if (v != nullptr) *out = v->get_ref<const std::string&>();
  }

  // An integer in [lo, hi].
  void Int64(const Json& j, const std::string& path, absl::string_view key,
             int64_t lo, int64_t hi, int64_t* out) {
    const Json* v = Member(j, path, key, Json::value_t::number_integer);
    if (v == nullptr) return;
    if (v->is_number_unsigned()) {
      const uint64_t u = v->get<uint64_t>();
      if (u <= static_cast<uint64_t>(hi)) {
        *out = static_cast<int64_t>(u);
        return;
      }
      Fail(Join(path, key), absl::StrCat(u, " is above ", hi));
      return;
    }
    const int64_t i = v->get<int64_t>();  // negative
    if (i >= lo) {
      *out = i;
      return;
    }
    Fail(Join(path, key), absl::StrCat(i, " is below ", lo));
  }

  // A non-negative integer up to hi.
  void Uint64(const Json& j, const std::string& path, absl::string_view key,
              uint64_t hi, uint64_t* out) {
    const Json* v = Member(j, path, key, Json::value_t::number_integer);
    if (v == nullptr) return;
    if (!v->is_number_unsigned()) {
      Fail(Join(path, key), absl::StrCat(v->get<int64_t>(), " is negative"));
    } else if (v->get<uint64_t>() > hi) {
      Fail(Join(path, key), absl::StrCat(v->get<uint64_t>(), " is above ", hi));
    } else {
      *out = v->get<uint64_t>();
    }
  }

  // A message in protobuf's JSON mapping; unknown fields are errors.
  template <typename Message>
  void Proto(const Json& j, absl::string_view key, Message* out) {
    const Json* v = Member(j, "", key, Json::value_t::object);
    if (v == nullptr) return;
    google::protobuf::util::JsonParseOptions options;
    options.ignore_unknown_fields = false;
    const std::string text =
        v->dump(-1, ' ', false, Json::error_handler_t::replace);
    auto s = google::protobuf::util::JsonStringToMessage(text, out, options);
    if (!s.ok()) {
      Fail(key, absl::StrCat("not a ", Message::descriptor()->full_name(), ": ",
                             s.message().as_string()));
    }
  }

 private:
  const std::string where_;
  absl::Status status_;
};

void ReadRanks(Reader& r, const Json& top, CheckpointManifest* m) {
  const Json* ranks = r.Member(top, "", "ranks", Json::value_t::array);
  for (size_t i = 0; ranks != nullptr && i < ranks->size() && r.ok(); ++i) {
    const std::string path = absl::StrCat("ranks[", i, "]");
    const Json& e = (*ranks)[i];
    if (!r.Object(e, path, {"worker_id", "step"})) return;
    CheckpointRank& rank = m->ranks.emplace_back();
    r.String(e, path, "worker_id", &rank.worker_id);
    r.Int64(e, path, "step", std::numeric_limits<int64_t>::min(),
            std::numeric_limits<int64_t>::max(), &rank.step);
  }
}

void ReadFiles(Reader& r, const Json& top, CheckpointManifest* m) {
  const Json* files = r.Member(top, "", "files", Json::value_t::array);
  for (size_t i = 0; files != nullptr && i < files->size() && r.ok(); ++i) {
    const std::string path = absl::StrCat("files[", i, "]");
    const Json& e = (*files)[i];
    if (!r.Object(e, path, {"group", "name", "size", "crc32"})) return;
    CheckpointFile& f = m->files.emplace_back();
    int64_t group = 0;
    uint64_t crc = 0;
    r.Int64(e, path, "group", std::numeric_limits<int32_t>::min(),
            std::numeric_limits<int32_t>::max(), &group);
    r.String(e, path, "name", &f.name);
    r.Uint64(e, path, "size", std::numeric_limits<uint64_t>::max(), &f.size);
    r.Uint64(e, path, "crc32", std::numeric_limits<uint32_t>::max(), &crc);
    f.group = static_cast<int32_t>(group);
    f.crc32 = static_cast<uint32_t>(crc);
  }
  // Any order in the file; by group in memory (ValidateManifest then finds
  // groups missing or repeated).
  std::stable_sort(m->files.begin(), m->files.end(),
                   [](const CheckpointFile& a, const CheckpointFile& b) {
                     return a.group < b.group;
                   });
}

// The format and version first: a manifest of another version is refused
// as such, whatever else it holds.
void ReadHeader(Reader& r, const Json& top) {
  std::string format;
  int64_t version = 0;
  r.String(top, "", "format", &format);
  if (r.ok() && format != kManifestFormat) {
    r.Fail("format",
           absl::StrCat("'", format, "'; expected '", kManifestFormat, "'"));
  }
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  r.Int64(top, "", "version", 0, kMax, &version);
  if (r.ok() && version != kManifestVersion) {
    r.Fail("version", absl::StrCat(version, "; this build reads version ",
                                   kManifestVersion));
  }
}

void ReadManifest(Reader& r, const Json& top, CheckpointManifest* m) {
  constexpr int64_t kMin = std::numeric_limits<int64_t>::min();
  constexpr int64_t kMax = std::numeric_limits<int64_t>::max();
  if (!top.is_object()) {
    r.Fail("", absl::StrCat("expected an object, found ", top.type_name()));
    return;
  }
  ReadHeader(r, top);
  r.Object(
      top, "",
      {"format", "version", "job_id", "checkpoint_id", "created_unix_ms",
       "epoch", "consistency", "ranks", "files", "job_spec", "partition_map"});
  r.String(top, "", "job_id", &m->job_id);
  r.Int64(top, "", "checkpoint_id", kMin, kMax, &m->checkpoint_id);
  r.Int64(top, "", "created_unix_ms", kMin, kMax, &m->created_unix_ms);
  r.Uint64(top, "", "epoch", std::numeric_limits<uint64_t>::max(), &m->epoch);
  std::string consistency;
  r.String(top, "", "consistency", &consistency);
  if (r.ok() && !v1::Consistency_Parse(consistency, &m->consistency)) {
    r.Fail("consistency",
           absl::StrCat("'", consistency, "'; expected ASP, BSP or SSP"));
  }
  ReadRanks(r, top, m);
  ReadFiles(r, top, m);
  r.Proto(top, "job_spec", &m->job_spec);
  r.Proto(top, "partition_map", &m->partition_map);
}

}  // namespace

absl::StatusOr<CheckpointManifest> ParseManifest(absl::string_view json,
                                                 absl::string_view where) {
  if (TooDeep(json)) {
    return absl::InvalidArgumentError(absl::StrCat(
        where, ": manifest: nested deeper than ", kMaxDepth, " levels"));
  }
  Reader r(where);
  CheckpointManifest m;
  try {
    const Json top = Json::parse(json.begin(), json.end());
    ReadManifest(r, top, &m);
  } catch (const Json::exception& e) {
    // Json::parse's syntax errors (with their line and column); nothing
    // else above throws.
    return absl::InvalidArgumentError(
        absl::StrCat(where, ": manifest: not JSON: ", e.what()));
  }
  if (!r.ok()) return r.status();
  if (absl::Status s = ValidateManifest(m, where); !s.ok()) return s;
  return m;
}

}  // namespace ps::server
