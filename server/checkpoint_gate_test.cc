#include "server/checkpoint_gate.h"

#include <vector>

#include "gtest/gtest.h"

namespace ps::server {
namespace {

TEST(CheckpointGateTest, HoldsOnlyArmedGroupsAtOrAfterTheClock) {
  CheckpointGate gate;
  std::vector<int> ran;
  EXPECT_FALSE(gate.Hold({"job-1", 0}, 9, [&] { ran.push_back(0); }));
  ASSERT_TRUE(gate.Arm({"job-1", 0}, 10));
  EXPECT_FALSE(gate.Arm({"job-1", 0}, 12));  // one at a time
  EXPECT_FALSE(gate.Hold({"job-1", 0}, 9, [&] { ran.push_back(9); }));
  EXPECT_FALSE(gate.Hold({"job-1", 1}, 10, [&] { ran.push_back(-1); }));
  EXPECT_TRUE(gate.Hold({"job-1", 0}, 10, [&] { ran.push_back(10); }));
  EXPECT_TRUE(gate.Hold({"job-1", 0}, 11, [&] { ran.push_back(11); }));
  EXPECT_TRUE(ran.empty());
  EXPECT_EQ(gate.Release({"job-1", 0}), 2);
  EXPECT_EQ(ran, (std::vector<int>{10, 11}));
  EXPECT_FALSE(gate.Hold({"job-1", 0}, 12, [] {}));  // disarmed
  EXPECT_EQ(gate.Release({"job-1", 0}), 0);
}

}  // namespace
}  // namespace ps::server
