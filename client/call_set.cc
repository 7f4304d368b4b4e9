#include "client/call_set.h"

#include <algorithm>
#include <numeric>
#include <utility>

#include "common/job_token.h"
#include "common/status.h"

namespace ps::client {
namespace {

absl::Duration Backoff(int attempt) {
  return std::min(absl::Milliseconds(100) * (1 << std::min(attempt - 1, 4)),
                  absl::Seconds(1));
}

// One attempt at the RPCs `todo` of `calls`; the status of each.
std::vector<absl::Status> Attempt(const CallSet& calls,
                                  const std::vector<int>& todo, bool first,
                                  const std::function<void(int)>& prepare,
                                  const CallBatch::OnResponse& on_response,
                                  const PsClientOptions& options,
                                  const CallBatch::StopWhen& stop) {
  CallBatch::OnResponse consume;
  if (on_response) {
    consume = [&todo, &on_response](int k, grpc::ByteBuffer* response) {
      return on_response(todo[k], response);
    };
  }
  CallBatch batch(static_cast<int>(todo.size()), options.rpc_timeout,
                  std::move(consume), stop);
  if (options.job_token != nullptr) {
    batch.AddMetadata(kJobTokenMetadata, options.job_token->Get());
  }
  for (size_t k = 0; k < todo.size(); ++k) {
    const int i = todo[k];
    if (first) prepare(i);
    batch.Start(static_cast<int>(k), calls.stubs[i], *calls.methods[i],
                *calls.requests[i]);
  }
  return batch.Wait(calls.bytes <= kSmallCallBytes ? options.small_call_spin
                                                   : absl::ZeroDuration());
}

}  // namespace

void AppendCalls(const CallSet& calls, const std::string* op, CallSet* all) {
  const CallSet& c = calls;
  all->stubs.insert(all->stubs.end(), c.stubs.begin(), c.stubs.end());
  all->requests.insert(all->requests.end(), c.requests.begin(),
                       c.requests.end());
  all->servers.insert(all->servers.end(), c.servers.begin(), c.servers.end());
  all->methods.insert(all->methods.end(), c.methods.begin(), c.methods.end());
  all->ops.insert(all->ops.end(), c.stubs.size(), op);
  all->bytes += c.bytes;
}

absl::Status RunCalls(const CallSet& calls,
                      const std::function<void(int)>& prepare,
                      const CallBatch::OnResponse& on_response,
                      const PsClientOptions& options,
                      absl::FunctionRef<std::string(int)> describe,
                      uint64_t epoch) {
  std::vector<int> todo(calls.stubs.size());
  std::iota(todo.begin(), todo.end(), 0);
  const CallBatch::StopWhen stop(options.cancelled, options.newest_epoch,
                                 epoch);
  auto cancelled = [&] { return stop.cancelled_now(); };
  for (int attempt = 1; !todo.empty(); ++attempt) {
    // A cancelled caller sends nothing more: no first RPC, no retry.
    if (cancelled()) {
      return Annotate(absl::CancelledError("the caller cancelled the call"),
                      describe(todo[0]));
    }
    const std::vector<absl::Status> results = Attempt(
        calls, todo, attempt == 1, prepare, on_response, options, stop);
    std::vector<int> retry;
    for (size_t k = 0; k < todo.size(); ++k) {
      if (results[k].ok()) continue;
      if (absl::IsUnavailable(results[k]) && attempt < options.max_attempts) {
        retry.push_back(todo[k]);
        continue;
      }
      return Annotate(results[k], describe(todo[k]));
    }
    todo = std::move(retry);
    if (todo.empty()) break;
    // The backoff, cut short by a cancel.
    const absl::Time until = absl::Now() + Backoff(attempt);
    while (!cancelled() && absl::Now() < until) {
      absl::SleepFor(std::min(CallBatch::kCancelPoll, until - absl::Now()));
    }
  }
  return absl::OkStatus();
}

}  // namespace ps::client
