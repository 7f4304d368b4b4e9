// The input layout of the sparse_request fuzz target: a job's sparse shape
// and a request's sparse slices, read field by field (bytes past the
// input's end read as zeros):
//
//   byte 0       bit 0: a push (else a pull); bits 1-2: the consistency
//                (ASP with workers "w0" and "w1", SSP(1) and BSP with them,
//                ASP without workers); bit 3: a push's values are the
//                input's last bytes (else the target makes them, 0.5 each)
//   uint32 LE    sparse_partitions
//   byte         owned partitions, n (low 4 bits), then n uint32 LE
//   byte         SPARSE tables "t0".."t<k-1>", k = 1 + byte % 3, each a
//                uint16 LE dim and a byte optimizer type (% 8); besides
//                them "d", DENSE, 4 values, held whole
//   byte         sparse slices (byte % 8), each a table byte (< k: "t<i>";
//                k: "d"; else "none") and an int64 LE key count
//   uint16 LE    the length of the keys, then their bytes (or what is left)
//   the rest     a push's values, when bit 3 is set
//
// The job is kSparseJob at epoch 1, group 0, PRIMARY.
#ifndef PS_FUZZ_SPARSE_REQUEST_INPUT_H_
#define PS_FUZZ_SPARSE_REQUEST_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "google/protobuf/repeated_ptr_field.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::fuzz {

inline constexpr char kSparseJob[] = "sparse-job";

struct SparseRequestInput {
  bool push = false;
  bool values_from_input = false;
  v1::CreateTablesRequest job;
  google::protobuf::RepeatedPtrField<v1::SparseSlice> slices;
  std::string keys;    // uint64 LE
  std::string values;  // when values_from_input
};

SparseRequestInput DecodeSparseRequest(const uint8_t* data, size_t size);

// An input in that layout, for the seeds.
struct SparseSeed {
  bool push = false;
  int mode = 0;  // bits 1-2 of byte 0
  uint32_t partitions = 0;
  std::vector<uint32_t> owned;
  struct Table {
    uint16_t dim;
    uint8_t optimizer;
  };
  std::vector<Table> tables;
  struct Slice {
    uint8_t table;
    int64_t keys;
  };
  std::vector<Slice> slices;
  std::vector<uint64_t> keys;
  bool values_from_input = false;
  std::string values;
};
std::string EncodeSparseRequest(const SparseSeed& seed);

}  // namespace ps::fuzz

#endif  // PS_FUZZ_SPARSE_REQUEST_INPUT_H_
