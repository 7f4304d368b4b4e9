// libFuzzer target: what a server does with the bytes of a Push (or a
// primary's Replicate) before it touches a table. The input is a
// serialised PushRequest in the pieces gRPC could hand it over in
// (fuzz/request_pieces.h); ParsePushRequest (server/wire_format.h) splits
// it, and TableStore::PreparePush checks it against the job of
// fuzz/data_plane_job.h in a fresh store. A push it accepts is applied
// (ApplyPrepared, as PsService does) and sent again.
//
// Besides what the sanitizers catch, it aborts when:
//   - ParsePushRequest and protobuf's own parser of the whole message
//     disagree on whether it parses, or on any field; or a refusal is not
//     INVALID_ARGUMENT naming ps.v1.PushRequest; or the values it finds are
//     not views into the pieces;
//   - PreparePush accepts what the oracle (fuzz/data_plane_checks.h)
//     refuses or the other way round, or refuses with an error the store
//     does not document, or changes the group while refusing;
//   - ApplyPrepared fails with other than INVALID_ARGUMENT or
//     FAILED_PRECONDITION (a clock out of order), or changes the group
//     while failing, or calls a first push a duplicate; or the same push
//     from a named worker, applied again, is not a duplicate that changes
//     nothing.
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_join.h"
#include "fuzz/data_plane_checks.h"
#include "fuzz/data_plane_job.h"
#include "fuzz/request_pieces.h"
#include "server/table_store.h"
#include "server/value_pieces.h"
#include "server/wire_format.h"

namespace {

using ::ps::fuzz::RequestPieces;
using ::ps::server::TableStore;
using ::ps::server::ValuePieces;
namespace v1 = ::ps::v1;

// ParsePushRequest's result against protobuf's parse of the whole message.
void CheckSplit(const RequestPieces& in, const v1::PushRequest& fields,
                const std::vector<absl::string_view>& values,
                v1::PushRequest whole) {
  if (!fields.values().empty()) abort();
  for (absl::string_view v : values) {
    if (!in.InsideAPiece(v)) abort();
  }
  if (absl::StrJoin(values, "") != whole.values()) abort();
  whole.clear_values();
  if (fields.SerializeAsString() != whole.SerializeAsString()) abort();
}

// A push PreparePush accepted: applied once, then a duplicate.
void Apply(TableStore& store, const ps::server::PreparedPush& prepared,
           const v1::PushRequest& fields, const ValuePieces& values,
           const std::string& before) {
  bool duplicate = false;
  const absl::Status s =
      store.ApplyPrepared(prepared, fields, values, &duplicate);
  const std::string after = ps::fuzz::StateOf(store, ps::fuzz::kJobId, 0);
  if (!s.ok()) {
    if ((s.code() != absl::StatusCode::kInvalidArgument &&
         s.code() != absl::StatusCode::kFailedPrecondition) ||
        after != before) {
      abort();
    }
    return;
  }
  if (duplicate) abort();
  if (fields.worker_id().empty()) return;
  const absl::Status again =
      store.ApplyPrepared(prepared, fields, values, &duplicate);
  if (!again.ok() || !duplicate ||
      ps::fuzz::StateOf(store, ps::fuzz::kJobId, 0) != after) {
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  std::optional<RequestPieces> in = RequestPieces::Split(data, size);
  if (!in) return 0;
  v1::PushRequest fields;
  std::vector<absl::string_view> values;
  const absl::Status parsed =
      ps::server::ParsePushRequest(in->pieces(), &fields, &values);
  v1::PushRequest whole;
  if (whole.ParseFromString(in->message()) != parsed.ok()) abort();
  if (!parsed.ok()) {
    if (parsed.code() != absl::StatusCode::kInvalidArgument ||
        !absl::StartsWith(parsed.message(),
                          "request is not a valid ps.v1.PushRequest")) {
      abort();
    }
    return 0;
  }
  CheckSplit(*in, fields, values, whole);

  const ps::fuzz::JobSetup setup = ps::fuzz::SetupOf(in->setup());
  auto store = ps::fuzz::NewStore(ps::fuzz::DataPlaneJob(setup));
  const std::string before = ps::fuzz::StateOf(*store, ps::fuzz::kJobId, 0);
  const ValuePieces pieces(values);
  if (pieces.bytes() != static_cast<int64_t>(whole.values().size())) abort();
  const absl::StatusOr<ps::server::PreparedPush> prepared =
      store->PreparePush(fields, pieces,
                         setup.backup ? TableStore::PushSource::kPrimary
                                      : TableStore::PushSource::kClient);
  const std::optional<int64_t> expected =
      ps::fuzz::ExpectedPushFloats(fields, whole.values(), setup);
  if (prepared.ok() != expected.has_value()) abort();
  if (!prepared.ok()) {
    if (!ps::fuzz::DocumentedError(prepared.status()) ||
        ps::fuzz::StateOf(*store, ps::fuzz::kJobId, 0) != before) {
      abort();
    }
    return 0;
  }
  Apply(*store, *prepared, fields, pieces, before);
  return 0;
}
