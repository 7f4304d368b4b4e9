// The data-plane client: pulls and pushes dense values and sparse rows of
// one job across all parameter servers of a partition map. Used by workers,
// `psctl export` and the benchmarks.
//
// A call routes every TableRef through the map, packs the pieces for each
// server into requests of at most PsClientOptions::chunk_bytes of values,
// and sends all of them at once, spread over several connections per server.
// The plan for a list of refs is kept, so repeating a call with the same refs
// (a training loop) skips routing and reuses request headers. Dense push
// values are sent from the caller's buffer without a copy, unless
// PsClientOptions::compression encodes them. Sparse keys are
// routed per call (they change every step): each key goes to the server of
// its virtual partition, and one call sends at most one request per server
// for its sparse rows (more when they exceed chunk_bytes), concurrently with
// the dense ones.
//
// Thread-compatible: one Pull() or Push() at a time per client. Separate
// clients are independent.
#ifndef PS_CLIENT_PS_CLIENT_H_
#define PS_CLIENT_PS_CLIENT_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "absl/types/span.h"
#include "client/call_batch.h"
#include "client/call_set.h"
#include "client/chunk_plan.h"  // TableRef
#include "client/ps_client_options.h"
#include "client/sparse_plan.h"
#include "client/wire_format.h"
#include "common/rpc.h"
#include "grpcpp/generic/generic_stub.h"
#include "grpcpp/support/slice.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::client {

// Rows of a sparse table in one call: the row of keys[i] is
// rows[i * dim, (i + 1) * dim), dim being the table's row width. A pull
// writes the rows; keys may repeat. A push reads them as gradients; keys
// must be distinct (sum the gradients of a repeated key first).
struct SparsePullRef {
  std::string table;
  absl::Span<const uint64_t> keys;
  float* rows = nullptr;
};
struct SparsePushRef {
  std::string table;
  absl::Span<const uint64_t> keys;
  const float* grads = nullptr;
};

class PsClient {
 public:
  // Connects (lazily) to every server of `map`. INVALID_ARGUMENT names the
  // bad option or map field; nothing is sent.
  static absl::StatusOr<std::unique_ptr<PsClient>> Create(
      std::string job_id, v1::PartitionMap map, PsClientOptions options);

  PsClient(const PsClient&) = delete;
  PsClient& operator=(const PsClient&) = delete;

  // Fills buffer[r.buffer_offset, r.buffer_offset + r.count) with values
  // [r.offset, r.offset + r.count) of table r.table, for every r in refs.
  // `buffer` must hold max(buffer_offset + count) floats.
  //
  // `clock` is the number of steps this worker has finished: under BSP and
  // SSP each server holds the pull until the job's consistency model lets
  // that clock read (at most rpc_timeout). *staleness, if not null, gets the
  // largest staleness the servers reported. Clock 0 never waits.
  //
  // Errors; on any, the buffer's contents are unspecified:
  //   INVALID_ARGUMENT, NOT_FOUND, OUT_OF_RANGE  a bad ref (see PlanChunks)
  //       or a negative clock; found before any RPC
  //   FAILED_PRECONDITION  a server is at another epoch: refresh the map and
  //       create a new client
  //   UNAVAILABLE, DEADLINE_EXCEEDED  a server cannot be reached in time, or
  //       (BSP/SSP) other workers did not reach the clock in time
  //   DATA_LOSS  a server answered with the wrong number of values
  // A server-side error keeps its code, and its message is prefixed with
  // "job J: pull from server M at HOST:PORT".
  absl::Status Pull(const std::vector<TableRef>& refs, float* buffer,
                    int64_t clock, int64_t* staleness);
  // Pull at clock 0: for ASP jobs and tools that read without training.
  absl::Status Pull(const std::vector<TableRef>& refs, float* buffer);
  // Pull of dense refs and sparse rows in one step (one set of concurrent
  // RPCs). Besides the errors above, INVALID_ARGUMENT for a sparse ref that
  // names a dense table or has a null rows pointer, NOT_FOUND for an
  // unknown table; both found before any RPC.
  absl::Status Pull(const std::vector<TableRef>& refs, float* buffer,
                    const std::vector<SparsePullRef>& sparse, int64_t clock,
                    int64_t* staleness);

