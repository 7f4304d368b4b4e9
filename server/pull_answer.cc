#include "server/pull_answer.h"

#include <cstdlib>
#include <cstring>
#include <memory>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "server/wire_format.h"

namespace ps::server {
namespace {

// Head, the shards' values by reference (or small copies), tail.
grpc::ByteBuffer SharedResponse(const PullPlan& plan,
                                const PullResponseFraming& framing) {
  std::vector<DenseShard::SharedValues> shared;
  plan.Share(&shared);
  std::vector<grpc::Slice> parts;
  parts.reserve(shared.size() + 2);
  if (!framing.head.empty()) parts.emplace_back(framing.head);
  for (DenseShard::SharedValues& values : shared) {
    parts.push_back(SliceOfValues(std::move(values)));
  }
  if (!framing.tail.empty()) parts.emplace_back(framing.tail);
  return grpc::ByteBuffer(parts.data(), parts.size());
}

// One buffer of exactly the response's size, the values read into place.
absl::StatusOr<grpc::ByteBuffer> CopiedResponse(
    const PullPlan& plan, int64_t value_bytes,
    const PullResponseFraming& framing) {
  const size_t size = framing.head.size() + value_bytes + framing.tail.size();
  char* bytes = static_cast<char*>(std::malloc(size));
  if (bytes == nullptr) {
    return absl::ResourceExhaustedError(
        absl::StrCat("cannot allocate a pull response of ", size, " bytes"));
  }
  std::memcpy(bytes, framing.head.data(), framing.head.size());
  plan.ReadEncoded(bytes + framing.head.size());
  std::memcpy(bytes + framing.head.size() + value_bytes, framing.tail.data(),
              framing.tail.size());
  grpc::Slice slice(bytes, size, std::free);  // owns `bytes` from here
  return grpc::ByteBuffer(&slice, 1);
}

}  // namespace

grpc::Slice SliceOfValues(DenseShard::SharedValues values) {
  const size_t bytes = values.count * sizeof(float);
  if (values.count < kMinReferencedValues) {
    return grpc::Slice(values.data.get(), bytes);  // copies
  }
  auto* held = new std::shared_ptr<const float>(std::move(values.data));
  return grpc::Slice(
      const_cast<float*>(held->get()), bytes,
      [](void* p) { delete static_cast<std::shared_ptr<const float>*>(p); },
      held);
}

bool AnswersByReference(const PullPlan& plan) {
  return plan.codec() == v1::FLOAT32 && plan.dense_only() &&
         plan.dense_slices() > 0 &&
         plan.values() >= kMinReferencedValues * plan.dense_slices();
}

absl::Status WritePullResponse(const PullPlan& plan, int64_t staleness,
                               grpc::ByteBuffer* response) {
  const int64_t value_bytes = plan.value_bytes();
  const PullResponseFraming framing = FramePullResponse(value_bytes, staleness);
  if (AnswersByReference(plan)) {
    *response = SharedResponse(plan, framing);
    return absl::OkStatus();
  }
  absl::StatusOr<grpc::ByteBuffer> copied =
      CopiedResponse(plan, value_bytes, framing);
  if (!copied.ok()) return copied.status();
  *response = *std::move(copied);
  return absl::OkStatus();
}

absl::Status AnswerPull(const PullPlan& plan,
                        const absl::StatusOr<int64_t>& staleness,
                        grpc::ByteBuffer* response) {
  if (!staleness.ok()) return staleness.status();
  return WritePullResponse(plan, *staleness, response);
}

}  // namespace ps::server
