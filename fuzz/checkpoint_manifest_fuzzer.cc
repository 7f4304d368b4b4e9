// libFuzzer target: ParseManifest (server/checkpoint_file.h) on any bytes.
// Besides what the sanitizers catch (crash, overflow, leak, undefined
// behaviour, an allocation over -malloc_limit_mb), it aborts when:
//   - a refusal is not INVALID_ARGUMENT, or does not start with the file's
//     name;
//   - a manifest it accepts fails ValidateManifest, or its EncodeManifest
//     does not parse back to an equal manifest, or that one encodes to
//     other bytes (the encoding is deterministic).
#include <cstdint>
#include <cstdlib>
#include <string>

#include "google/protobuf/util/message_differencer.h"
#include "server/checkpoint_file.h"

namespace {

using ::google::protobuf::util::MessageDifferencer;
using ::ps::server::CheckpointManifest;

bool Same(const CheckpointManifest& a, const CheckpointManifest& b) {
  if (a.job_id != b.job_id || a.checkpoint_id != b.checkpoint_id ||
      a.created_unix_ms != b.created_unix_ms || a.epoch != b.epoch ||
      a.consistency != b.consistency || a.ranks.size() != b.ranks.size() ||
      a.files.size() != b.files.size() ||
      !MessageDifferencer::Equals(a.job_spec, b.job_spec) ||
      !MessageDifferencer::Equals(a.partition_map, b.partition_map)) {
    return false;
  }
  for (size_t i = 0; i < a.ranks.size(); ++i) {
    if (a.ranks[i].worker_id != b.ranks[i].worker_id ||
        a.ranks[i].step != b.ranks[i].step) {
      return false;
    }
  }
  for (size_t i = 0; i < a.files.size(); ++i) {
    const auto &x = a.files[i], &y = b.files[i];
    if (x.group != y.group || x.name != y.name || x.size != y.size ||
        x.crc32 != y.crc32) {
      return false;
    }
  }
  return true;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const absl::string_view json(reinterpret_cast<const char*>(data), size);
  auto manifest = ps::server::ParseManifest(json, "in.json");
  if (!manifest.ok()) {
    if (manifest.status().code() != absl::StatusCode::kInvalidArgument ||
        manifest.status().message().substr(0, 9) != "in.json: ") {
      abort();
    }
    return 0;
  }
  if (!ps::server::ValidateManifest(*manifest, "in.json").ok()) abort();
  const std::string encoded = ps::server::EncodeManifest(*manifest);
  auto again = ps::server::ParseManifest(encoded, "again.json");
  if (!again.ok() || !Same(*manifest, *again)) abort();
  if (ps::server::EncodeManifest(*again) != encoded) abort();
  return 0;
}
