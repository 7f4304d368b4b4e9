// The coordinator's state in one SQLite database, so that a coordinator
// restarted on the same state dir goes on where it stopped: its jobs (specs,
// states, reasons, partition maps, assignments, progress, barriers), its
// members (ids, incarnations, addresses) and its counters (next job number,
// next epoch, next member number), which therefore never repeat.
//
// The file is DIR/coordinator.db, in WAL mode with synchronous=FULL: every
// Save returns only once its transaction is on disk, so what the
// coordinator answered survives a SIGKILL and a power cut alike. Each save
// is one transaction; a job is stored whole (a StoredJob proto), so a row
// is never half written.
//
// Open refuses, naming the file and what is wrong, a file that is not a
// SQLite database, a damaged one (PRAGMA quick_check), one written by
// another program (no "format" row of ours), and one of a newer schema:
// never a silent empty cluster.
//
// One coordinator per state dir: Open takes an exclusive lock on
// DIR/coordinator.lock (flock) for the store's life and refuses a dir another
// process holds.
//
// Thread-safe (one connection, serialised by a mutex).
#ifndef PS_COORDINATOR_STATE_STORE_H_
#define PS_COORDINATOR_STATE_STORE_H_

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "proto/ps/v1/coordinator_state.pb.h"

struct sqlite3;

namespace ps::coordinator {

// What Open found.
struct StoredState {
  bool fresh = true;  // a new file: nothing was stored before
  int64_t next_job = 1;
  uint64_t next_epoch = 1;
  int64_t next_member = 1;
  std::vector<v1::StoredJob> jobs;        // by job number, ascending
  std::vector<v1::StoredMember> members;  // by registration number
};

class StateStore {
 public:
  inline static constexpr char kFileName[] = "coordinator.db";
  inline static constexpr int kSchemaVersion = 1;

  // Opens DIR/coordinator.db, creating DIR and the file when missing, and
  // reads everything stored. FAILED_PRECONDITION naming the file for a
  // damaged, foreign or newer file; INTERNAL for I/O errors.
  static absl::StatusOr<std::unique_ptr<StateStore>> Open(
      const std::string& dir, StoredState* state);
  ~StateStore();

  const std::string& path() const { return path_; }

  // Stores job `number` whole and the counters, in one transaction.
  absl::Status SaveJob(int64_t number, const v1::StoredJob& job,
                       int64_t next_job, uint64_t next_epoch);
  // Stores the epoch counter alone.
  absl::Status SaveNextEpoch(uint64_t next_epoch);
  // Stores a member and the member counter, in one transaction.
  absl::Status SaveMember(const v1::StoredMember& member, int64_t next_member);
  absl::Status DeleteMember(int64_t number);

 private:
  StateStore(std::string path, sqlite3* db, int lock_fd)
      : path_(std::move(path)), db_(db), lock_fd_(lock_fd) {}
  absl::Status Exec(const std::string& sql) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status SetCounter(const char* name, int64_t value)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status PutBlob(const char* sql, int64_t key, const std::string& blob)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // Runs `body` in a transaction: committed when it returns OK.
  template <typename F>
  absl::Status InTransaction(F body) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Error(const std::string& what) const;
  absl::Status CreateOrCheckSchema(bool* fresh)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  absl::Status Load(StoredState* state) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const std::string path_;
  absl::Mutex mu_;
  sqlite3* const db_;
  const int lock_fd_;  // holds the state dir's lock while open
};

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_STATE_STORE_H_
