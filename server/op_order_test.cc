#include "server/op_order.h"

#include <thread>
#include <vector>

#include "gtest/gtest.h"

namespace ps::server {
namespace {

TEST(OpOrderTest, AppliesInOrderWhateverTheArrival) {
  OpOrder order;
  std::vector<int> applied;
  std::vector<std::pair<int, bool>> dropped;
  auto step = [&](int op) {
    return OpOrder::Step{[&applied, op] { applied.push_back(op); },
                         [&dropped, op](bool before) {
                           dropped.push_back({op, before});
                         }};
  };
  order.Ready(3, step(3));
  order.Ready(2, step(2));
  EXPECT_TRUE(applied.empty());
  EXPECT_EQ(order.waiting(), 2);
  order.Ready(1, step(1));
  EXPECT_EQ(applied, (std::vector<int>{1, 2, 3}));
  EXPECT_EQ(order.applied(), 3u);
  order.Ready(2, step(2));  // a copy of an applied op
  ASSERT_EQ(dropped.size(), 1u);
  EXPECT_EQ(dropped[0], std::make_pair(2, true));
}

TEST(OpOrderTest, ResetDropsWaitingStepsAndContinuesFromThere) {
  OpOrder order;
  std::vector<int> applied;
  int dropped = 0;
  auto step = [&](int op) {
    return OpOrder::Step{[&applied, op] { applied.push_back(op); },
                         [&dropped](bool before) { dropped += !before; }};
  };
  order.Ready(1, step(1));
  order.Ready(3, step(3));
  order.Reset(order.applied());
  EXPECT_EQ(dropped, 1);
  EXPECT_EQ(order.Assign(), 2u);
  order.Ready(2, step(2));
  EXPECT_EQ(applied, (std::vector<int>{1, 2}));
}

// A backup promoted while it applies an op: the new numbering starts after
// that op, never reusing its number.
TEST(OpOrderTest, ResetDuringAnApplyNumbersAfterIt) {
  OpOrder order;
  std::vector<int> applied;
  uint64_t next = 0;
  order.Ready(1, {[&] {
                    // Promoted while op 1 is applied.
                    order.Reset(order.applied());
                    next = order.Assign();
                    applied.push_back(1);
                  },
                  nullptr});
  EXPECT_EQ(next, 2u);
  EXPECT_EQ(order.applied(), 1u);
  order.Ready(next, {[&] { applied.push_back(2); }, nullptr});
  EXPECT_EQ(applied, (std::vector<int>{1, 2}));
}

TEST(OpOrderTest, BoundaryRunsBetweenOps) {
  OpOrder order;
  std::vector<std::string> log;
  auto step = [&](int op) {
    return OpOrder::Step{[&log, op] { log.push_back(std::to_string(op)); },
                         nullptr};
  };
  const uint64_t a = order.Assign();
  const uint64_t b = order.Assign();
  const uint64_t at = order.Boundary();
  EXPECT_EQ(at, b);
  const uint64_t c = order.Assign();
  order.AtBoundary(at, [&] { log.push_back("snapshot"); });
  order.Ready(c, step(c));
  order.Ready(b, step(b));
  EXPECT_TRUE(log.empty());
  order.Ready(a, step(a));
  EXPECT_EQ(log, (std::vector<std::string>{"1", "2", "snapshot", "3"}));
  order.AtBoundary(order.applied(), [&] { log.push_back("now"); });
  EXPECT_EQ(log.back(), "now");
}

TEST(OpOrderTest, ConcurrentReadyAppliesEachOnceInOrder) {
  OpOrder order;
  constexpr int kOps = 2000;
  std::vector<int> applied;  // written one step at a time
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&, t] {
      for (int op = kOps - t; op >= 1; op -= 4) {
        order.Ready(op, {[&applied, op] { applied.push_back(op); }, nullptr});
      }
    });
  }
  for (auto& t : threads) t.join();
  ASSERT_EQ(static_cast<int>(applied.size()), kOps);
  for (int i = 0; i < kOps; ++i) EXPECT_EQ(applied[i], i + 1);
}

}  // namespace
}  // namespace ps::server
