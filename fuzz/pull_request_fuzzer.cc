// libFuzzer target: what a server does with the bytes of a Pull. The input
// is a serialised PullRequest in the pieces gRPC could hand it over in
// (fuzz/request_pieces.h); ParseMessage (server/wire_format.h) parses it,
// and TableStore::PlanPull checks it against the job of
// fuzz/data_plane_job.h in a fresh store. A pull it plans is awaited with
// a deadline in the past (the check a pull makes before it waits), read,
// and framed as the answer is.
//
// Besides what the sanitizers catch, it aborts when:
//   - ParseMessage and protobuf's parser of the whole message disagree, or
//     a refusal is not INVALID_ARGUMENT naming ps.v1.PullRequest;
//   - PlanPull accepts what the oracle (fuzz/data_plane_checks.h) refuses
//     or the other way round, or plans another number of floats, or
//     refuses with an error the store does not document, or changes the
//     group while refusing;
//   - the wait fails with other than DEADLINE_EXCEEDED, or under ASP, or
//     gives a negative staleness;
//   - Read leaves a float unwritten or not an initial value (finite, within
//     the initializer's scale), or a second Read differs, or a dense-only
//     pull's shared values differ from what Read wrote;
//   - the framed answer does not parse back to these values and staleness.
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <memory>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/time/time.h"
#include "fuzz/data_plane_checks.h"
#include "fuzz/data_plane_job.h"
#include "fuzz/request_pieces.h"
#include "server/table_store.h"
#include "server/wire_format.h"

namespace {

using ::ps::fuzz::RequestPieces;
using ::ps::server::PullPlan;
namespace v1 = ::ps::v1;

// The initializer's scale in fuzz/data_plane_job.cc.
constexpr float kScale = 0.1f;

// Read into a block of exactly its size (so that ASan sees an overrun),
// filled with NaNs first (so that a float left unwritten shows).
std::string ReadAll(const PullPlan& plan) {
  const size_t bytes = plan.values() * sizeof(float);
  auto block = std::make_unique<char[]>(bytes);
  std::memset(block.get(), 0xff, bytes);
  plan.Read(block.get());
  return std::string(block.get(), bytes);
}

void CheckValues(const PullPlan& plan, const std::string& values) {
  for (size_t at = 0; at < values.size(); at += 4) {
    float v;
    std::memcpy(&v, values.data() + at, 4);
    if (!std::isfinite(v) || std::fabs(v) > kScale) abort();
  }
  if (ReadAll(plan) != values) abort();
  if (!plan.dense_only()) return;
  std::vector<ps::server::DenseShard::SharedValues> shared;
  plan.Share(&shared);
  std::string joined;
  for (const auto& s : shared) {
    joined.append(reinterpret_cast<const char*>(s.data.get()),
                  s.count * sizeof(float));
  }
  if (joined != values) abort();
}

void CheckFraming(const std::string& values, int64_t staleness) {
  const ps::server::PullResponseFraming framing =
      ps::server::FramePullResponse(values.size(), staleness);
  v1::PullResponse answer;
  if (!answer.ParseFromString(framing.head + values + framing.tail) ||
      answer.values() != values || answer.staleness() != staleness) {
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<RequestPieces> in = RequestPieces::Split(data, size);
  if (!in) return 0;
  v1::PullRequest request;
  const absl::Status parsed = ps::server::ParseMessage(in->pieces(), &request);
  v1::PullRequest whole;
  if (whole.ParseFromString(in->message()) != parsed.ok()) abort();
  if (!parsed.ok()) {
    if (parsed.code() != absl::StatusCode::kInvalidArgument ||
        !absl::StrContains(parsed.message(), "ps.v1.PullRequest")) {
      abort();
    }
    return 0;
  }
  if (request.SerializeAsString() != whole.SerializeAsString()) abort();

  const ps::fuzz::JobSetup setup = ps::fuzz::SetupOf(in->setup());
  auto store = ps::fuzz::NewStore(ps::fuzz::DataPlaneJob(setup));
  const std::string before = ps::fuzz::StateOf(*store, ps::fuzz::kJobId, 0);
  absl::StatusOr<PullPlan> plan = store->PlanPull(request);
  const std::optional<int64_t> expected =
      ps::fuzz::ExpectedPullFloats(request, setup);
  if (plan.ok() != expected.has_value()) abort();
  if (!plan.ok()) {
    if (!ps::fuzz::DocumentedError(plan.status()) ||
        ps::fuzz::StateOf(*store, ps::fuzz::kJobId, 0) != before) {
      abort();
    }
    return 0;
  }
  if (plan->values() != *expected) abort();
  const absl::StatusOr<int64_t> staleness = plan->Await(absl::InfinitePast());
  if (!staleness.ok()) {
    if (staleness.status().code() != absl::StatusCode::kDeadlineExceeded ||
        setup.mode == v1::ASP) {
      abort();
    }
    return 0;
  }
  if (*staleness < 0) abort();
  const std::string values = ReadAll(*plan);
  CheckValues(*plan, values);
  CheckFraming(values, *staleness);
  return 0;
}
