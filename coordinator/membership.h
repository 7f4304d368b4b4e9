// Cluster membership with leases. A member registers, then must heartbeat
// within every lease period; Expire() marks the ones that did not as DEAD.
// A dead member stays listed (so `psctl cluster` can show it) until it has
// been dead for `forget_after`; a heartbeat from it gets NOT_FOUND and the
// member registers again under a new id.
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
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "proto/ps/v1/ps.pb.h"

namespace ps::coordinator {

using Clock = std::function<absl::Time()>;

struct MemberInfo {
  std::string id;
  v1::Role role = v1::ROLE_UNSPECIFIED;
  std::string address;
  bool alive = true;
  absl::Time last_heartbeat;
};

class Membership {
 public:
  Membership(absl::Duration lease, Clock clock);

  absl::Duration lease() const { return lease_; }

  // Returns the new member's id: "server-N" or "worker-N".
  absl::StatusOr<std::string> Register(v1::Role role, const std::string& address);
  // Renews the lease. NOT_FOUND for an unknown or dead member.
  absl::Status Heartbeat(const std::string& id);
  // Marks members whose lease ran out as dead and returns them.
  std::vector<MemberInfo> Expire();

  std::optional<MemberInfo> Get(const std::string& id) const;
  // Live members of `role`, in registration order.
  std::vector<MemberInfo> Live(v1::Role role) const;
  std::vector<MemberInfo> All() const;

 private:
  const absl::Duration lease_;
  const Clock clock_;
  mutable absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  // Keyed by registration number so iteration is registration order.
  absl::btree_map<int64_t, MemberInfo> members_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::coordinator

#endif  // PS_COORDINATOR_MEMBERSHIP_H_
