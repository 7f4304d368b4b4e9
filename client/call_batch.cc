#include "client/call_batch.h"

#include <atomic>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/strings/str_cat.h"
#include "absl/synchronization/mutex.h"
#include "common/status.h"

namespace ps::client {

// Everything a callback may touch, kept alive by the callbacks themselves so
// that a late answer after Wait() gave up finds valid memory.
struct CallBatch::State {
  struct Slot {
    bool started = false;
    grpc::ByteBuffer request;
    grpc::ByteBuffer response;
    absl::Status result;  // guarded by mu
    bool done = false;    // guarded by mu
  };

  State(int size, OnResponse on_response)
      : slots(size), on_response(std::move(on_response)) {}

  void Finish(int index, absl::Status result);

  static bool AllDone(State* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
    return s->outstanding == 0;
  }
  static bool NoneConsuming(State* s) ABSL_EXCLUSIVE_LOCKS_REQUIRED(s->mu) {
    return s->consuming == 0;
  }

  absl::Mutex mu;
  int outstanding ABSL_GUARDED_BY(mu) = 0;
  // Mirrors `outstanding` for Wait()'s polling; read without the lock.
  std::atomic<int> unfinished{0};
  int consuming ABSL_GUARDED_BY(mu) = 0;  // on_response calls running
  bool abandoned ABSL_GUARDED_BY(mu) = false;
  std::vector<Slot> slots;
  // Contexts of abandoned RPCs, which gRPC may still use.
  std::vector<std::unique_ptr<grpc::ClientContext>> orphans;
  const OnResponse on_response;
};

void CallBatch::State::Finish(int index, absl::Status result) {
  Slot& slot = slots[index];
  const bool consume = result.ok() && on_response != nullptr;
  {
    absl::MutexLock lock(&mu);
    if (abandoned) return;  // Wait() has returned; the caller moved on.
    if (consume) ++consuming;
  }
  // Outside the lock: answers of different RPCs are consumed in parallel.
  if (consume) result = on_response(index, &slot.response);
  slot.response.Clear();
  absl::MutexLock lock(&mu);
  if (consume) --consuming;
  slot.result = std::move(result);
  slot.done = true;
  --outstanding;
  unfinished.fetch_sub(1, std::memory_order_release);
}

CallBatch::CallBatch(int size, absl::Duration timeout, OnResponse on_response)
    : state_(std::make_shared<State>(size, std::move(on_response))),
      contexts_(size),
      timeout_(timeout) {}

CallBatch::~CallBatch() {
  if (state_ != nullptr) Wait();
}

void CallBatch::Start(int index, grpc::GenericStub* stub,
                      const std::string& method,
                      const grpc::ByteBuffer& request) {
  State::Slot& slot = state_->slots[index];
  const absl::Time deadline = absl::Now() + timeout_;
  last_deadline_ = std::max(last_deadline_, deadline);
  std::unique_ptr<grpc::ClientContext>& context = contexts_[index];
  context = std::make_unique<grpc::ClientContext>();
  context->set_deadline(absl::ToChronoTime(deadline));
  slot.started = true;
  slot.request = request;
  {
    absl::MutexLock lock(&state_->mu);
    ++state_->outstanding;
    state_->unfinished.fetch_add(1, std::memory_order_relaxed);
  }
  std::shared_ptr<State> state = state_;
  stub->UnaryCall(context.get(), method, grpc::StubOptions(), &slot.request,
                  &slot.response, [state, index](grpc::Status status) {
                    state->Finish(index, FromGrpcStatus(status));
                  });
}

std::vector<absl::Status> CallBatch::Wait(absl::Duration spin) {
  std::shared_ptr<State> state = std::move(state_);
  State& s = *state;
  const absl::Time spin_until = absl::Now() + spin;
  while (s.unfinished.load(std::memory_order_acquire) > 0 &&
         absl::Now() < spin_until) {
  }
  s.mu.Lock();
  const bool finished = s.mu.AwaitWithDeadline(
      absl::Condition(&State::AllDone, &s), last_deadline_ + kWaitGrace);
  std::vector<int> late;
  if (!finished) {
    for (size_t i = 0; i < s.slots.size(); ++i) {
      if (s.slots[i].started && !s.slots[i].done) late.push_back(i);
    }
  }
  s.mu.Unlock();
  // gRPC may run a callback inline from TryCancel, so no lock is held here.
  for (int i : late) contexts_[i]->TryCancel();

  absl::MutexLock lock(&s.mu);
  if (!finished) {
    s.abandoned = true;
    s.mu.Await(absl::Condition(&State::NoneConsuming, &s));
    for (int i : late) {
      if (!s.slots[i].done) s.orphans.push_back(std::move(contexts_[i]));
    }
  }
  std::vector<absl::Status> results;
  results.reserve(s.slots.size());
  for (State::Slot& slot : s.slots) {
    if (!slot.started || slot.done) {
      results.push_back(slot.result);
    } else {
      results.push_back(absl::DeadlineExceededError(absl::StrCat(
          "no answer within the deadline of ", absl::FormatDuration(timeout_),
          " plus ", absl::FormatDuration(kWaitGrace))));
    }
  }
  return results;
}

}  // namespace ps::client
