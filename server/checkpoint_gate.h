// The cut of a checkpoint on one server (docs/design.md, "Checkpoints"):
// while a group's checkpoint at clock C is armed, each push of that group for
// a step >= C waits here, so that the group's state can reach the moment when
// every rank has finished exactly C steps and nothing after. Released, the
// waiting pushes go on in the order they came.
//
// Thread-safe. Continuations run on the thread that calls Release, after the
// lock is released.
#ifndef PS_SERVER_CHECKPOINT_GATE_H_
#define PS_SERVER_CHECKPOINT_GATE_H_

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"

namespace ps::server {

class CheckpointGate {
 public:
  using Key = std::pair<std::string, int>;  // (job id, group)

  // Arms the gate of `key` at `clock`; false when one is armed already.
  bool Arm(const Key& key, int64_t clock);
  // When the gate of `key` is armed at a clock <= `clock`, keeps `resume`
  // to run at Release and returns true; false: go on now.
  bool Hold(const Key& key, int64_t clock, std::function<void()> resume);
  // Disarms the gate and runs the held continuations in arrival order;
  // returns how many there were.
  int Release(const Key& key);

 private:
  struct Armed {
    int64_t clock = 0;
    std::vector<std::function<void()>> held;
  };
  // How many gates are armed: pushes check it without the lock, so that
  // the data plane pays one atomic load while no checkpoint is taken.
  std::atomic<int> count_{0};
  absl::Mutex mu_;
  std::map<Key, Armed> armed_ ABSL_GUARDED_BY(mu_);
};

}  // namespace ps::server

#endif  // PS_SERVER_CHECKPOINT_GATE_H_