  // Sends grads[r.buffer_offset, r.buffer_offset + r.count) as the gradient
  // of values [r.offset, r.offset + r.count) of r.table, for every r, as the
  // gradient of step `clock`; each server applies its optimizer (under BSP,
  // once every worker's gradient for the clock arrived). A worker's pushes
  // must come in clock order. gRPC sends the dense values straight from
  // `grads` (no copy), so the caller must not change them until Push
  // returns; Push returns only once gRPC has let go of them, and they are
  // not referenced after (should gRPC hold them kMaxTransportHold past a
  // failed call, Push says so with INTERNAL, and `grads` must then stay
  // valid for the life of the process). Errors as for Pull; after an error
  // some requests may have been applied and others not.
  absl::Status Push(const std::vector<TableRef>& refs, const float* grads,
                    int64_t clock);
  // Push as clock 0: for ASP jobs without clock tracking.
  absl::Status Push(const std::vector<TableRef>& refs, const float* grads);
  // Push of dense gradients and sparse row gradients in one step. When the
  // job has sparse tables and this client has a worker_id, every server gets
  // at least one request (an empty one if nothing else), so that each server
  // sees every worker finish the clock (BSP, SSP).
  absl::Status Push(const std::vector<TableRef>& refs, const float* grads,
                    const std::vector<SparsePushRef>& sparse, int64_t clock);

  // A training step's exchange in one round trip: pushes the gradient of
  // step push_clock and pulls for step pull_clock (normally push_clock + 1)
  // with every RPC of both in flight at once. The pull may be answered
  // before the push beside it is applied, so the values may lack this
  // worker's own latest gradient. Meant for ASP, where pulls never wait:
  // under BSP (or SSP with a small bound) the pull may wait on the server
  // for the very push sent beside it, and a push that fails with
  // UNAVAILABLE is retried only after the whole call, i.e. after that pull
  // timed out; use Push then Pull there. Errors as for Push and Pull; after
  // an error the buffer's contents are unspecified and some pushes may have
  // been applied.
  absl::Status PushAndPull(const std::vector<TableRef>& push_refs,
                           const float* grads,
                           const std::vector<SparsePushRef>& push_sparse,
                           int64_t push_clock,
                           const std::vector<TableRef>& pull_refs,
                           float* buffer,
                           const std::vector<SparsePullRef>& pull_sparse,
                           int64_t pull_clock, int64_t* staleness);

  // The map the client routes by: the one it was created with, or a newer
  // one a failover brought (PsClientOptions::refresh_map).
  const v1::PartitionMap& map() const { return map_; }
  const std::string& job_id() const { return job_id_; }

 private:
  // Where one replica group's requests go: its primary.
  struct Server {
    std::string member_id;
    std::string address;
    std::string label;  // "server M at HOST:PORT", for errors
    std::vector<std::unique_ptr<grpc::GenericStub>> stubs;  // one per channel
  };
  // Everything about one list of refs that outlives a call.
  struct Plan {
    bool valid = false;
    std::vector<TableRef> refs;
    std::vector<Chunk> chunks;
    // Per chunk:
    std::vector<grpc::GenericStub*> stubs;
    std::vector<grpc::ByteBuffer> requests;
    std::vector<grpc::Slice> pull_prefixes;  // pulls only
    std::vector<int64_t> staleness;          // pulls only
    std::vector<std::string> push_prefixes;  // pushes only
  };
  // Error feedback of dense pushes (PsClientOptions::compression): per
  // float of the callers' gradient buffer, what earlier pushes of `refs`
  // lost to the codec, and this push's gradient plus that.
  struct Feedback {
    std::vector<TableRef> refs;
    std::vector<float> residual;
    std::vector<float> meant;
  };
  struct Stage;
  using PrepareFn = std::function<void(int call)>;
  using SerializeFn = std::function<std::string(const SparseRequest&)>;

  PsClient(std::string job_id, v1::PartitionMap map, PsClientOptions options,
           std::vector<Server> servers);

  // Where each group of `map` is served (its primary), with stubs; the
  // stubs of `old` are kept for a group whose primary did not move.
  static std::vector<Server> Connect(const v1::PartitionMap& map,
                                     const PsClientOptions& options,
                                     std::vector<Server> old = {});
  // Runs `attempt` and, when it fails in a way a failover explains and
  // refresh_map is set, refreshes the map and runs it again (see
  // PsClientOptions::refresh_map).
  absl::Status WithFailover(const std::function<absl::Status()>& attempt);

