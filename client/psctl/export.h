// psctl export: a job's trained parameters as a file, in one of two formats:
//
//   psx          (the default) PSX2, this project's own; its layout is in
//                client/psctl/psx_format.h
//   safetensors  the safetensors format (client/psctl/safetensors.h): a
//                dense table is an F32 tensor named after it; a sparse
//                table T two tensors, "T.keys" (U64, [rows]) and
//                "T.values" (F32, [rows, dim]); the mapping and metadata
//                are in client/psctl/safetensors_export.h
//
// For the models shipped, table "layer<l>.weight" has shape [in, out] and
// "layer<l>.bias" [out]; the layer computes y = x * W + b. The flight
// models' "wide" and "embed" are sparse: only rows that were touched exist.
#ifndef PS_CLIENT_PSCTL_EXPORT_H_
#define PS_CLIENT_PSCTL_EXPORT_H_

#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "client/psctl/exported_table.h"
#include "common/rpc_security.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {

enum class ExportFormat { kPsx, kSafetensors };

// The format named `name` ("psx" or "safetensors"); otherwise
// INVALID_ARGUMENT naming the value and the allowed ones.
absl::StatusOr<ExportFormat> ParseExportFormat(absl::string_view name);

// Pulls every dense table and scans every sparse table of `job` (which
// must have a partition map: RUNNING or SUCCEEDED with its tables kept)
// from the servers and writes them to `path` in `format` (WriteExport). A
// row that a running job changes during the export may be taken before or
// after the change.
// How psctl reaches a cluster's servers: the channels' security (null:
// plaintext) and, with TLS, a read token of the job (GetJobToken).
struct ServerAccess {
  std::shared_ptr<const RpcSecurity> security;
  std::string job_token;
};

absl::Status ExportJob(const v1::Job& job, const std::string& path,
                       ExportFormat format = ExportFormat::kPsx,
                       const ServerAccess& access = {});

// Writes `tables` to `path` in `format`, atomically and durably
// (WriteFileAtomically: a reader never sees part of a file). A safetensors
// file names `job_id` in its metadata ("job") when it is not empty.
// INVALID_ARGUMENT naming the table when one is malformed (CheckTable); the
// errno of the failing call otherwise.
absl::Status WriteExport(const std::vector<ExportedTable>& tables,
                         const std::string& path,
                         ExportFormat format = ExportFormat::kPsx,
                         const std::string& job_id = "");

// The tables of the file `path` in `format`: NOT_FOUND when it is missing;
// a malformed PSX file is DATA_LOSS, a malformed safetensors file
// INVALID_ARGUMENT, with a message naming the file, the table and what is
// wrong. No file crashes it or makes it allocate much more than its size.
absl::StatusOr<std::vector<ExportedTable>> ReadExport(
    const std::string& path, ExportFormat format = ExportFormat::kPsx);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_EXPORT_H_
