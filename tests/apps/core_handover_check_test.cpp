// A worker handed more cores keeps them only while its steps get faster on them.
#include "apps/core_handover_check.h"

#include <gtest/gtest.h>

namespace gpu_tune::app {
namespace {

using Check = CoreHandoverCheck;

// Steps of `seconds` each, from `now`, with `offered` threads on offer; returns the threads
// the last step ran on and moves `now` on.
int run_steps(Check& check, double& now, int steps, double seconds, int offered) {
  int threads = 0;
  for (int i = 0; i < steps; ++i) {
    threads = check.before_step(now, offered);
    now += seconds;
  }
  return threads;
}

// Enough steps on one thread for a baseline.
double with_baseline(Check& check, double step_seconds = 0.010) {
  double now = 0.0;
  EXPECT_EQ(run_steps(check, now, Check::kBaselineSteps + 1, step_seconds, 1), 1);
  return now;
}

// The steps a probe needs to decide: its warm-up, then more than half of its steps.
constexpr int kDecidingSteps = Check::kWarmupSteps + Check::kProbeSteps / 2 + 1;

TEST(CoreHandoverCheck, KeepsTheOfferedThreadsWhenStepsGetFaster) {
  Check check(1);
  double now = with_baseline(check);
  EXPECT_EQ(check.before_step(now, 2), 2) << "the offer is tried at once";
  now += 0.005;
  run_steps(check, now, kDecidingSteps, 0.005, 2);
  EXPECT_EQ(check.threads(), 2);
  // Slower steps later (a bigger model came in) do not take them back.
  EXPECT_EQ(run_steps(check, now, 100, 0.050, 2), 2);
}

TEST(CoreHandoverCheck, GoesBackWhenStepsGetSlowerAndRetriesLater) {
  Check check(1);
  double now = with_baseline(check);
  EXPECT_EQ(run_steps(check, now, kDecidingSteps, 0.030, 2), 2);
  EXPECT_EQ(check.before_step(now, 2), 1) << "three times slower on the offered threads: back to one";
  now += 0.010;
  EXPECT_EQ(check.threads(), 1);
  // Not tried again before the retry time ...
  EXPECT_EQ(run_steps(check, now, 1000, 0.010, 2), 1);
  ASSERT_LT(now, Check::kRetrySeconds);
  now = Check::kRetrySeconds + 1.0;
  // ... then tried again, and kept if the other programs are gone.
  EXPECT_EQ(check.before_step(now, 2), 2);
  now += 0.005;
  run_steps(check, now, kDecidingSteps, 0.005, 2);
  EXPECT_EQ(check.threads(), 2);
}

TEST(CoreHandoverCheck, NoFasterThanTheMarginIsNotFaster) {
  Check check(1);
  double now = with_baseline(check);
  run_steps(check, now, kDecidingSteps + 1, 0.0095, 2);  // 5 % faster: below the 10 % asked
  EXPECT_EQ(check.threads(), 1);
}

TEST(CoreHandoverCheck, AFewSlowStepsDuringTheProbeDoNotDecideIt) {
  // An epoch's end (the validation pass) makes a step many times longer than the rest.
  Check check(1);
  double now = with_baseline(check);
  run_steps(check, now, Check::kWarmupSteps + 1, 0.005, 2);
  run_steps(check, now, Check::kProbeSteps / 2 - 1, 0.200, 2);
  run_steps(check, now, Check::kProbeSteps / 2 + 1, 0.005, 2);
  EXPECT_EQ(check.threads(), 2);
}

TEST(CoreHandoverCheck, TriesNothingBeforeItHasABaseline) {
  Check check(1);
  double now = 0.0;
  EXPECT_EQ(run_steps(check, now, Check::kBaselineSteps, 0.010, 2), 1);
  EXPECT_EQ(check.before_step(now, 2), 2);
}

TEST(CoreHandoverCheck, FewerThreadsAreTakenAtOnce) {
  Check check(4);
  double now = 0.0;
  EXPECT_EQ(run_steps(check, now, 3, 0.010, 4), 4);
  EXPECT_EQ(check.before_step(now, 2), 2);
  EXPECT_EQ(check.threads(), 2);
}

TEST(CoreHandoverCheck, AnOfferThatChangesMidProbeStartsOver) {
  Check check(1);
  double now = with_baseline(check);
  EXPECT_EQ(run_steps(check, now, 3, 0.030, 2), 2);
  // A third worker left: three threads offered. The check goes back to its settled one
  // thread and, its baseline still whole, tries the new offer.
  EXPECT_EQ(check.before_step(now, 3), 3);
  now += 0.003;
  run_steps(check, now, kDecidingSteps, 0.003, 3);
  EXPECT_EQ(check.threads(), 3);
}

}  // namespace
}  // namespace gpu_tune::app
