#include "server/lr_schedule.h"

#include <cmath>

#include "gtest/gtest.h"

namespace ps::server {
namespace {

using Schedule = v1::LearningRateSchedule;

TEST(LrScheduleTest, ConstantWithoutWarmupIsTheLearningRate) {
  LrSchedule s(0.5f, ScheduleParams{});
  EXPECT_TRUE(s.IsConstant());
  EXPECT_DOUBLE_EQ(s.At(1), 0.5);
  EXPECT_DOUBLE_EQ(s.At(1e6), 0.5);
}

TEST(LrScheduleTest, WarmupRisesLinearlyToTheRate) {
  ScheduleParams p;
  p.warmup_steps = 4;
  LrSchedule s(1.0f, p);
  EXPECT_FALSE(s.IsConstant());
  EXPECT_DOUBLE_EQ(s.At(1), 0.25);
  EXPECT_DOUBLE_EQ(s.At(3), 0.75);
  EXPECT_DOUBLE_EQ(s.At(4), 1.0);
  EXPECT_DOUBLE_EQ(s.At(100), 1.0);
}

TEST(LrScheduleTest, StepDecaysByGammaEveryStepSizeUpdates) {
  ScheduleParams p;
  p.kind = Schedule::STEP;
  p.step_size = 10;
  p.gamma = 0.5f;
  LrSchedule s(2.0f, p);
  EXPECT_FALSE(s.IsConstant());
  EXPECT_DOUBLE_EQ(s.At(9), 2.0);
  EXPECT_DOUBLE_EQ(s.At(10), 1.0);  // floor(t / step_size), t from 1.
  EXPECT_DOUBLE_EQ(s.At(19), 1.0);
  EXPECT_DOUBLE_EQ(s.At(20), 0.5);
  EXPECT_DOUBLE_EQ(s.At(30), 0.25);
  p.gamma = 1.0f;
  EXPECT_TRUE(LrSchedule(2.0f, p).IsConstant());
}

TEST(LrScheduleTest, CosineFallsToMinFactorAndStays) {
  ScheduleParams p;
  p.kind = Schedule::COSINE;
  p.decay_steps = 100;
  p.min_factor = 0.2f;
  LrSchedule s(1.0f, p);
  EXPECT_FALSE(s.IsConstant());
  EXPECT_NEAR(s.At(50), 0.2 + 0.8 * 0.5, 1e-7);
  EXPECT_NEAR(s.At(100), 0.2, 1e-7);
  EXPECT_NEAR(s.At(5000), 0.2, 1e-7);
  EXPECT_NEAR(s.At(1), 0.2 + 0.8 * 0.5 * (1 + std::cos(M_PI / 100)), 1e-12);
  p.min_factor = 1.0f;
  EXPECT_TRUE(LrSchedule(1.0f, p).IsConstant());
}

TEST(LrScheduleTest, WarmupMultipliesTheDecay) {
  ScheduleParams p;
  p.kind = Schedule::STEP;
  p.warmup_steps = 10;
  p.step_size = 5;
  p.gamma = 0.5f;
  LrSchedule s(1.0f, p);
  EXPECT_DOUBLE_EQ(s.At(5), 0.5 * 0.5);
  EXPECT_DOUBLE_EQ(s.At(10), 1.0 * 0.25);
}

}  // namespace
}  // namespace ps::server
