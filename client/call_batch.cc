#include "client/call_batch.h"

#include <thread>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "common/status.h"
#include "grpcpp/generic/generic_stub.h"

namespace ps::client {

// One RPC of the batch. Its address is the RPC's completion-queue tag.
struct CallBatch::Call {
  int index = 0;
  grpc::ClientContext context;
  grpc::ByteBuffer request;
  grpc::ByteBuffer response;
  grpc::Status status;
  std::unique_ptr<grpc::GenericClientAsyncResponseReader> reader;
  bool done = false;
};

// What an abandoned batch leaves behind: gRPC still owns tags on the queue,
// so the queue and the calls live until a drainer thread has seen every one.
struct CallBatch::Leftovers {
  grpc::CompletionQueue cq;
  std::vector<std::unique_ptr<Call>> calls;
};

CallBatch::CallBatch(int size, absl::Duration timeout, OnResponse on_response,
                     StopWhen stop)
    : on_response_(std::move(on_response)),
      stop_(stop),
      leftovers_(std::make_unique<Leftovers>()),
      timeout_(timeout) {
  leftovers_->calls.resize(size);
  results_.resize(size);
}

CallBatch::~CallBatch() {
  if (!waited_) Wait();
}

void CallBatch::Start(int index, grpc::GenericStub* stub,
                      const std::string& method,
                      const grpc::ByteBuffer& request) {
  const absl::Time deadline = absl::Now() + timeout_;
  last_deadline_ = std::max(last_deadline_, deadline);
  auto call = std::make_unique<Call>();
  call->index = index;
  call->context.set_deadline(absl::ToChronoTime(deadline));
  for (const auto& [key, value] : metadata_) {
    call->context.AddMetadata(key, value);
  }
  call->request = request;
  call->reader = stub->PrepareUnaryCall(&call->context, method, call->request,
                                        &leftovers_->cq);
  call->reader->StartCall();
  call->reader->Finish(&call->response, &call->status, call.get());
  leftovers_->calls[index] = std::move(call);
  ++outstanding_;
}

bool CallBatch::Next(absl::Time deadline) {
  void* tag = nullptr;
  bool ok = false;
  const grpc::CompletionQueue::NextStatus next =
      leftovers_->cq.AsyncNext(&tag, &ok, absl::ToChronoTime(deadline));
  if (next != grpc::CompletionQueue::GOT_EVENT) return false;
  Call* call = static_cast<Call*>(tag);
  call->done = true;
  --outstanding_;
  if (abandoned_) return true;  // its result is already set
  absl::Status result =
      ok ? FromGrpcStatus(call->status)
         : absl::InternalError("gRPC failed to complete the call");
  if (result.ok() && on_response_) {
    result = on_response_(call->index, &call->response);
  }
  call->response.Clear();
  results_[call->index] = std::move(result);
  return true;
}

std::vector<absl::Status> CallBatch::Wait(absl::Duration spin) {
  waited_ = true;
  const absl::Time spin_until = absl::Now() + spin;
  // A poll that returns at once: the deadline must be a real past time,
  // since gRPC 1.51 reads time_point::min() (absl::InfinitePast()) as no
  // deadline at all.
  while (outstanding_ > 0 && absl::Now() < spin_until) {
    Next(absl::UnixEpoch());
  }
  const bool cancelled = AwaitAnswers();
  if (outstanding_ > 0) {
    for (auto& call : leftovers_->calls) {
      if (call == nullptr || call->done) continue;
      call->context.TryCancel();
      results_[call->index] =
          cancelled
              ? (stop_.cancelled_now() || !stop_.map_moved()
                     ? absl::CancelledError("the caller cancelled the call")
                     : absl::UnavailableError(absl::StrCat(
                           "the partition map moved on from epoch ",
                           stop_.epoch, " while the call waited")))
                    : absl::DeadlineExceededError(
                          absl::StrCat("no answer within the deadline of ",
                                       absl::FormatDuration(timeout_), " plus ",
                                       absl::FormatDuration(kWaitGrace)));
    }
  }
  // Cancelled calls come back at once as a rule; whatever they bring is
  // dropped.
  abandoned_ = true;
  const absl::Time drain_until = absl::Now() + kWaitGrace;
  while (outstanding_ > 0 && Next(drain_until)) {
  }
  leftovers_->cq.Shutdown();
  if (outstanding_ == 0) {
    void* tag;
    bool ok;
    while (leftovers_->cq.Next(&tag, &ok)) {
    }
    leftovers_.reset();
  } else {
    // gRPC has not returned a cancelled call: leave the queue and the calls
    // to a thread that drains it, for up to kDrainLimit.
    Logger("client")->warn(
        "{} RPCs did not come back {} after they were cancelled; leaving them "
        "to a background thread",
        outstanding_, absl::FormatDuration(kWaitGrace));
    std::thread([leftovers = std::move(leftovers_),
                 n = outstanding_]() mutable {
      const int left = Drain(&leftovers->cq, n, absl::Now() + kDrainLimit);
      if (left > 0) {
        Logger("client")->error(
            "{} cancelled RPCs did not come back within {}; leaking their "
            "buffers",
            left, absl::FormatDuration(kDrainLimit));
        leftovers.release();  // NOLINT: gRPC may still write to them
        return;
      }
      void* tag;
      bool ok;
      while (leftovers->cq.Next(&tag, &ok)) {  // shut down: returns at once
      }
    }).detach();
  }
  return results_;
}

bool CallBatch::AwaitAnswers() {
  const absl::Time until = last_deadline_ + kWaitGrace;
  while (outstanding_ > 0) {
    if (stop_()) return true;
    const absl::Time slice = !stop_.armed()
                                 ? until
                                 : std::min(until, absl::Now() + kCancelPoll);
    if (!Next(slice) && slice >= until) return false;
  }
  return false;
}

int CallBatch::Drain(grpc::CompletionQueue* cq, int outstanding,
                     absl::Time deadline) {
  void* tag;
  bool ok;
  while (outstanding > 0 &&
         cq->AsyncNext(&tag, &ok, absl::ToChronoTime(deadline)) ==
             grpc::CompletionQueue::GOT_EVENT) {
    --outstanding;
  }
  return outstanding;
}

}  // namespace ps::client
