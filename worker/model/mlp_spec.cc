#include "worker/model/mlp_spec.h"

#include <unistd.h>

#include <algorithm>

#include "absl/strings/str_format.h"

namespace ps::worker {
namespace {

// Larger counts could overflow int64 arithmetic downstream; no machine holds
// them anyway.
constexpr double kMaxCount = 1e15;

// The same counts as MlpParamCount and MlpScratchCount, in double so that
// absurd sizes cannot overflow before they are rejected.
double ParamCountAsDouble(const std::vector<int64_t>& sizes) {
  double count = 0;
  for (size_t l = 0; l + 1 < sizes.size(); ++l) {
    count += static_cast<double>(sizes[l]) * sizes[l + 1] + sizes[l + 1];
  }
  return count;
}

double ScratchCountAsDouble(const std::vector<int64_t>& sizes, double rows) {
  double outputs = 0, widest = 0;
  for (size_t l = 1; l < sizes.size(); ++l) {
    outputs += sizes[l];
    widest = std::max(widest, static_cast<double>(sizes[l]));
  }
  return rows * (outputs + 2 * widest);
}

}  // namespace

int64_t MlpParamCount(const std::vector<int64_t>& layer_sizes) {
  int64_t count = 0;
  for (size_t l = 0; l + 1 < layer_sizes.size(); ++l) {
    count += layer_sizes[l] * layer_sizes[l + 1] + layer_sizes[l + 1];
  }
  return count;
}

std::vector<int64_t> MlpLayerOffsets(const std::vector<int64_t>& layer_sizes) {
  std::vector<int64_t> offsets;
  int64_t offset = 0;
  for (size_t l = 0; l + 1 < layer_sizes.size(); ++l) {
    offsets.push_back(offset);
    offset += layer_sizes[l] * layer_sizes[l + 1] + layer_sizes[l + 1];
  }
  return offsets;
}

int64_t MlpScratchCount(const std::vector<int64_t>& layer_sizes,
                        int64_t max_rows) {
  int64_t outputs = 0, widest = 0;
  for (size_t l = 1; l < layer_sizes.size(); ++l) {
    outputs += layer_sizes[l];
    widest = std::max(widest, layer_sizes[l]);
  }
  return max_rows * (outputs + 2 * widest);
}

absl::Status ValidateMlpShape(const std::vector<int64_t>& layer_sizes,
                              Head head, int64_t max_batch_rows) {
  if (layer_sizes.size() < 2) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "layer_sizes has %d entries, expected at least 2 (inputs, outputs)",
        layer_sizes.size()));
  }
  for (size_t l = 0; l < layer_sizes.size(); ++l) {
    if (layer_sizes[l] < 1 || layer_sizes[l] > kMaxMlpDimension) {
      return absl::InvalidArgumentError(
          absl::StrFormat("layer_sizes[%d] is %d, expected 1..%d", l,
                          layer_sizes[l], kMaxMlpDimension));
    }
  }
  if (max_batch_rows < 1 || max_batch_rows > kMaxMlpDimension) {
    return absl::InvalidArgumentError(
        absl::StrFormat("max_batch_rows is %d, expected 1..%d", max_batch_rows,
                        kMaxMlpDimension));
  }
  if (head == Head::kLogistic && layer_sizes.back() != 1) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "the logistic head takes 1 output but layer_sizes ends with %d",
        layer_sizes.back()));
  }
  const double params = ParamCountAsDouble(layer_sizes);
  const double scratch = ScratchCountAsDouble(layer_sizes, max_batch_rows);
  if (params > kMaxCount || scratch > kMaxCount) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "layer_sizes and max_batch_rows %d need %.4g parameters and %.4g "
        "scratch values, expected at most %.4g each",
        max_batch_rows, params, scratch, kMaxCount));
  }
  return absl::OkStatus();
}

absl::Status CheckBatchRows(absl::string_view field, int64_t rows,
                            int64_t max_rows) {
  if (rows < 1 || rows > max_rows) {
    return absl::InvalidArgumentError(absl::StrFormat(
        "%s is %d, expected 1..max_batch_rows = %d", field, rows, max_rows));
  }
  return absl::OkStatus();
}

absl::Status CheckLabels(absl::string_view field, const int32_t* labels,
                         int64_t rows, Head head, int64_t classes) {
  const int64_t limit = head == Head::kLogistic ? 2 : classes;
  for (int64_t r = 0; r < rows; ++r) {
    if (labels[r] < 0 || labels[r] >= limit) {
      return absl::InvalidArgumentError(absl::StrFormat(
          "%s[%d] is %d, expected a %s in [0, %d)", field, r, labels[r],
          head == Head::kLogistic ? "binary label" : "class", limit));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckFitsHostMemory(double bytes, const char* what) {
  const double physical = static_cast<double>(sysconf(_SC_PHYS_PAGES)) *
                          static_cast<double>(sysconf(_SC_PAGE_SIZE));
  if (physical > 0 && bytes > physical) {
    return absl::ResourceExhaustedError(absl::StrFormat(
        "%s needs %.0f bytes but this machine has %.0f bytes of memory", what,
        bytes, physical));
  }
  return absl::OkStatus();
}

}  // namespace ps::worker
