// libFuzzer target: a server's checks of a request's sparse slices
// (server/sparse_keys.h: DecodeKeys, CheckDistinct, OwnedPartitions) and
// the store's sparse pulls and pushes behind them, for a job whose sparse
// shape comes from the input too: its partitions, the ones this server
// owns, its tables' row widths and optimizers: fuzz/sparse_request_input.h
// lays the input out.
//
// Besides what the sanitizers catch, it aborts when:
//   - DecodeKeys, CheckDistinct or CheckOwned disagree with a plain
//     reading of their contracts, or name another key;
//   - CreateTables refuses what ValidateCreateTables and MakeUpdateRule
//     accept, or the other way round;
//   - PlanPull or Push accepts what the contract (every slice a SPARSE
//     table, keys >= 1 and 8 bytes each, every key owned; for a push keys
//     distinct per slice, values of keys x dim floats, all finite; for a
//     pull at most max_pull_bytes of rows) refuses, or the other way round; an
//     error is not one the store documents;
//   - a pull's plan has other than keys x dim floats, or reading it
//     creates other rows than its distinct keys; a refused request creates
//     a row or applies anything.
#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/time.h"
#include "common/hash.h"
#include "fuzz/data_plane_checks.h"
#include "fuzz/sparse_request_input.h"
#include "server/sparse_keys.h"
#include "server/table_defs.h"
#include "server/table_store.h"
#include "server/update_rule.h"

