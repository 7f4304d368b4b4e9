#include "server/group_snapshot_format.h"

#include <libdeflate.h>

#include <algorithm>
#include <cstring>

#include "absl/base/internal/raw_logging.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"

namespace ps::server::snapshot {
namespace {

// How a field of an encoded optimizer or initializer is shown.
enum class Kind { kType, kSchedule, kInitKind, kF32, kU8, kI32, kI64, kU64 };
struct Field {
  const char* name;
  Kind kind;
};
constexpr Field kOptimizerFields[] = {
    {"type", Kind::kType},
    {"learning_rate", Kind::kF32},
    {"momentum", Kind::kF32},
    {"nesterov", Kind::kU8},
    {"beta1", Kind::kF32},
    {"beta2", Kind::kF32},
    {"epsilon", Kind::kF32},
    {"weight_decay", Kind::kF32},
    {"initial_accumulator", Kind::kF32},
    {"l1", Kind::kF32},
    {"l2", Kind::kF32},
    {"beta", Kind::kF32},
    {"schedule.kind", Kind::kSchedule},
    {"schedule.warmup_steps", Kind::kI64},
    {"schedule.step_size", Kind::kI64},
    {"schedule.gamma", Kind::kF32},
    {"schedule.decay_steps", Kind::kI64},
    {"schedule.min_factor", Kind::kF32},
};
constexpr Field kInitializerFields[] = {
    {"kind", Kind::kInitKind},
    {"scale", Kind::kF32},
    {"seed", Kind::kU64},
};

constexpr size_t Width(Kind kind) {
  switch (kind) {
    case Kind::kU8:
      return 1;
    case Kind::kI64:
    case Kind::kU64:
      return 8;
    default:
      return 4;
  }
}

template <size_t N>
constexpr size_t Bytes(const Field (&fields)[N]) {
  size_t total = 0;
  for (const Field& f : fields) total += Width(f.kind);
  return total;
}
static_assert(Bytes(kOptimizerFields) == kOptimizerBytes);
static_assert(Bytes(kInitializerFields) == kInitializerBytes);

template <typename T>
T Load(const char* p) {
  T v;
  std::memcpy(&v, p, sizeof(v));
  return v;
}

std::string Show(Kind kind, const char* p) {
  switch (kind) {
    case Kind::kType: {
      const int32_t v = Load<int32_t>(p);
      return v1::OptimizerType_IsValid(v)
                 ? v1::OptimizerType_Name(static_cast<v1::OptimizerType>(v))
                 : absl::StrCat(v);
    }
    case Kind::kSchedule: {
      const int32_t v = Load<int32_t>(p);
      return v1::LearningRateSchedule::Kind_IsValid(v)
                 ? v1::LearningRateSchedule::Kind_Name(
                       static_cast<v1::LearningRateSchedule::Kind>(v))
                 : absl::StrCat(v);
    }
    case Kind::kInitKind: {
      const int32_t v = Load<int32_t>(p);
      return v1::Initializer::Kind_IsValid(v)
                 ? v1::Initializer::Kind_Name(
                       static_cast<v1::Initializer::Kind>(v))
                 : absl::StrCat(v);
    }
    case Kind::kF32:
      // %.9g tells every two floats apart.
      return absl::StrFormat("%.9g", Load<float>(p));
    case Kind::kU8:
      return absl::StrCat(Load<uint8_t>(p));
    case Kind::kI32:
      return absl::StrCat(Load<int32_t>(p));
    case Kind::kI64:
      return absl::StrCat(Load<int64_t>(p));
    case Kind::kU64:
      return absl::StrCat(Load<uint64_t>(p));
  }
  return "?";
}

template <size_t N>
std::string Difference(absl::string_view prefix, const Field (&fields)[N],
                       absl::string_view snapshot, absl::string_view here) {
  size_t at = 0;
  for (const Field& f : fields) {
    const size_t n = Width(f.kind);
    if (snapshot.substr(at, n) != here.substr(at, n)) {
      return absl::StrCat(prefix, f.name, ": snapshot ",
                          Show(f.kind, snapshot.data() + at), ", here ",
                          Show(f.kind, here.data() + at));
    }
    at += n;
  }
  return absl::StrCat(prefix, "*: differs");  // bit patterns Show hides
}

}  // namespace

uint32_t Crc32(absl::string_view bytes) { return ContinueCrc32(0, bytes); }

uint32_t ContinueCrc32(uint32_t crc_so_far, absl::string_view bytes) {
  // libdeflate computes zlib's CRC-32, with PCLMULQDQ where the CPU has it.
  return libdeflate_crc32(crc_so_far, bytes.data(), bytes.size());
}

uint32_t SnapshotFileCrc32(absl::string_view snapshot) {
  const absl::string_view trailer =
      snapshot.substr(snapshot.size() - kTrailerBytes);
  uint32_t body = 0;
  for (int i = 3; i >= 0; --i) body = body << 8 | uint8_t(trailer[i]);
  return ContinueCrc32(body, trailer);
}

std::string EncodeOptimizer(const v1::OptimizerSpec& spec) {
  absl::StatusOr<OptimizerParams> resolved = ResolveOptimizerSpec(spec);
  ABSL_RAW_CHECK(resolved.ok(), "a shard's optimizer spec fails validation");
  const OptimizerParams& p = *resolved;
  std::string out;
  SnapshotWriter w(&out);
  w.I32(p.type);
  for (float v : {p.learning_rate, p.momentum}) w.F32(v);
  w.U8(p.nesterov ? 1 : 0);
  for (float v : {p.beta1, p.beta2, p.epsilon, p.weight_decay,
                  p.initial_accumulator, p.l1, p.l2, p.beta}) {
    w.F32(v);
  }
  w.I32(p.schedule.kind);
  w.I64(p.schedule.warmup_steps);
  w.I64(p.schedule.step_size);
  w.F32(p.schedule.gamma);
  w.I64(p.schedule.decay_steps);
  w.F32(p.schedule.min_factor);
  return out;
}

std::string EncodeInitializer(const v1::Initializer& init) {
  std::string out;
  SnapshotWriter w(&out);
  w.I32(init.kind());
  w.F32(init.scale());
  w.U64(init.seed());
  return out;
}

std::string OptimizerDifference(absl::string_view snapshot,
                                absl::string_view here) {
  return Difference("optimizer.", kOptimizerFields, snapshot, here);
}

std::string InitializerDifference(absl::string_view snapshot,
                                  absl::string_view here) {
  return Difference("initializer.", kInitializerFields, snapshot, here);
}

}  // namespace ps::server::snapshot
