// Writes the fuzz targets' seed corpora: small valid files from the real
// writers, and malformed ones that each break one rule. Run from the
// repository root after a format changes, and commit the result:
//
//   bazel run //fuzz:write_seeds
//
// (writes fuzz/corpus/<target>/ under the workspace, or under argv[1]).
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>
#include <vector>

#include "client/psctl/psx_format.h"
#include "client/psctl/safetensors.h"
#include "client/psctl/safetensors_export.h"

namespace ps::client {
namespace {

template <typename T>
std::string Le(T v) {
  return std::string(reinterpret_cast<const char*>(&v), sizeof(v));
}

void Write(const std::string& dir, const std::string& name,
           const std::string& bytes) {
  std::filesystem::create_directories(dir);
  std::ofstream(dir + "/" + name, std::ios::binary) << bytes;
}

std::vector<ExportedTable> SomeTables() {
  ExportedTable embed{"embed", {1 << 16, 2}, {1, -2, 3.5f, 0, 1e-3f, 7}};
  embed.sparse = true;
  embed.dim = 2;
  embed.keys = {3, 400, 1ull << 62};
  return {embed,
          {"layer0.weight", {2, 2}, {0.5f, -0.5f, 0.25f, 2}},
          {"bias", {1}, {0.125f}}};
}

void PsxSeeds(const std::string& dir) {
  Write(dir, "valid_tables.psx", *EncodePsx(SomeTables()));
  Write(dir, "valid_dense.psx", *EncodePsx({{"w", {3}, {1, 2, 3}}}));
  Write(dir, "valid_none.psx", *EncodePsx({}));
  Write(dir, "valid_psx1.psx",
        "PSX1" + Le<uint32_t>(1) + Le<uint32_t>(1) + "t" + Le<uint32_t>(1) +
            Le<int64_t>(2) + Le<int64_t>(2) + Le(1.5f) + Le(-2.0f));
  const std::string head = "PSX2" + Le<uint32_t>(1) + Le<uint32_t>(1) + "t";
  Write(dir, "bad_huge_count.psx",
        head + Le<uint32_t>(0) + Le<uint32_t>(0) +
            Le<int64_t>(int64_t{1} << 36) + std::string(8, '\0'));
  Write(dir, "bad_huge_rows.psx",
        head + Le<uint32_t>(1) + Le<uint32_t>(0) + Le<int32_t>(8) +
            Le<int64_t>(1 << 30));
  const int64_t big = int64_t{1} << 32;
  Write(dir, "bad_dims_overflow.psx",
        head + Le<uint32_t>(0) + Le<uint32_t>(3) + Le(big) + Le(big) + Le(big) +
            Le<int64_t>(0));
  const std::string valid = *EncodePsx(SomeTables());
  Write(dir, "bad_truncated.psx", valid.substr(0, valid.size() - 5));
  Write(dir, "bad_unsorted_keys.psx",
        head + Le<uint32_t>(1) + Le<uint32_t>(0) + Le<int32_t>(1) +
            Le<int64_t>(2) + Le<uint64_t>(9) + Le<uint64_t>(3) + Le(1.0f) +
            Le(2.0f));
}

// A safetensors file with header `json` and `data`.
std::string File(const std::string& json, const std::string& data) {
  return Le<uint64_t>(json.size()) + json + data;
}

void SafetensorsSeeds(const std::string& dir) {
  const std::string valid =
      *EncodeSafetensors(*TablesToSafetensors(SomeTables(), {{"job", "j-1"}}));
  Write(dir, "valid_export.safetensors", valid);
  Safetensors plain;
  plain.tensors.push_back({"h", "F16", {2, 2}, std::string(8, '\1')});
  plain.tensors.push_back({"b", "BOOL", {3}, std::string(3, '\1')});
  plain.tensors.push_back({"d", "F64", {1}, Le(2.5)});
  plain.tensors.push_back({"s", "F32", {}, Le(1.0f)});
  Write(dir, "valid_plain.safetensors", *EncodeSafetensors(plain));
  Write(dir, "valid_empty.safetensors", File("{}", ""));
  const std::string entry =
      R"({"a": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}, )";
  Write(dir, "bad_overlap.safetensors",
        File(entry + R"("b": {"dtype": "F32", "shape": [2],
                            "data_offsets": [4, 12]}})",
             std::string(12, '\0')));
  Write(dir, "bad_dtype.safetensors",
        File(R"({"a": {"dtype": "F33", "shape": [2], "data_offsets": [0, 8]}})",
             std::string(8, '\0')));
  Write(dir, "bad_shape.safetensors",
        File(R"({"a": {"dtype": "U8", "shape": [4294967296, 4294967296],
                 "data_offsets": [0, 0]}})",
             ""));
  Write(dir, "bad_json.safetensors", File(R"({"a": {"dtype": )", ""));
  Write(dir, "bad_header_length.safetensors",
        Le<uint64_t>(uint64_t{1} << 40) + "{}");
  Write(dir, "bad_truncated.safetensors", valid.substr(0, valid.size() - 3));
  Write(dir, "bad_metadata.safetensors",
        File(R"({"__metadata__": {"format": 1}})", ""));
}

}  // namespace
}  // namespace ps::client

int main(int argc, char** argv) {
  const char* workspace = std::getenv("BUILD_WORKSPACE_DIRECTORY");
  const std::string root = argc > 1    ? argv[1]
                           : workspace ? std::string(workspace) + "/fuzz/corpus"
                                       : "fuzz/corpus";
  ps::client::PsxSeeds(root + "/psx_reader");
  ps::client::SafetensorsSeeds(root + "/safetensors_reader");
  std::cout << "seeds written to " << root << std::endl;
  return 0;
}
