#include "client/psctl/safetensors_export.h"

#include <cstring>
#include <limits>
#include <set>

#include "absl/strings/str_cat.h"
#include "nlohmann/json.hpp"

namespace ps::client {
namespace {

using Json = nlohmann::json;

constexpr char kKeysSuffix[] = ".keys";
constexpr char kValuesSuffix[] = ".values";
constexpr char kSparsePrefix[] = "sparse.";

template <typename T>
std::string Bytes(const std::vector<T>& v) {
  return std::string(reinterpret_cast<const char*>(v.data()),
                     v.size() * sizeof(T));
}

// Never throws: a name that is not UTF-8 is written replaced here and
// refused by EncodeSafetensors as a tensor name.
std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

// A JSON array of integers >= 0 in `text`, or false.
bool ParseShape(absl::string_view text, std::vector<int64_t>* shape) {
  const Json j = Json::parse(text.begin(), text.end(), nullptr, false);
  if (!j.is_array()) return false;
  for (const Json& d : j) {
    if (!d.is_number_unsigned() ||
        d.get<uint64_t>() > std::numeric_limits<int64_t>::max()) {
      return false;
    }
    shape->push_back(static_cast<int64_t>(d.get<uint64_t>()));
  }
  return true;
}

template <typename T>
void CopyData(const SafetensorsTensor& t, std::vector<T>* out) {
  out->resize(t.data.size() / sizeof(T));
  // memcpy to an empty vector's null data() is undefined.
  if (!out->empty()) {
    std::memcpy(out->data(), t.data.data(), out->size() * sizeof(T));
  }
}

// Reads a file's tensors back into tables, marking the tensors it uses.
class TableReader {
 public:
  TableReader(const Safetensors& file, absl::string_view source)
      : file_(file), source_(source) {
    for (const SafetensorsTensor& t : file.tensors) by_name_[t.name] = &t;
  }

  absl::StatusOr<std::vector<ExportedTable>> Read();

 private:
  absl::StatusOr<std::vector<std::string>> TableNames() const;
  absl::Status ReadDense(const SafetensorsTensor& t, ExportedTable* out);
  absl::Status ReadSparse(ExportedTable* out);
  // The tensor named `name`, or nullptr; marks it used.
  const SafetensorsTensor* Take(const std::string& name);

  absl::Status Invalid(absl::string_view what) const {
    return absl::InvalidArgumentError(absl::StrCat(source_, ": ", what));
  }

