// How a PsClient is set up: its options, and the checks that
// PsClient::Create makes of them and of the partition map.
#ifndef PS_CLIENT_PS_CLIENT_OPTIONS_H_
#define PS_CLIENT_PS_CLIENT_OPTIONS_H_

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <vector>
#include <cstdint>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "absl/synchronization/mutex.h"
#include "common/rpc.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {

// 100 us on a machine with at least 4 hardware threads, else 0: with fewer,
// a polling client takes the CPU that servers and other workers on the same
// machine need (measured: a 2-core machine trains the flights example about
// 25% faster without polling).
absl::Duration DefaultSmallCallSpin();

// How a client numbers its pushes (PushRequest.seq).
enum class SeqNumbering {
  // A counter started at the client's creation time in microseconds, so a
  // restarted client with the same worker_id continues above the numbers it
  // used before.
  kCounter,
  // (clock + 1) * kSeqsPerClock + the request's index within its push call:
  // the same in every process for the same step. A worker that takes over a
  // rank and sends a step again sends each request under the number its
  // predecessor used, so a server that had it answers `duplicate`. Needs one
  // push call per clock (a training loop); calls at a repeated clock are
  // treated as retries.
  kByClock,
};
inline constexpr uint64_t kSeqsPerClock = uint64_t{1} << 20;

// A job's data-plane token (common/job_token.h) that its holder renews
// while clients use it (a worker: with each heartbeat). Thread-safe.
class JobTokenHolder {
 public:
  void Set(std::string token) {
    absl::MutexLock lock(&mu_);
    token_ = std::move(token);
  }
  std::string Get() const {
    absl::MutexLock lock(&mu_);
    return token_;
  }

 private:
  mutable absl::Mutex mu_;
  std::string token_ ABSL_GUARDED_BY(mu_);
};

struct PsClientOptions {
  // Identifies this client's pushes so that a retried push is applied once.
  // Must be unique among the job's concurrent clients. Empty: no
  // de-duplication (a retried push may be applied twice).
  std::string worker_id;
  SeqNumbering seq_numbering = SeqNumbering::kCounter;
  // Deadline of each RPC. A call may take up to max_attempts times this.
  absl::Duration rpc_timeout = absl::Seconds(30);
  // Attempts per request. Only UNAVAILABLE is retried (a push keeps its
  // sequence number, so the server applies it once); other errors return.
  int max_attempts = 3;
  // Most value bytes in one request (sparse requests count their keys too),
  // in [4, kMaxMessageBytes / 2]. Smaller chunks start streaming sooner and
  // use more connections; larger ones cost fewer RPCs. A few MB suits both
  // loopback and data-centre links. A dense call of at least 1 MB is also
  // split into up to one request per connection (channels_per_server per
  // server), of no less than 512 KB each.
  int64_t chunk_bytes = kDefaultChunkBytes;
  // TCP connections per server, in [1, 64]. A server's requests are spread
  // over them round-robin, since one HTTP/2 connection is flow-controlled
  // and processed by one thread at a time on each side.
  int channels_per_server = 2;
  // How long a call moving at most 256 KiB polls for its answers before
  // blocking, in [0, 1ms]: waking a blocked thread costs tens of
  // microseconds on some VMs, a large part of a small call's latency.
  absl::Duration small_call_spin = DefaultSmallCallSpin();
  // If set, a call that is waiting for its answers looks at this flag every
  // CallBatch::kCancelPoll; once it is true, the call cancels its RPCs and
  // returns CANCELLED (a push may then have been applied or not; its retry
  // is recognised). How a task stops promptly on SIGTERM or when its job is
  // cancelled, rather than after rpc_timeout. Not owned; must outlive the
  // client.
  const std::atomic<bool>* cancelled = nullptr;
  // Failover. When set, a call that a server answers UNAVAILABLE,
  // FAILED_PRECONDITION, ABORTED or DEADLINE_EXCEEDED asks for the job's
  // current map: refresh_map(epoch of the map the call used, member ids of
  // servers it could not reach) returns it (or an error, which the call
  // returns). With a newer epoch the client routes by it; either way it
  // sends the call again, pushes with the sequence numbers they had, so
  // that each is applied once. It keeps trying for failover_timeout. Unset:
  // such errors are returned at once (the caller refreshes the map).
  std::function<absl::StatusOr<v1::PartitionMap>(
      uint64_t epoch, const std::vector<std::string>& unreachable)>
      refresh_map;
  absl::Duration failover_timeout = absl::Seconds(60);
  // If set, the newest epoch of the job's map that the caller has heard of
  // (a worker: from its heartbeats). A call that waits on servers routed by
  // an older map gives up within CallBatch::kCancelPoll once this moves
  // past it, and (with refresh_map) is sent again by the new map: a frozen
  // server's calls then end when the coordinator replaces it, not at their
  // deadline. Not owned; must outlive the client.
  const std::atomic<uint64_t>* newest_epoch = nullptr;
  // The channels to the servers (null: plaintext).
  std::shared_ptr<const RpcSecurity> security;
  // How values travel (a job's training.compression): dense push requests
  // are encoded by `push` (with error feedback when UsesErrorFeedback says
  // so: the client keeps what a push lost and adds it to the next push of
  // the same refs), sparse rows by `sparse_push`, and pulls ask for `pull`.
  // The default sends float32 both ways.
  v1::CompressionSpec compression;
  // If set, every call carries its current token ("ps-job-token"), as
  // servers of a cluster with TLS require. Not owned; must outlive the
  // client.
  const JobTokenHolder* job_token = nullptr;
};

// INVALID_ARGUMENT naming the first option out of its range.
absl::Status ValidatePsClientOptions(const PsClientOptions& options);

// INVALID_ARGUMENT unless `map` has servers, each with an address, and its
// dense ranges and sparse partitions name only those servers (groups); with
// replica groups, one per server, each with a primary.
absl::Status ValidateClientMap(const v1::PartitionMap& map);

}  // namespace ps::client

#endif  // PS_CLIENT_PS_CLIENT_OPTIONS_H_
