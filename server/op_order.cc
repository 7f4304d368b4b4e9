#include "server/op_order.h"

#include <algorithm>
#include <utility>
#include <vector>

namespace ps::server {

uint64_t OpOrder::Assign(const std::function<void(uint64_t)>& with) {
  absl::MutexLock lock(&mu_);
  const uint64_t op = ++assigned_;
  if (with) with(op);
  return op;
}

void OpOrder::Ready(uint64_t op, Step step) {
  std::function<void(bool)> drop;
  bool applied_before = false;
  {
    absl::MutexLock lock(&mu_);
    if (op <= applied_) {
      drop = std::move(step.drop);
      applied_before = true;
    } else {
      auto [it, inserted] = waiting_.try_emplace(op, std::move(step));
      if (!inserted) {
        // A newer copy of the same op (the primary sent it again): the older
        // one is answered and forgotten.
        drop = std::move(it->second.drop);
        it->second = std::move(step);
      }
      if (op > assigned_) assigned_ = op;
      if (!draining_) {
        draining_ = true;
        DrainLocked();
        draining_ = false;
      }
    }
  }
  if (drop) drop(applied_before);
}

uint64_t OpOrder::Boundary(const std::function<void(uint64_t)>& with) {
  absl::MutexLock lock(&mu_);
  if (with) with(assigned_);
  return assigned_;
}

void OpOrder::AtBoundary(uint64_t op, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  at_.emplace(op, std::move(fn));
  if (draining_) return;  // the draining thread runs it once op is applied
  draining_ = true;
  DrainLocked();
  draining_ = false;
}

void OpOrder::DrainLocked() {
  for (;;) {
    // Functions due at the op just applied run before the next op.
    for (auto it = at_.begin(); it != at_.end() && it->first <= applied_;
         it = at_.begin()) {
      std::function<void()> fn = std::move(it->second);
      at_.erase(it);
      mu_.Unlock();
      fn();
      mu_.Lock();
    }
    auto it = waiting_.find(applied_ + 1);
    if (it == waiting_.end()) return;
    Step step = std::move(it->second);
    waiting_.erase(it);
    running_ = applied_ + 1;
    mu_.Unlock();
    step.apply();
    mu_.Lock();
    running_ = 0;
    ++applied_;
    // A copy of this op that arrived while it was applied.
    if (auto copy = waiting_.find(applied_); copy != waiting_.end()) {
      std::function<void(bool)> drop = std::move(copy->second.drop);
      waiting_.erase(copy);
      mu_.Unlock();
      if (drop) drop(true);
      mu_.Lock();
    }
  }
}

void OpOrder::Reset(uint64_t applied) {
  std::map<uint64_t, Step> dropped;
  {
    absl::MutexLock lock(&mu_);
    dropped.swap(waiting_);
    applied_ = applied;
    // An op being applied meanwhile counts as applied: numbering goes on
    // after it (its thread advances applied_ when it is done).
    assigned_ = std::max(applied, running_);
  }
  for (auto& [op, step] : dropped) {
    if (step.drop) step.drop(false);
  }
}

void OpOrder::Advance(uint64_t applied) {
  std::vector<Step> dropped;
  {
    absl::MutexLock lock(&mu_);
    while (!waiting_.empty() && waiting_.begin()->first <= applied) {
      dropped.push_back(std::move(waiting_.begin()->second));
      waiting_.erase(waiting_.begin());
    }
    applied_ = std::max(applied_, applied);
    assigned_ = std::max(assigned_, applied_);
    if (!draining_) {
      draining_ = true;
      DrainLocked();
      draining_ = false;
    }
  }
  for (Step& step : dropped) {
    if (step.drop) step.drop(true);
  }
}

uint64_t OpOrder::applied() const {
  absl::MutexLock lock(&mu_);
  return applied_;
}

uint64_t OpOrder::assigned() const {
  absl::MutexLock lock(&mu_);
  return assigned_;
}

int64_t OpOrder::waiting() const {
  absl::MutexLock lock(&mu_);
  return static_cast<int64_t>(waiting_.size());
}

}  // namespace ps::server
