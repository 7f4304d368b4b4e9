// The checkpoint manifest: its checks and its JSON encoding (parsing is in
// checkpoint_manifest_parse.cc).
#include <string>
#include <utility>
#include <vector>

#include "absl/container/flat_hash_set.h"
#include "absl/strings/escaping.h"
#include "absl/strings/str_cat.h"
#include "common/job_spec.h"
#include "common/optimizer_spec.h"
#include "common/partition.h"
#include "google/protobuf/util/json_util.h"
#include "nlohmann/json.hpp"
#include "server/checkpoint_file.h"
#include "server/table_defs.h"

namespace ps::server {
namespace {

using OrderedJson = nlohmann::ordered_json;

absl::Status Invalid(absl::string_view where, absl::string_view field,
                     absl::string_view what) {
  return absl::InvalidArgumentError(
      absl::StrCat(where, ": ", field, ": ", what));
}

// Printable ASCII, 1 to 256 characters.
absl::Status CheckId(absl::string_view where, absl::string_view field,
                     absl::string_view id) {
  if (id.empty() || id.size() > 256) {
    return Invalid(where, field,
                   absl::StrCat(id.size(), " characters; expected 1 to 256"));
  }
  for (char c : id) {
    if (c < 0x20 || c > 0x7e) {
      return Invalid(where, field,
                     absl::StrCat("byte ", static_cast<int>(uint8_t(c)),
                                  "; expected printable ASCII"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckMap(const CheckpointManifest& m, absl::string_view where) {
  const v1::PartitionMap& map = m.partition_map;
  if (absl::Status s = ValidatePartitionLayout(map); !s.ok()) {
    return Invalid(where, "partition_map", s.message());
  }
  for (const v1::TableDef& t : map.tables()) {
    if (absl::Status s = ValidateTableDef(t); !s.ok()) {
      return Invalid(where, "partition_map", s.message());
    }
    if (absl::Status s = ValidateOptimizerSpec(t.optimizer()); !s.ok()) {
      return Invalid(where, "partition_map",
                     absl::StrCat("table ", t.name(), ": ", s.message()));
    }
  }
  if (m.epoch != map.epoch()) {
    return Invalid(
        where, "epoch",
        absl::StrCat(m.epoch, "; the partition map's is ", map.epoch()));
  }
  return absl::OkStatus();
}

absl::Status CheckSpec(const CheckpointManifest& m, absl::string_view where) {
  if (absl::Status s = ValidateJobSpec(m.job_spec); !s.ok()) {
    return Invalid(where, "job_spec", s.message());
  }
  const v1::Consistency spec = m.job_spec.training().consistency();
  const v1::Consistency expected =
      spec == v1::CONSISTENCY_UNSPECIFIED ? v1::ASP : spec;
  if (m.consistency != expected) {
    return Invalid(
        where, "consistency",
        absl::StrCat(v1::Consistency_Name(m.consistency),
                     "; the job spec's is ", v1::Consistency_Name(expected)));
  }
  return absl::OkStatus();
}

absl::Status CheckRanks(const CheckpointManifest& m, absl::string_view where) {
  const int workers = m.job_spec.cluster().num_workers();
  if (m.ranks.size() != static_cast<size_t>(workers)) {
    return Invalid(where, "ranks",
                   absl::StrCat(m.ranks.size(), " ranks; the job spec has ",
                                workers, " workers"));
  }
  absl::flat_hash_set<absl::string_view> ids;
  for (size_t r = 0; r < m.ranks.size(); ++r) {
    const std::string field = absl::StrCat("ranks[", r, "]");
    const CheckpointRank& rank = m.ranks[r];
    if (absl::Status s = CheckId(where, field + ".worker_id", rank.worker_id);
        !s.ok()) {
      return s;
    }
    if (!ids.insert(rank.worker_id).second) {
      return Invalid(where, field + ".worker_id",
                     absl::StrCat("'", rank.worker_id, "' is another rank's"));
    }
    if (rank.step < 0) {
      return Invalid(where, field + ".step",
                     absl::StrCat(rank.step, "; expected >= 0"));
    }
  }
  return absl::OkStatus();
}

absl::Status CheckFiles(const CheckpointManifest& m, absl::string_view where) {
  const int groups = m.partition_map.servers_size();
  std::vector<bool> seen(groups, false);
  absl::flat_hash_set<absl::string_view> names;
  for (size_t i = 0; i < m.files.size(); ++i) {
    const CheckpointFile& f = m.files[i];
    const std::string field = absl::StrCat("files[", i, "]");
    if (f.group < 0 || f.group >= groups) {
      return Invalid(
          where, field + ".group",
          absl::StrCat(f.group, "; the partition map has ", groups, " groups"));
    }
    if (seen[f.group]) {
      return Invalid(where, "files",
                     absl::StrCat("group ", f.group, " has two files"));
    }
    seen[f.group] = true;
    if (absl::Status s = CheckFileName(f.name); !s.ok()) {
      return Invalid(where, field + ".name", s.message());
    }
    if (!names.insert(f.name).second) {
      return Invalid(where, field + ".name",
                     absl::StrCat("'", f.name, "' is another group's file"));
    }
  }
  for (int g = 0; g < groups; ++g) {
    if (!seen[g]) {
      return Invalid(where, "files", absl::StrCat("no file for group ", g));
    }
  }
  for (size_t i = 0; i < m.files.size(); ++i) {
    if (m.files[i].group != static_cast<int32_t>(i)) {
      return Invalid(where, absl::StrCat("files[", i, "].group"),
                     absl::StrCat(m.files[i].group,
                                  "; expected the files in group order"));
    }
  }
  return absl::OkStatus();
}

// The message in protobuf's JSON mapping, as a JSON value; null if it
// cannot be printed (invalid UTF-8 in a string), which ParseManifest
// refuses.
template <typename Message>
OrderedJson ProtoJson(const Message& message) {
  std::string text;
  if (!google::protobuf::util::MessageToJsonString(message, &text).ok()) {
    return nullptr;
  }
  OrderedJson j = OrderedJson::parse(text, nullptr, /*allow_exceptions=*/false);
  return j.is_discarded() ? OrderedJson(nullptr) : j;
}

}  // namespace

absl::Status CheckFileName(absl::string_view name) {
  if (name.empty() || name.size() > 255) {
    return absl::InvalidArgumentError(absl::StrCat(
        "file name of ", name.size(), " characters; expected 1 to 255"));
  }
  if (name == "." || name == "..") {
    return absl::InvalidArgumentError(
        absl::StrCat("file name '", name, "' is a directory"));
  }
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "file name '", absl::CHexEscape(name), "' has byte ",
          static_cast<int>(uint8_t(c)), "; expected only [A-Za-z0-9._-]"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateManifest(const CheckpointManifest& m,
                              absl::string_view where) {
  if (absl::Status s = CheckId(where, "job_id", m.job_id); !s.ok()) return s;
  if (m.checkpoint_id < 0) {
    return Invalid(where, "checkpoint_id",
                   absl::StrCat(m.checkpoint_id, "; expected >= 0"));
  }
  if (m.created_unix_ms < 0) {
    return Invalid(where, "created_unix_ms",
                   absl::StrCat(m.created_unix_ms, "; expected >= 0"));
  }
  if (m.consistency != v1::ASP && m.consistency != v1::BSP &&
      m.consistency != v1::SSP) {
    return Invalid(where, "consistency",
                   absl::StrCat(m.consistency, "; expected ASP, BSP or SSP"));
  }
  if (absl::Status s = CheckSpec(m, where); !s.ok()) return s;
  if (absl::Status s = CheckMap(m, where); !s.ok()) return s;
  if (absl::Status s = CheckRanks(m, where); !s.ok()) return s;
  return CheckFiles(m, where);
}

std::string EncodeManifest(const CheckpointManifest& m) {
  OrderedJson j;
  j["format"] = kManifestFormat;
  j["version"] = kManifestVersion;
  j["job_id"] = m.job_id;
  j["checkpoint_id"] = m.checkpoint_id;
  j["created_unix_ms"] = m.created_unix_ms;
  j["epoch"] = m.epoch;
  j["consistency"] = v1::Consistency_IsValid(m.consistency)
                         ? v1::Consistency_Name(m.consistency)
                         : absl::StrCat(m.consistency);
  OrderedJson ranks = OrderedJson::array();
  for (const CheckpointRank& r : m.ranks) {
    ranks.push_back({{"worker_id", r.worker_id}, {"step", r.step}});
  }
  j["ranks"] = std::move(ranks);
  OrderedJson files = OrderedJson::array();
  for (const CheckpointFile& f : m.files) {
    files.push_back({{"group", f.group},
                     {"name", f.name},
                     {"size", f.size},
                     {"crc32", f.crc32}});
  }
  j["files"] = std::move(files);
  j["job_spec"] = ProtoJson(m.job_spec);
  j["partition_map"] = ProtoJson(m.partition_map);
  // Invalid UTF-8 (only in a manifest ValidateManifest refuses) is
  // replaced rather than thrown.
  return j.dump(2, ' ', /*ensure_ascii=*/false,
                OrderedJson::error_handler_t::replace) +
         "\n";
}

}  // namespace ps::server
