#include "client/ps_client_options.h"

#include <thread>

#include "absl/strings/str_cat.h"
#include "common/value_codec.h"

namespace ps::client {

absl::Duration DefaultSmallCallSpin() {
  return std::thread::hardware_concurrency() >= 4 ? absl::Microseconds(100)
                                                  : absl::ZeroDuration();
}

absl::Status ValidatePsClientOptions(const PsClientOptions& o) {
  if (o.small_call_spin < absl::ZeroDuration() ||
      o.small_call_spin > absl::Milliseconds(1)) {
    return absl::InvalidArgumentError(absl::StrCat(
        "small_call_spin ", absl::FormatDuration(o.small_call_spin),
        " must be in [0, 1ms]"));
  }
  if (o.rpc_timeout <= absl::ZeroDuration()) {
    return absl::InvalidArgumentError(absl::StrCat(
        "rpc_timeout ", absl::FormatDuration(o.rpc_timeout), " must be > 0"));
  }
  if (o.max_attempts < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("max_attempts ", o.max_attempts, " must be >= 1"));
  }
  if (o.chunk_bytes < 4 || o.chunk_bytes > kMaxMessageBytes / 2) {
    return absl::InvalidArgumentError(
        absl::StrCat("chunk_bytes ", o.chunk_bytes, " must be in [4, ",
                     kMaxMessageBytes / 2, "]"));
  }
  if (o.channels_per_server < 1 || o.channels_per_server > 64) {
    return absl::InvalidArgumentError(absl::StrCat(
        "channels_per_server ", o.channels_per_server, " must be in [1, 64]"));
  }
  return ValidateCompression(o.compression);
}

absl::Status ValidateClientMap(const v1::PartitionMap& map) {
  if (map.servers_size() == 0) {
    return absl::InvalidArgumentError("partition map has no servers");
  }
  for (int i = 0; i < map.servers_size(); ++i) {
    if (map.servers(i).address().empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("partition map: servers[", i, "].address is empty"));
    }
  }
  if (map.groups_size() != 0) {
    if (map.groups_size() != map.servers_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "partition map: ", map.groups_size(), " replica groups for ",
          map.servers_size(), " servers; expected one per server"));
    }
    for (int g = 0; g < map.groups_size(); ++g) {
      if (map.groups(g).replicas_size() == 0 ||
          map.groups(g).replicas(0).address().empty()) {
        return absl::InvalidArgumentError(absl::StrCat(
            "partition map: replica group ", g, " has no primary"));
      }
    }
  }
  for (const v1::DenseRange& r : map.ranges()) {
    if (r.server_index() < 0 || r.server_index() >= map.servers_size()) {
      return absl::InvalidArgumentError(absl::StrCat(
          "partition map: a range of table ", r.table(), " names server_index ",
          r.server_index(), "; the map has ", map.servers_size(), " servers"));
    }
  }
  if (map.partition_servers_size() !=
      static_cast<int64_t>(map.sparse_partitions())) {
    return absl::InvalidArgumentError(
        absl::StrCat("partition map: ", map.partition_servers_size(),
                     " partition_servers for ", map.sparse_partitions(),
                     " sparse_partitions; expected one per partition"));
  }
  for (int p = 0; p < map.partition_servers_size(); ++p) {
    if (map.partition_servers(p) < 0 ||
        map.partition_servers(p) >= map.servers_size()) {
      return absl::InvalidArgumentError(
          absl::StrCat("partition map: partition ", p, " names server_index ",
                       map.partition_servers(p), "; the map has ",
                       map.servers_size(), " servers"));
    }
  }
  return absl::OkStatus();
}

}  // namespace ps::client
