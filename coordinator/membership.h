// Cluster membership with leases. A member registers, then must heartbeat
// within every lease period; Expire() marks the ones that did not as DEAD.
// A dead member stays listed (so `psctl cluster` can show it) until it has
// been dead for `forget_after`; a heartbeat from it gets NOT_FOUND and the
// member registers again under a new id.
//
// With a StateStore, every member and the id counter are stored as they
// change, and Restore() brings them back after a restart: members go on
// under their ids, each alive one with a fresh lease from the restart.
// Without one, ids are numbered from 1 by each coordinator process, so after
// a restart a new member can be handed the id a live member still holds.
// Each registration therefore also gets a random incarnation, and a
// heartbeat counts only when it carries the incarnation of the id's current
// holder: the old holder gets NOT_FOUND and registers again, instead of
// renewing another member's lease while it stays invisible itself.
//
// Thread-safe. Time comes from an injected clock, so tests control it.
#ifndef PS_COORDINATOR_MEMBERSHIP_H_
#define PS_COORDINATOR_MEMBERSHIP_H_

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/btree_map.h"
#include "absl/random/random.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "coordinator/state_store.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::coordinator {

using Clock = std::function<absl::Time()>;

struct MemberInfo {
  std::string id;
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string address;
  bool alive = true;
  absl::Time last_heartbeat;
  uint64_t incarnation = 0;
  // The name in the certificate it registered with ("" without TLS): only
  // that certificate may report for it.
  std::string principal;
  // host:port of its Prometheus metrics; "" when it has none.
  std::string metrics_address;
};

struct Registration {
  std::string id;
  uint64_t incarnation = 0;  // never 0
};

class Membership {
 public:
  // `store` (may be null: nothing is stored) is not owned and must outlive
  // this object. A failed store is logged; the member goes on in memory.
  Membership(absl::Duration lease, Clock clock, StateStore* store = nullptr);

  // Takes the members and the id counter a StateStore kept; each member
  // alive then gets a fresh lease from now. Call before serving.
  void Restore(const StoredState& state);

  absl::Duration lease() const { return lease_; }

  // Returns the new member's id ("server-N" or "worker-N") and incarnation.
  // INVALID_ARGUMENT naming the field for a role other than SERVER or
  // WORKER, or an address (or a non-empty metrics address) without a port.
  absl::StatusOr<Registration> Register(
      v1::Role role, const std::string& address,
      const std::string& principal = "",
      const std::string& metrics_address = "");
  // Renews the lease. NOT_FOUND for an unknown or dead member, and for an
  // incarnation other than the id's current holder's.
  absl::Status Heartbeat(const std::string& id, uint64_t incarnation);
  // Marks members whose lease ran out as dead and returns them.
  std::vector<MemberInfo> Expire();
  // Declares a live member dead now (it was reported unreachable and did
  // not answer the coordinator either); its heartbeats are then NOT_FOUND.
  // The member as it was, or nullopt when it is unknown or already dead.
  std::optional<MemberInfo> Kill(const std::string& id);

  std::optional<MemberInfo> Get(const std::string& id) const;
  // Live members of `role`, in registration order.
  std::vector<MemberInfo> Live(v1::Role role) const;
  std::vector<MemberInfo> All() const;

 private:
  // Stores member n (its registration number) as it is now.
  void Save(int64_t n, const MemberInfo& m) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const absl::Duration lease_;
  const Clock clock_;
  StateStore* const store_;
  mutable absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::BitGen random_ ABSL_GUARDED_BY(mu_);
  // Keyed by registration number so iteration is registration order.
  absl::btree_map<int64_t, MemberInfo> members_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_MEMBERSHIP_H_