  absl::Status UpdatePlan(const std::vector<TableRef>& refs, Plan* plan);
  void PreparePull(Plan* plan, int chunk, const grpc::Slice& clock_field);
  // The values are lent from `grads` through `loan`, not copied; or,
  // under a push codec, encoded (and what they lost written to
  // feedback_.residual when error feedback is on).
  void PreparePush(Plan* plan, int chunk, const float* grads, int64_t clock,
                   int32_t clock_pushes, uint64_t seq, Loan* loan);
  // The gradients a push of `refs` sends: `grads`, or with error feedback
  // `grads` plus what earlier pushes of the same refs lost (the same for
  // every attempt of one push, so a push sent again is encoded the same).
  const float* WithFeedback(const std::vector<TableRef>& refs,
                            const float* grads);
  // Checks and routes one pull or push and builds its requests; nothing is
  // sent. Run() sends the RPCs of one or more stages at once.
  absl::StatusOr<std::unique_ptr<Stage>> StagePull(
      const std::vector<TableRef>& refs, float* buffer,
      const std::vector<SparsePullRef>& sparse, int64_t clock,
      int64_t* staleness);
  // `*seq_base` 0: take fresh sequence numbers (and set it); else reuse
  // those from it on, as a push sent again after a failover must.
  absl::StatusOr<std::unique_ptr<Stage>> StagePush(
      const std::vector<TableRef>& refs, const float* grads,
      const std::vector<SparsePushRef>& sparse, int64_t clock,
      uint64_t* seq_base);
  absl::Status Run(const std::vector<Stage*>& stages);
  // What a pull and a push stage share: checks the clock and the refs
  // (`kind`: "pull" or "push", for messages), plans the dense refs into
  // *plan, routes the sparse keys of `tables`, folds small dense chunks
  // into their requests and adds the RPCs of the others.
  absl::StatusOr<std::unique_ptr<Stage>> StartStage(
      absl::string_view kind, int64_t clock, const std::vector<TableRef>& refs,
      std::vector<SparseKeys> tables, Plan* plan);
  // Adds the RPC of each of the stage's sparse requests, its body made by
  // `serialize`.
  void AddSparseCalls(Stage* st, const std::string& method,
                      const SerializeFn& serialize);
  // The serialized push request of sparse request `r` of stage `st`, with
  // the next sequence number.
  std::string SparsePushBytes(const Stage& st, const SparseRequest& r,
                              const float* grads,
                              const std::vector<const float*>& rows,
                              int64_t clock, uint64_t seq);
  // Sets the pull stage's callbacks: answers (values encoded by `codec`) go
  // to `buffer` and each sparse ref's `rows`, the largest staleness to
  // *staleness (if not null).
  static void ReadPullInto(Stage* st, Plan* plan, float* buffer,
                           std::vector<float*> rows, int64_t* staleness,
                           v1::ValueCodec codec);
  // An INTERNAL error (the call's `status` in its message) if gRPC still
  // holds a stage's loan of push values kMaxTransportHold after the call;
  // else `status`.
  absl::Status AwaitLoans(const std::vector<Stage*>& stages,
                          const absl::Status& status) const;
  // The RPCs of the chunks of `plan` that were not folded; *chunk_of gets
  // the chunk index of each.
  CallSet DenseCalls(Plan* plan, const std::string& method,
                     const std::vector<bool>& folded,
                     std::vector<int>* chunk_of) const;
  void AddCall(CallSet* calls, int server_index, grpc::ByteBuffer* request,
               const std::string& method);
  // Runs every RPC of `calls` (see RunCalls).
  absl::Status Execute(const CallSet& calls, const PrepareFn& prepare,
                       const CallBatch::OnResponse& on_response);

  const std::string job_id_;
  v1::PartitionMap map_;
  const PsClientOptions options_;
  std::vector<Server> servers_;
  // Groups whose calls failed in the last attempt (by server index).
  std::vector<int> failed_;
  Plan pull_plan_;
  Plan push_plan_;
  Feedback feedback_;
  std::vector<uint32_t> next_stub_;  // per server: round-robin for sparse RPCs
  // kCounter: starts at the creation time in microseconds, so a restarted
  // client with the same worker_id continues above the sequences it used
  // before.
  std::atomic<uint64_t> next_seq_;
};

}  // namespace ps::client

#endif  // PS_CLIENT_PS_CLIENT_H_
