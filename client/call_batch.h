// A batch of unary RPCs in flight at once, with a wait that is always
// bounded.
//
// Start() issues RPCs one at a time, so the caller can prepare the next
// request while earlier ones travel; Wait() returns when all have answered.
// An RPC that gRPC has not answered by its deadline plus kWaitGrace is
// cancelled and abandoned: Wait() still returns, and `on_response` is not
// called for it.
//
// The batch has its own completion queue, and Wait() polls it on the
// caller's thread: that thread reads the answers off the sockets itself and
// runs `on_response` there, in the order the answers come. gRPC's callback
// API, used before, handed every answer from one of its threads to the
// waiting one: one more thread wake-up per call. Measured with
// bench/dataplane_bench on a 2-vCPU VM, ten alternating runs of each: 4 KB
// p50 0.15-0.22 -> 0.13-0.20 ms, 1 MB push 1.4-2.5 -> 1.8-2.5 GB/s, 1 MB
// pull 1.9-3.0 -> 2.3-3.3 GB/s.
//
// A batch given a cancel flag checks it at least every kCancelPoll while it
// waits; once the flag is set, the RPCs still out are cancelled and abandoned
// the same way, and their results are CANCELLED.
//
// Not thread-safe: one thread calls Start() and Wait().
#ifndef PS_CLIENT_CALL_BATCH_H_
#define PS_CLIENT_CALL_BATCH_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/grpcpp.h"

namespace ps::client {

class CallBatch {
 public:
  // How long past an RPC's deadline Wait() waits for gRPC to report it.
  static constexpr absl::Duration kWaitGrace = absl::Seconds(1);
  // How often a wait looks at its cancel flag.
  static constexpr absl::Duration kCancelPoll = absl::Milliseconds(100);
  // How long the thread that takes over abandoned RPCs waits for gRPC to
  // return them (kMaxTransportHold plus a margin). gRPC returns a cancelled
  // call once its transport lets go of it; one that never comes back is
  // logged and its memory leaked, since a queue with tags still out cannot
  // be destroyed.
  static constexpr absl::Duration kDrainLimit = absl::Seconds(30);

  // Called with each OK answer, on the thread in Wait(); its status becomes
  // that RPC's result.
  using OnResponse =
      std::function<absl::Status(int index, grpc::ByteBuffer* response)>;

  // What ends a batch's wait early: the caller's cancel flag, or (a
  // failover) a newer partition map than the one the calls were routed by.
  // Both pointers may be null and must outlive the batch.
  struct StopWhen {
    StopWhen(const std::atomic<bool>* cancelled = nullptr)  // NOLINT
        : cancelled(cancelled) {}
    StopWhen(const std::atomic<bool>* cancelled,
             const std::atomic<uint64_t>* newest_epoch, uint64_t epoch)
        : cancelled(cancelled), newest_epoch(newest_epoch), epoch(epoch) {}
    bool armed() const {
      return cancelled != nullptr || newest_epoch != nullptr;
    }
    bool cancelled_now() const {
      return cancelled != nullptr && cancelled->load();
    }
    bool map_moved() const {
      return newest_epoch != nullptr && newest_epoch->load() > epoch;
    }
    bool operator()() const { return cancelled_now() || map_moved(); }
    const std::atomic<bool>* cancelled = nullptr;
    const std::atomic<uint64_t>* newest_epoch = nullptr;
    uint64_t epoch = 0;
  };

  // Room for RPCs 0 .. size-1, each with deadline `timeout` after its
  // Start(). `on_response` may be empty (answers are then dropped).
  // `cancelled`, if not null, must outlive the batch (see above).
  CallBatch(int size, absl::Duration timeout, OnResponse on_response,
            StopWhen stop = {});
  // Waits as Wait() does if the caller has not.
  ~CallBatch();
  CallBatch(const CallBatch&) = delete;
  CallBatch& operator=(const CallBatch&) = delete;

  // Starts RPC `index` to `method` ("/package.Service/Method"), which must
  // outlive the batch. The request's slices are shared, not copied.
  // Metadata every RPC started from now on carries (the job's token).
  void AddMetadata(std::string key, std::string value) {
    metadata_.emplace_back(std::move(key), std::move(value));
  }
  void Start(int index, grpc::GenericStub* stub, const std::string& method,
             const grpc::ByteBuffer& request);

  // Waits for every started RPC; returns one status per index (OK for an
  // index never started). Call once. Polls for up to `spin` before blocking:
  // waking a blocked thread costs tens of microseconds on some VMs, which is
  // much of a small call's latency, while polling costs only that much CPU.
  std::vector<absl::Status> Wait(absl::Duration spin = absl::ZeroDuration());

  // Takes completions off `cq` until `outstanding` have come back or
  // `deadline` passes; returns how many are still out. For a queue whose
  // calls were all cancelled (the abandoned ones).
  static int Drain(grpc::CompletionQueue* cq, int outstanding,
                   absl::Time deadline);

 private:
  struct Call;
  struct Leftovers;

  // Takes one completion from the queue, waiting until `deadline`; false
  // when there was none.
  bool Next(absl::Time deadline);

  // Waits for answers until they are all in, the last deadline plus
  // kWaitGrace passes, or the cancel flag is set (returns true then).
  bool AwaitAnswers();

  OnResponse on_response_;
  const StopWhen stop_;
  std::unique_ptr<Leftovers> leftovers_;  // the queue and the calls
  std::vector<absl::Status> results_;
  int outstanding_ = 0;
  bool waited_ = false;
  bool abandoned_ = false;  // Wait() gave up on the calls still out
  const absl::Duration timeout_;
  std::vector<std::pair<std::string, std::string>> metadata_;
  absl::Time last_deadline_ = absl::InfinitePast();
};

}  // namespace ps::client

#endif  // PS_CLIENT_CALL_BATCH_H_
