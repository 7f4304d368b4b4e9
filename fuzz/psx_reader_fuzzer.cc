// libFuzzer target: ParsePsx (client/psctl/psx_format.h) on any bytes.
// Besides what the sanitizers catch (crash, overflow, leak, undefined
// behaviour, an allocation over -malloc_limit_mb), it aborts when:
//   - a refusal is not DATA_LOSS, or does not start with the file's name;
//   - what parses does not encode again, or the encoding does not parse
//     back to the same bytes;
//   - a PSX2 file that parses is not byte for byte what EncodePsx writes
//     for its tables (the format has one encoding).
#include <cstdint>
#include <cstdlib>

#include "client/psctl/psx_format.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view bytes(reinterpret_cast<const char*>(data), size);
  auto tables = ps::client::ParsePsx(bytes, "in.psx");
  if (!tables.ok()) {
    if (tables.status().code() != absl::StatusCode::kDataLoss ||
        tables.status().message().substr(0, 8) != "in.psx: ") {
      abort();
    }
    return 0;
  }
  auto encoded = ps::client::EncodePsx(*tables);
  if (!encoded.ok()) abort();
  if (bytes.substr(0, 4) == "PSX2" && *encoded != bytes) abort();
  auto again = ps::client::ParsePsx(*encoded, "again.psx");
  if (!again.ok()) abort();
  auto reencoded = ps::client::EncodePsx(*again);
  if (!reencoded.ok() || *reencoded != *encoded) abort();
  return 0;
}
