// Bounds how long a server-streaming RPC may sit in one Write. A sync
// ServerWriter::Write blocks while the client reads nothing (flow control),
// pinning a server thread for as long as that client lives if it set no
// deadline. Writes that go through a watchdog are cancelled (the Write then
// returns false, and the handler ends) once one has taken longer than the
// stall limit: a client that reads, however slowly, keeps its stream.
//
// Thread-safe. Owns one thread, joined by the destructor; the watchdog must
// outlive every call that writes through it.
#ifndef PS_COMMON_STREAM_WATCHDOG_H_
#define PS_COMMON_STREAM_WATCHDOG_H_

#include <cstdint>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "grpcpp/grpcpp.h"

namespace ps {

// The daemons' default stall limit (their --stream_stall_timeout).
inline constexpr absl::Duration kStreamStallLimit = absl::Seconds(60);

class StreamWatchdog {
 public:
  // How often the watchdog looks for stalled writes, at most.
  static constexpr absl::Duration kPoll = absl::Milliseconds(100);

  explicit StreamWatchdog(absl::Duration stall_limit);
  ~StreamWatchdog();
  StreamWatchdog(const StreamWatchdog&) = delete;
  StreamWatchdog& operator=(const StreamWatchdog&) = delete;

  absl::Duration stall_limit() const { return stall_limit_; }

  // writer->Write(message), cancelling the call if it has not returned
  // within the stall limit. Returns what Write returned.
  template <typename Writer, typename Message>
  bool Write(grpc::ServerContext* ctx, Writer* writer, const Message& message) {
    Arm(ctx);
    const bool ok = writer->Write(message);
    Disarm(ctx);
    return ok;
  }

  // Calls cancelled for a stalled write so far.
  int64_t cancelled() const;

 private:
  void Arm(grpc::ServerContext* ctx);
  void Disarm(grpc::ServerContext* ctx);
  void Loop();

  const absl::Duration stall_limit_;
  mutable absl::Mutex mu_;
  // Writes in progress and when each becomes stalled.
  absl::flat_hash_map<grpc::ServerContext*, absl::Time> writing_
      ABSL_GUARDED_BY(mu_);
  int64_t cancelled_ ABSL_GUARDED_BY(mu_) = 0;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace ps

#endif  // PS_COMMON_STREAM_WATCHDOG_H_