  const Safetensors& file_;
  std::string source_;
  std::map<std::string, const SafetensorsTensor*> by_name_;
  std::set<std::string> used_;
};

absl::StatusOr<std::vector<std::string>> TableReader::TableNames() const {
  const auto format = file_.metadata.find("format");
  if (format == file_.metadata.end() ||
      format->second != kSafetensorsExportFormat) {
    return Invalid(absl::StrCat("not a psctl export: __metadata__ has no \"",
                                "format\": \"", kSafetensorsExportFormat,
                                "\""));
  }
  const auto tables = file_.metadata.find("tables");
  const Json j = tables == file_.metadata.end()
                     ? Json()
                     : Json::parse(tables->second, nullptr, false);
  std::vector<std::string> names;
  for (size_t i = 0; j.is_array() && i < j.size() && j[i].is_string(); ++i) {
    names.push_back(j[i].get<std::string>());
  }
  if (j.is_array() && names.size() == j.size()) return names;
  return Invalid(
      "__metadata__ \"tables\" is missing or not a JSON array of names");
}

const SafetensorsTensor* TableReader::Take(const std::string& name) {
  const auto it = by_name_.find(name);
  if (it == by_name_.end() || !used_.insert(name).second) return nullptr;
  return it->second;
}

absl::Status TableReader::ReadDense(const SafetensorsTensor& t,
                                    ExportedTable* out) {
  if (t.dtype != "F32") {
    return Invalid(absl::StrCat("table ", out->name, ": dtype ", t.dtype,
                                "; a dense table is F32"));
  }
  out->shape = t.shape;
  CopyData(t, &out->values);
  return absl::OkStatus();
}

absl::Status TableReader::ReadSparse(ExportedTable* out) {
  const SafetensorsTensor* keys = Take(out->name + kKeysSuffix);
  const SafetensorsTensor* values = Take(out->name + kValuesSuffix);
  if (keys == nullptr || values == nullptr) {
    return Invalid(absl::StrCat("table ", out->name, " is listed in ",
                                "__metadata__ but has no tensor ", out->name,
                                " (dense) nor ", out->name, kKeysSuffix,
                                " and ", out->name, kValuesSuffix,
                                " (sparse), or is listed twice"));
  }
  if (keys->dtype != "U64" || keys->shape.size() != 1 ||
      values->dtype != "F32" || values->shape.size() != 2 ||
      values->shape[0] != keys->shape[0] || values->shape[1] < 1 ||
      values->shape[1] > kMaxSparseDim) {
    return Invalid(absl::StrCat("table ", out->name, ": sparse tables are ",
                                "keys U64 [rows] and values F32 [rows, dim] ",
                                "with dim 1 to ", kMaxSparseDim));
  }
  out->sparse = true;
  out->dim = static_cast<int>(values->shape[1]);
  CopyData(*keys, &out->keys);
  CopyData(*values, &out->values);
  const auto shape = file_.metadata.find(kSparsePrefix + out->name);
  if (shape != file_.metadata.end() &&
      !ParseShape(shape->second, &out->shape)) {
    return Invalid(absl::StrCat("__metadata__ \"", kSparsePrefix, out->name,
                                "\" is not a JSON array of integers >= 0"));
  }
  return absl::OkStatus();
}

absl::StatusOr<std::vector<ExportedTable>> TableReader::Read() {
  absl::StatusOr<std::vector<std::string>> names = TableNames();
  if (!names.ok()) return names.status();
  std::vector<ExportedTable> tables;
  for (const std::string& name : *names) {
    ExportedTable& t = tables.emplace_back();
    t.name = name;
    const SafetensorsTensor* dense = Take(name);
    absl::Status s = dense != nullptr ? ReadDense(*dense, &t) : ReadSparse(&t);
    if (!s.ok()) return s;
    s = CheckTable(t);
    if (!s.ok()) return Invalid(s.message());  // it names the table
  }
  for (const SafetensorsTensor& t : file_.tensors) {
    if (used_.count(t.name) == 0) {
      return Invalid(absl::StrCat("tensor ", t.name, " belongs to no table ",
                                  "listed in __metadata__ \"tables\""));
    }
  }
  return tables;
}

}  // namespace

absl::StatusOr<Safetensors> TablesToSafetensors(
    const std::vector<ExportedTable>& tables,
    const std::map<std::string, std::string>& extra_metadata) {
  Safetensors out;
  out.metadata = extra_metadata;
  Json names = Json::array();
  std::set<std::string> tensor_names;
  for (const ExportedTable& t : tables) {
    absl::Status s = CheckTable(t);
    if (!s.ok()) return s;
    names.push_back(t.name);
    if (t.sparse) {
      const int64_t rows = static_cast<int64_t>(t.keys.size());
      out.tensors.push_back(
          {t.name + kKeysSuffix, "U64", {rows}, Bytes(t.keys)});
      out.tensors.push_back(
          {t.name + kValuesSuffix, "F32", {rows, t.dim}, Bytes(t.values)});
      out.metadata[kSparsePrefix + t.name] = Dump(t.shape);
    } else {
      std::vector<int64_t> shape = t.shape;
      if (shape.empty()) shape = {static_cast<int64_t>(t.values.size())};
      out.tensors.push_back({t.name, "F32", shape, Bytes(t.values)});
    }
  }
  for (const SafetensorsTensor& t : out.tensors) {
    if (!tensor_names.insert(t.name).second) {
      return absl::InvalidArgumentError(absl::StrCat(
          "tensor ", t.name, " would hold two tables (a dense table named ",
          "like a sparse table's keys or values, or a name used twice)"));
    }
  }
  out.metadata["format"] = kSafetensorsExportFormat;
  out.metadata["tables"] = Dump(names);
  return out;
}

absl::StatusOr<std::vector<ExportedTable>> TablesFromSafetensors(
    const Safetensors& file, absl::string_view source) {
  return TableReader(file, source).Read();
}

}  // namespace ps::client
