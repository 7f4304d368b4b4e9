#include "client/psctl/exported_table.h"

#include <limits>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace ps::client {
namespace {

absl::Status Bad(const ExportedTable& t, absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat("table ", t.name.substr(0, 100), ": ", what));
}

absl::Status CheckSparse(const ExportedTable& t) {
  if (t.dim < 1 || t.dim > kMaxSparseDim) {
    return Bad(t, absl::StrCat("row width ", t.dim,
                               " is out of range; "
                               "allowed: [1, ",
                               kMaxSparseDim, "]"));
  }
  if (t.keys.size() > static_cast<uint64_t>(kMaxTableValues / t.dim) ||
      t.values.size() != t.keys.size() * t.dim) {
    return Bad(t, absl::StrCat(t.keys.size(), " keys of row width ", t.dim,
                               " but ", t.values.size(), " values"));
  }
  for (size_t i = 1; i < t.keys.size(); ++i) {
    if (t.keys[i] <= t.keys[i - 1]) {
      return Bad(t, absl::StrCat("key ", t.keys[i], " (row ", i,
                                 ") does not come after key ", t.keys[i - 1],
                                 "; keys must be strictly ascending"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckDense(const ExportedTable& t, int64_t product) {
  if (!t.keys.empty() || t.dim != 0) {
    return Bad(t, "a dense table has keys or a row width");
  }
  if (t.values.size() > static_cast<uint64_t>(kMaxTableValues)) {
    return Bad(t, absl::StrCat(t.values.size(), " values; at most ",
                               kMaxTableValues, " allowed"));
  }
  if (!t.shape.empty() && static_cast<uint64_t>(product) != t.values.size()) {
    return Bad(
        t, absl::StrCat("shape [", absl::StrJoin(t.shape, ", "), "] holds ",
                        product, " values but there are ", t.values.size()));
  }
  return absl::OkStatus();
}

}  // namespace

int64_t ShapeProduct(const std::vector<int64_t>& shape) {
  int64_t product = 1;
  for (int64_t d : shape) {
    if (d < 0) return -1;
    if (d != 0 && product > std::numeric_limits<int64_t>::max() / d) return -1;
    product *= d;
  }
  return product;
}

absl::Status CheckTable(const ExportedTable& t) {
  if (t.name.empty() ||
      t.name.size() > static_cast<size_t>(kMaxTableNameBytes)) {
    return Bad(t, absl::StrCat("a name of ", t.name.size(),
                               " bytes; allowed: 1 to ", kMaxTableNameBytes));
  }
  if (t.shape.size() > static_cast<size_t>(kMaxTableDims)) {
    return Bad(t, absl::StrCat(t.shape.size(), " dimensions; at most ",
                               kMaxTableDims, " allowed"));
  }
  const int64_t product = ShapeProduct(t.shape);
  if (product < 0) {
    return Bad(t, absl::StrCat("shape [", absl::StrJoin(t.shape, ", "),
                               "] has a negative dimension or its product "
                               "overflows a 64-bit integer"));
  }
  return t.sparse ? CheckSparse(t) : CheckDense(t, product);
}

}  // namespace ps::client
