#include "server/table_defs.h"

#include <string>
#include <vector>

#include "absl/container/flat_hash_map.h"
#include "absl/container/flat_hash_set.h"
#include "absl/strings/str_cat.h"
#include "server/initializer.h"

namespace ps::server {
namespace {

absl::Status ValidateShape(const v1::TableDef& def) {
  if (def.kind() == v1::DENSE) {
    if (def.size() <= 0 || def.size() > kMaxDenseSize) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", def.name(), ": size ", def.size(),
                       "; allowed for DENSE: [1, 2^36]"));
    }
    if (def.dim() != 0) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", def.name(), ": dim ", def.dim(),
                       "; allowed for DENSE: 0 (dim is for SPARSE rows)"));
    }
    return absl::OkStatus();
  }
  if (def.kind() != v1::SPARSE) {
    return absl::InvalidArgumentError(absl::StrCat("table ", def.name(),
                                                   ": kind ", def.kind(),
                                                   "; allowed: DENSE, SPARSE"));
  }
  if (def.dim() < 1 || def.dim() > kMaxSparseDim) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", def.name(), ": dim ", def.dim(),
                     "; allowed for SPARSE: [1, ", kMaxSparseDim, "]"));
  }
  if (def.size() != 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", def.name(), ": size ", def.size(),
                     "; allowed for SPARSE: 0 (a sparse table grows by keys)"));
  }
  return absl::OkStatus();
}

absl::Status ValidatePartitions(const v1::CreateTablesRequest& request,
                                bool any_sparse) {
  const uint32_t partitions = request.sparse_partitions();
  if ((any_sparse && partitions < 1) || partitions > kMaxSparsePartitions) {
    return absl::InvalidArgumentError(
        absl::StrCat("sparse_partitions: ", partitions, "; allowed: [1, 2^20]",
                     any_sparse ? " for a job with SPARSE tables" : ", or 0"));
  }
  std::vector<bool> seen(partitions, false);
  for (uint32_t p : request.owned_partitions()) {
    if (p >= partitions) {
      return absl::InvalidArgumentError(
          absl::StrCat("owned_partitions: ", p, "; allowed: [0, ", partitions,
                       ") (below sparse_partitions)"));
    }
    if (seen[p]) {
      return absl::InvalidArgumentError(
          absl::StrCat("owned_partitions: ", p, " is repeated"));
    }
    seen[p] = true;
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateTableDef(const v1::TableDef& def) {
  if (def.name().empty()) {
    return absl::InvalidArgumentError("table name is empty");
  }
  if (absl::Status s = ValidateShape(def); !s.ok()) return s;
  absl::Status s = ValidateInitializer(def.init());
  if (!s.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("table ", def.name(), ": ", s.message()));
  }
  return absl::OkStatus();
}

absl::Status ValidateConsistency(const v1::CreateTablesRequest& request) {
  const v1::Consistency mode = request.consistency();
  if (!v1::Consistency_IsValid(mode)) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency: ", mode, "; allowed: ASP, BSP, SSP"));
  }
  if (request.staleness() < 0 || request.staleness() > 1000) {
    return absl::InvalidArgumentError(absl::StrCat(
        "staleness: ", request.staleness(), "; allowed: [0, 1000]"));
  }
  if ((mode == v1::BSP || mode == v1::SSP) && request.worker_ids().empty()) {
    return absl::InvalidArgumentError(absl::StrCat("worker_ids: empty; ",
                                                   v1::Consistency_Name(mode),
                                                   " needs the job's workers"));
  }
  absl::flat_hash_set<std::string> seen;
  for (const std::string& w : request.worker_ids()) {
    if (w.empty() || !seen.insert(w).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("worker_ids: '", w, "' is empty or repeated"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateCreateTables(const v1::CreateTablesRequest& request) {
  if (request.job_id().empty()) {
    return absl::InvalidArgumentError("job_id is empty");
  }
  // A job key is 32 bytes (common/job_token.h: kJobKeyBytes).
  if (!request.job_key().empty() && request.job_key().size() != 32) {
    return absl::InvalidArgumentError(absl::StrCat(
        "job_key: ", request.job_key().size(),
        " bytes; a job key has 32 (or none)"));
  }
  if (absl::Status s = ValidateConsistency(request); !s.ok()) return s;
  absl::flat_hash_map<std::string, const v1::TableDef*> defs;
  bool any_sparse = false;
  for (const v1::TableDef& def : request.tables()) {
    if (absl::Status s = ValidateTableDef(def); !s.ok()) return s;
    if (!defs.emplace(def.name(), &def).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", def.name(), " is defined twice"));
    }
    any_sparse |= def.kind() == v1::SPARSE;
  }
  for (const v1::DenseRange& r : request.ranges()) {
    auto it = defs.find(r.table());
    if (it == defs.end()) {
      return absl::InvalidArgumentError(
          absl::StrCat("range names unknown table ", r.table()));
    }
    const v1::TableDef& def = *it->second;
    if (def.kind() != v1::DENSE) {
      return absl::InvalidArgumentError(absl::StrCat(
          "range names table ", r.table(),
          ", which is SPARSE; ranges are for DENSE tables (sparse keys are "
          "placed by owned_partitions)"));
    }
    if (r.begin() < 0 || r.begin() >= r.end() || r.end() > def.size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("table ", r.table(), ": range [", r.begin(), ", ",
                       r.end(), ") is not within [0, ", def.size(), ")"));
    }
  }
  return ValidatePartitions(request, any_sparse);
}

}  // namespace ps::server
