#include "coordinator/membership.h"

#include "absl/strings/numbers.h"
#include <algorithm>

#include "absl/strings/str_cat.h"
#include "common/logging.h"

namespace ps::coordinator {
namespace {

// Members that have been dead this many leases are forgotten.
constexpr int kForgetAfterLeases = 20;

}  // namespace

Membership::Membership(absl::Duration lease, Clock clock, StateStore* store)
    : lease_(lease), clock_(std::move(clock)), store_(store) {}

void Membership::Restore(const StoredState& state) {
  absl::MutexLock lock(&mu_);
  next_id_ = state.next_member;
  const absl::Time now = clock_();
  for (const v1::StoredMember& stored : state.members) {
    MemberInfo& m = members_[stored.number()];
    m.id = stored.id();
    m.role = stored.role();
    m.address = stored.address();
    m.alive = stored.alive();
    m.incarnation = stored.incarnation();
    m.principal = stored.principal();
    m.metrics_address = stored.metrics_address();
    m.last_heartbeat = now;
    next_id_ = std::max(next_id_, stored.number() + 1);
  }
}

void Membership::Save(int64_t n, const MemberInfo& m) {
  if (store_ == nullptr) return;
  v1::StoredMember stored;
  stored.set_number(n);
  stored.set_id(m.id);
  stored.set_role(m.role);
  stored.set_address(m.address);
  stored.set_incarnation(m.incarnation);
  stored.set_alive(m.alive);
  stored.set_principal(m.principal);
  stored.set_metrics_address(m.metrics_address);
  if (absl::Status s = store_->SaveMember(stored, next_id_); !s.ok()) {
    Logger("members")->error("storing {}: {}", m.id, s.ToString());
  }
}

absl::StatusOr<Registration> Membership::Register(
    v1::Role role, const std::string& address, const std::string& principal,
    const std::string& metrics_address) {
  if (role != v1::SERVER && role != v1::WORKER) {
    return absl::InvalidArgumentError(
        absl::StrCat("role: ", role, "; allowed: SERVER, WORKER"));
  }
  if (address.empty() || address.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("address: '", address, "'; allowed: host:port"));
  }
  if (!metrics_address.empty() &&
      metrics_address.find(':') == std::string::npos) {
    return absl::InvalidArgumentError(
        absl::StrCat("metrics_address: '", metrics_address,
                     "'; allowed: host:port, or empty for none"));
  }
  absl::MutexLock lock(&mu_);
  const int64_t n = next_id_++;
  MemberInfo& m = members_[n];
  m.id = absl::StrCat(role == v1::SERVER ? "server-" : "worker-", n);
  m.role = role;
  m.address = address;
  m.principal = principal;
  m.metrics_address = metrics_address;
  m.last_heartbeat = clock_();
  while (m.incarnation == 0) m.incarnation = absl::Uniform<uint64_t>(random_);
  Save(n, m);
  return Registration{m.id, m.incarnation};
}

absl::Status Membership::Heartbeat(const std::string& id,
                                   uint64_t incarnation) {
  absl::MutexLock lock(&mu_);
  for (auto& [n, m] : members_) {
    if (m.id != id) continue;
    if (m.incarnation != incarnation) {
      return absl::NotFoundError(absl::StrCat(
          "member id ", id, " now belongs to another registration (", m.address,
          "; incarnation ", incarnation, " is not its holder's: ",
          "the coordinator restarted); register again"));
    }
    if (!m.alive) {
      return absl::NotFoundError(absl::StrCat(
          "member ", id, " was declared dead after its lease of ",
          absl::FormatDuration(lease_), " expired; register again"));
    }
    m.last_heartbeat = clock_();
    return absl::OkStatus();
  }
  return absl::NotFoundError(
      absl::StrCat("unknown member ", id, "; register first"));
}

std::vector<MemberInfo> Membership::Expire() {
  std::vector<MemberInfo> expired;
  absl::MutexLock lock(&mu_);
  const absl::Time now = clock_();
  for (auto it = members_.begin(); it != members_.end();) {
    MemberInfo& m = it->second;
    if (m.alive && now - m.last_heartbeat > lease_) {
      m.alive = false;
      expired.push_back(m);
      Save(it->first, m);
    }
    if (!m.alive && now - m.last_heartbeat > kForgetAfterLeases * lease_) {
      if (store_ != nullptr) store_->DeleteMember(it->first).IgnoreError();
      it = members_.erase(it);
    } else {
      ++it;
    }
  }
  return expired;
}

std::optional<MemberInfo> Membership::Kill(const std::string& id) {
  absl::MutexLock lock(&mu_);
  for (auto& [n, m] : members_) {
    if (m.id != id || !m.alive) continue;
    m.alive = false;
    Save(n, m);
    return m;
  }
  return std::nullopt;
}

std::optional<MemberInfo> Membership::Get(const std::string& id) const {
  absl::MutexLock lock(&mu_);
  for (const auto& [n, m] : members_) {
    if (m.id == id) return m;
  }
  return std::nullopt;
}

std::vector<MemberInfo> Membership::Live(v1::Role role) const {
  std::vector<MemberInfo> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [n, m] : members_) {
    if (m.alive && m.role == role) out.push_back(m);
  }
  return out;
}

std::vector<MemberInfo> Membership::All() const {
  std::vector<MemberInfo> out;
  absl::MutexLock lock(&mu_);
  for (const auto& [n, m] : members_) out.push_back(m);
  return out;
}

}  // namespace ps::coordinator
