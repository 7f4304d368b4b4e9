// The safetensors file format (as written by huggingface/safetensors),
// read and written without that library:
//
//   uint64   N, the header's length in bytes (little-endian)
//   N bytes  the header: a JSON object mapping each tensor's name to
//            {"dtype": "F32", "shape": [2, 3], "data_offsets": [begin, end]}
//            and optionally "__metadata__" to an object of string values;
//            the writer pads it with spaces so that the data starts at a
//            multiple of 8 bytes, as the reference implementation does
//   the data: every tensor's elements, little-endian, row-major, from byte
//            `begin` to `end` counted from the first data byte
//
// Nothing here knows about tables; client/psctl/safetensors_export.h maps
// an export's tables onto tensors.
#ifndef PS_CLIENT_PSCTL_SAFETENSORS_H_
#define PS_CLIENT_PSCTL_SAFETENSORS_H_

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace ps::client {

struct SafetensorsTensor {
  std::string name;
  std::string dtype;  // one of the names DtypeSize knows, e.g. "F32"
  std::vector<int64_t> shape;
  std::string data;  // product(shape) * DtypeSize(dtype) raw bytes
};

struct Safetensors {
  // Writing: the header lists them in this order. Reading: in the order of
  // their data in the file.
  std::vector<SafetensorsTensor> tensors;
  std::map<std::string, std::string> metadata;  // "__metadata__"
};

// Bytes per element of safetensors dtype `dtype` (BOOL, U8, I8, F8_E5M2,
// F8_E4M3, I16, U16, F16, BF16, I32, U32, F32, I64, U64, F64), or 0 when it
// is not one of them.
int DtypeSize(absl::string_view dtype);

// Largest header accepted, as the reference implementation (100 MB).
inline constexpr uint64_t kMaxSafetensorsHeaderBytes = 100'000'000;

// `file` as safetensors bytes. The data is laid out by decreasing element
// size (stable otherwise), so that every tensor starts at a multiple of its
// element size from the start of the file. INVALID_ARGUMENT naming the
// tensor when a name is repeated, "__metadata__" or not UTF-8, a
// dtype unknown, a dimension negative, or the data not product(shape) *
// element size bytes; or when a metadata key or value is not UTF-8.
absl::StatusOr<std::string> EncodeSafetensors(const Safetensors& file);

// The tensors and metadata of the safetensors file whose bytes are `bytes`.
// Checks, before copying any data: the header length against the bytes
// there (and kMaxSafetensorsHeaderBytes); the header is a well-formed UTF-8
// JSON object; each entry has exactly "dtype" (known), "shape" (integers,
// none negative) and "data_offsets" ([begin, end], begin <= end) and
// product(shape) * element size == end - begin without overflow; the
// tensors, by offset, cover the data exactly (no overlap, no gap, nothing
// past its end, nothing after the last); "__metadata__", when present, is
// an object of strings. Any failure is INVALID_ARGUMENT with a message that
// starts with `source` (the file's name) and says what is wrong. No input
// crashes it; it allocates the parsed JSON header (a small multiple of the
// header's bytes) and one copy of the data, nothing a size field declares.
absl::StatusOr<Safetensors> ParseSafetensors(absl::string_view bytes,
                                             absl::string_view source);

// EncodeSafetensors, written to `path` with WriteFileAtomically.
absl::Status WriteSafetensors(const Safetensors& file, const std::string& path);

// ParseSafetensors of the bytes of `path` (NOT_FOUND when it is missing).
absl::StatusOr<Safetensors> ReadSafetensors(const std::string& path);

}  // namespace ps::client

#endif  // PS_CLIENT_PSCTL_SAFETENSORS_H_