namespace {

namespace v1 = ::ps::v1;
using ::ps::server::TableStore;
using Input = ::ps::fuzz::SparseRequestInput;
using ::ps::fuzz::kSparseJob;

// A push's generated values are at most this many floats (else none).
constexpr int64_t kMaxGeneratedFloats = int64_t{1} << 20;

std::vector<uint64_t> KeysOf(const std::string& bytes) {
  std::vector<uint64_t> keys(bytes.size() / 8);
  if (!keys.empty()) std::memcpy(keys.data(), bytes.data(), keys.size() * 8);
  return keys;
}

// The keys when DecodeKeys must accept them (keys >= 1 each, 8 bytes a
// key counted), else nothing.
std::optional<std::vector<uint64_t>> ExpectedKeys(const Input& in) {
  __int128 counted = 0;
  for (const v1::SparseSlice& s : in.slices) {
    if (s.keys() < 1) return std::nullopt;
    counted += s.keys();
  }
  if (counted * 8 != static_cast<__int128>(in.keys.size())) {
    return std::nullopt;
  }
  return KeysOf(in.keys);
}

void CheckDecodeKeys(const Input& in) {
  absl::StatusOr<std::vector<uint64_t>> keys =
      ps::server::DecodeKeys(in.slices, in.keys);
  const std::optional<std::vector<uint64_t>> expected = ExpectedKeys(in);
  if (keys.ok() != expected.has_value()) abort();
  if (!keys.ok()) {
    if (keys.status().code() != absl::StatusCode::kInvalidArgument) abort();
    return;
  }
  if (*keys != *expected) abort();
}

// CheckDistinct on every slice's keys against a set.
void CheckDistinctKeys(const Input& in, const std::vector<uint64_t>& keys) {
  size_t at = 0;
  for (const v1::SparseSlice& s : in.slices) {
    const auto slice = absl::MakeConstSpan(keys).subspan(at, s.keys());
    at += s.keys();
    std::set<uint64_t> seen;
    std::optional<uint64_t> repeated;
    for (uint64_t k : slice) {
      if (!seen.insert(k).second) {
        repeated = k;
        break;
      }
    }
    const absl::Status st = ps::server::CheckDistinct(slice, s.table());
    if (st.ok() != !repeated.has_value()) abort();
    if (!st.ok() && (st.code() != absl::StatusCode::kInvalidArgument ||
                     !absl::StrContains(
                         st.message(), absl::StrCat("key ", *repeated, " ")))) {
      abort();
    }
  }
}

bool Owned(const v1::CreateTablesRequest& job, uint64_t key) {
  if (job.sparse_partitions() == 0) return false;
  const uint32_t p = ps::SparsePartition(key, job.sparse_partitions());
  return std::find(job.owned_partitions().begin(), job.owned_partitions().end(),
                   p) != job.owned_partitions().end();
}

// CheckOwned on all keys against SparsePartition; `job` is valid.
void CheckOwnedKeys(const v1::CreateTablesRequest& job,
                    const std::vector<uint64_t>& keys) {
  const ps::server::OwnedPartitions owned(
      job.sparse_partitions(),
      std::vector<uint32_t>(job.owned_partitions().begin(),
                            job.owned_partitions().end()));
  std::optional<uint64_t> stranger;
  for (uint64_t k : keys) {
    if (owned.Owns(k) != Owned(job, k)) abort();
    if (!stranger && !Owned(job, k)) stranger = k;
  }
  const absl::Status s = owned.CheckOwned(keys, "t0", 1);
  if (s.ok() != !stranger.has_value()) abort();
  if (!s.ok() &&
      (s.code() != absl::StatusCode::kFailedPrecondition ||
       !absl::StrContains(s.message(), absl::StrCat("key ", *stranger, " ")))) {
    abort();
  }
}

int DimOf(const v1::CreateTablesRequest& job, const std::string& table) {
  for (const v1::TableDef& t : job.tables()) {
    if (t.name() == table) return t.kind() == v1::SPARSE ? t.dim() : 0;
  }
  return 0;
}

// The floats the request's rows hold when the store must accept its keys
// (SPARSE tables, keys decode, all owned; distinct per slice for a push),
// else nothing.
std::optional<int64_t> ExpectedFloats(const Input& in) {
  std::optional<std::vector<uint64_t>> keys = ExpectedKeys(in);
  if (!keys) return std::nullopt;
  int64_t floats = 0;
  size_t at = 0;
  for (const v1::SparseSlice& s : in.slices) {
    const int dim = DimOf(in.job, s.table());
    if (dim == 0) return std::nullopt;
    std::set<uint64_t> seen;
    for (int64_t i = 0; i < s.keys(); ++i, ++at) {
      if (!Owned(in.job, (*keys)[at])) return std::nullopt;
      if (in.push && !seen.insert((*keys)[at]).second) return std::nullopt;
    }
    floats += s.keys() * dim;
  }
  return floats;
}

// Rows held per table.
std::map<std::string, int64_t> Rows(const TableStore& store) {
  std::map<std::string, int64_t> rows;
  for (const v1::TableStatus& t : store.Status()) {
    if (t.kind() == v1::SPARSE) rows[t.table()] = t.rows();
  }
  return rows;
}

// Distinct keys per table of the request's slices.
std::map<std::string, int64_t> DistinctKeys(const Input& in) {
  std::map<std::string, std::set<uint64_t>> keys;
  const std::vector<uint64_t> all = KeysOf(in.keys);
  size_t at = 0;
  for (const v1::SparseSlice& s : in.slices) {
    for (int64_t i = 0; i < s.keys(); ++i) keys[s.table()].insert(all[at++]);
  }
  std::map<std::string, int64_t> rows;
  for (const v1::TableDef& t : in.job.tables()) {
    if (t.kind() == v1::SPARSE) rows[t.name()] = keys[t.name()].size();
  }
  return rows;
}

void Pull(TableStore& store, const Input& in, std::optional<int64_t> expected) {
  if (expected &&
      *expected * 4 > ps::server::TableStoreOptions().max_pull_bytes) {
    expected.reset();  // a pull larger than a response may be
  }
  v1::PullRequest request;
  request.set_job_id(kSparseJob);
  request.set_epoch(1);
  *request.mutable_sparse() = in.slices;
  request.set_keys(in.keys);
  const std::map<std::string, int64_t> before = Rows(store);
  absl::StatusOr<ps::server::PullPlan> plan = store.PlanPull(request);
  if (plan.ok() != expected.has_value()) abort();
  if (!plan.ok()) {
    if (!ps::fuzz::DocumentedError(plan.status()) || Rows(store) != before) {
      abort();
    }
    return;
  }
  if (plan->values() != *expected || Rows(store) != before) abort();
  if (!plan->Await(absl::InfinitePast()).ok()) abort();  // clock 0
  const size_t bytes = plan->values() * sizeof(float);
  auto block = std::make_unique<char[]>(bytes);
  plan->Read(block.get());
  if (Rows(store) != DistinctKeys(in)) abort();
}

void Push(TableStore& store, const Input& in, std::optional<int64_t> expected) {
  v1::PushRequest request;
  request.set_job_id(kSparseJob);
  request.set_epoch(1);
  request.set_worker_id(in.job.worker_ids_size() > 0 ? "w0" : "");
  request.set_seq(1);
  request.set_clock_pushes(1);
  *request.mutable_sparse() = in.slices;
  request.set_keys(in.keys);
  std::string values = in.values;
  if (!in.values_from_input && expected && *expected <= kMaxGeneratedFloats) {
    const float half = 0.5f;
    for (int64_t i = 0; i < *expected; ++i) {
      values.append(reinterpret_cast<const char*>(&half), sizeof(half));
    }
  }
  if (expected) {
    bool finite = values.size() == static_cast<size_t>(*expected) * 4;
    for (size_t at = 0; finite && at < values.size(); at += 4) {
      float v;
      std::memcpy(&v, values.data() + at, 4);
      finite = std::isfinite(v);
    }
    if (!finite) expected.reset();
  }
  request.set_values(values);
  const std::map<std::string, int64_t> before = Rows(store);
  bool duplicate = false;
  const absl::Status s = store.Push(request, &duplicate);
  if (s.ok() != expected.has_value()) abort();
  if (!s.ok()) {
    if (!ps::fuzz::DocumentedError(s) || Rows(store) != before ||
        store.JobStats().at(0).pushes_applied() != 0) {
      abort();
    }
    return;
  }
  if (duplicate) abort();
  // Under BSP the rows wait in the clock's sums until every worker pushed.
  if (in.job.consistency() != v1::BSP && Rows(store) != DistinctKeys(in)) {
    abort();
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const Input in = ps::fuzz::DecodeSparseRequest(data, size);
  CheckDecodeKeys(in);
  if (std::optional<std::vector<uint64_t>> keys = ExpectedKeys(in)) {
    CheckDistinctKeys(in, *keys);
  }
  const absl::Status valid = ps::server::ValidateCreateTables(in.job);
  bool rules = true;
  for (const v1::TableDef& t : in.job.tables()) {
    rules = rules && ps::server::MakeUpdateRule(t.optimizer()).ok();
  }
  auto store = std::make_unique<TableStore>();
  const absl::Status created = store->CreateTables(in.job);
  if (created.ok() != (valid.ok() && rules)) abort();
  if (!created.ok()) {
    if (created.code() != absl::StatusCode::kInvalidArgument) abort();
    return 0;
  }
  CheckOwnedKeys(in.job, KeysOf(in.keys));
  const std::optional<int64_t> expected = ExpectedFloats(in);
  if (in.push) {
    Push(*store, in, expected);
  } else {
    Pull(*store, in, expected);
  }
  return 0;
}
