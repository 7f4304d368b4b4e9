#include "client/call_batch.h"

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
    std::unique_ptr<grpc::ClientContext> context;  // set by Start()
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
  int consuming ABSL_GUARDED_BY(mu) = 0;  // on_response calls running
  bool abandoned ABSL_GUARDED_BY(mu) = false;
  std::vector<Slot> slots;
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
}

CallBatch::CallBatch(int size, absl::Duration timeout, OnResponse on_response)
    : state_(std::make_shared<State>(size, std::move(on_response))),
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
  slot.context = std::make_unique<grpc::ClientContext>();
  slot.context->set_deadline(absl::ToChronoTime(deadline));
  slot.request = request;
  {
    absl::MutexLock lock(&state_->mu);
    ++state_->outstanding;
  }
  std::shared_ptr<State> state = state_;
  stub->UnaryCall(slot.context.get(), method, grpc::StubOptions(),
                  &slot.request, &slot.response,
                  [state, index](grpc::Status status) {
                    state->Finish(index, FromGrpcStatus(status));
                  });
}

std::vector<absl::Status> CallBatch::Wait() {
  std::shared_ptr<State> state = std::move(state_);
  State& s = *state;
  s.mu.Lock();
  const bool finished = s.mu.AwaitWithDeadline(
      absl::Condition(&State::AllDone, &s), last_deadline_ + kWaitGrace);
  std::vector<grpc::ClientContext*> late;
  if (!finished) {
    for (State::Slot& slot : s.slots) {
      if (slot.context != nullptr && !slot.done) late.push_back(slot.context.get());
    }
  }
  s.mu.Unlock();
  // gRPC may run a callback inline from TryCancel, so no lock is held here.
  for (grpc::ClientContext* context : late) context->TryCancel();

  absl::MutexLock lock(&s.mu);
  if (!finished) {
    s.abandoned = true;
    s.mu.Await(absl::Condition(&State::NoneConsuming, &s));
  }
  std::vector<absl::Status> results;
  results.reserve(s.slots.size());
  for (State::Slot& slot : s.slots) {
    if (slot.context == nullptr || slot.done) {
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
