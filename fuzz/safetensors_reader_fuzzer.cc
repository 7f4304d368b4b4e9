// libFuzzer target: ParseSafetensors (client/psctl/safetensors.h) on any
// bytes, and TablesFromSafetensors (safetensors_export.h) on what parses.
// Besides what the sanitizers catch (crash, overflow, leak, undefined
// behaviour, an uncaught exception from nlohmann::json, an allocation over
// -malloc_limit_mb), it aborts when:
//   - a refusal is not INVALID_ARGUMENT, or does not start with the name;
//   - a file that parses does not encode again, or its encoding does not
//     parse and re-encode to the same bytes;
//   - tables read from it do not survive TablesToSafetensors, encoding,
//     parsing and TablesFromSafetensors (compared as PSX bytes).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <string>

#include "client/psctl/safetensors.h"
#include "client/psctl/safetensors_export.h"

namespace {

using ps::client::ExportedTable;

bool SameBits(const std::vector<float>& a, const std::vector<float>& b) {
  return a.size() == b.size() &&
         std::memcmp(a.data(), b.data(), a.size() * sizeof(float)) == 0;
}

bool Refusal(const absl::Status& s) {
  return s.code() == absl::StatusCode::kInvalidArgument &&
         s.message().substr(0, 4) == "in: ";
}

// Tables -> tensors -> bytes -> tensors -> tables, which must be the same
// tables (shapes aside: an empty dense shape comes back as [values]).
void CheckTablesRoundTrip(const std::vector<ExportedTable>& tables) {
  auto tensors = ps::client::TablesToSafetensors(tables);
  if (!tensors.ok()) abort();
  auto bytes = ps::client::EncodeSafetensors(*tensors);
  if (!bytes.ok()) abort();
  auto parsed = ps::client::ParseSafetensors(*bytes, "again");
  if (!parsed.ok()) abort();
  auto back = ps::client::TablesFromSafetensors(*parsed, "again");
  if (!back.ok() || back->size() != tables.size()) abort();
  for (size_t i = 0; i < tables.size(); ++i) {
    const ExportedTable& a = tables[i];
    const ExportedTable& b = (*back)[i];
    if (a.name != b.name || a.sparse != b.sparse || a.dim != b.dim ||
        a.keys != b.keys || !SameBits(a.values, b.values)) {
      abort();
    }
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto file = ps::client::ParseSafetensors(bytes, "in");
  if (!file.ok()) {
    if (!Refusal(file.status())) abort();
    return 0;
  }
  auto encoded = ps::client::EncodeSafetensors(*file);
  if (!encoded.ok()) abort();
  auto again = ps::client::ParseSafetensors(*encoded, "again");
  if (!again.ok()) abort();
  auto reencoded = ps::client::EncodeSafetensors(*again);
  if (!reencoded.ok() || *reencoded != *encoded) abort();
  auto tables = ps::client::TablesFromSafetensors(*file, "in");
  if (!tables.ok()) {
    if (!Refusal(tables.status())) abort();
    return 0;
  }
  CheckTablesRoundTrip(*tables);
  return 0;
}
