// An export's tables as safetensors tensors, and back:
//
//   dense table T    tensor "T", F32, the table's shape ([values] when
//                    the table has none)
//   sparse table T   tensor "T.keys", U64, [rows]: the keys, ascending
//                    tensor "T.values", F32, [rows, dim]: row i is key i's
//
// and "__metadata__" {"format": "pscluster.export.v1", "tables": a JSON
// array of the table names in the job's order, "sparse.T": the sparse
// table T's shape ([key space, dim]) as a JSON array, plus what the caller
// adds (psctl export: "job", the job id)}. All metadata values are
// strings, as safetensors requires.
#ifndef PS_CLIENT_PSCTL_SAFETENSORS_EXPORT_H_
#define PS_CLIENT_PSCTL_SAFETENSORS_EXPORT_H_

#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/psctl/exported_table.h"
#include "client/psctl/safetensors.h"

namespace ps::client {

inline constexpr char kSafetensorsExportFormat[] = "pscluster.export.v1";

// `tables` as tensors, with `extra_metadata` added to the metadata above.
// INVALID_ARGUMENT naming the table when one is malformed (CheckTable), or
// when two tables would give the same tensor name (dense "a.keys" beside
// sparse "a").
absl::StatusOr<Safetensors> TablesToSafetensors(
    const std::vector<ExportedTable>& tables,
    const std::map<std::string, std::string>& extra_metadata = {});

// The tables of a file written by TablesToSafetensors, in the metadata's
// order. INVALID_ARGUMENT starting with `source` (the file's name) when the
// metadata is missing or malformed, a listed table has no tensors (or the
// wrong dtype or shape), a tensor belongs to no listed table, or a table
// breaks CheckTable.
absl::StatusOr<std::vector<ExportedTable>> TablesFromSafetensors(
    const Safetensors& file, absl::string_view source);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_SAFETENSORS_EXPORT_H_
