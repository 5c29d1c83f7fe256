#include "engine/learning_rate_schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <numbers>
#include <vector>

#include "engine/bundle.h"
#include "engine/cpu_backend.h"
#include "tests/engine/bundle_configs.h"
#include "tests/engine/synthetic_data.h"
#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune {
namespace {

TEST(LearningRateSchedule, ConstantKeepsTheBaseRate) {
  for (int64_t update : {0, 1, 50, 99, 1000})
    EXPECT_EQ(scheduled_learning_rate(LearningRateSchedule::kConstant, 0.01f, update, 100), 0.01f) << update;
}

TEST(LearningRateSchedule, CosineFallsFromTheBaseRateTowardsZero) {
  const auto cosine = [](int64_t update, int64_t planned) {
    return scheduled_learning_rate(LearningRateSchedule::kCosine, 0.01f, update, planned);
  };
  EXPECT_EQ(cosine(0, 100), 0.01f);
  EXPECT_FLOAT_EQ(cosine(50, 100), 0.005f);  // half-way: half the rate
  EXPECT_FLOAT_EQ(cosine(25, 100), 0.005f * (1.0f + std::cos(std::numbers::pi_v<float> / 4)));
  // PyTorch's CosineAnnealingLR(T_max=100) after 99 scheduler steps: small, not zero.
  EXPECT_NEAR(cosine(99, 100), 0.005 * (1.0 + std::cos(std::numbers::pi * 99 / 100)), 1e-9);
  EXPECT_GT(cosine(99, 100), 0.0f);
  float previous = cosine(0, 100);
  for (int64_t update = 1; update < 100; ++update) {
    EXPECT_LT(cosine(update, 100), previous) << update;
    previous = cosine(update, 100);
  }
  // Past the plan (not reached in training) the last planned rate holds; no plan, no decay.
  EXPECT_EQ(cosine(150, 100), cosine(99, 100));
  EXPECT_EQ(cosine(3, 0), 0.01f);
}

TEST(LearningRateSchedule, PlannedUpdatesCountTheShortLastBatch) {
  EXPECT_EQ(planned_updates(100, 30, 1), 4);  // 30, 30, 30, 10
  EXPECT_EQ(planned_updates(90, 30, 2), 6);
  EXPECT_EQ(planned_updates(50000, 64, 10), 7820);
  EXPECT_EQ(planned_updates(10, 64, 3), 3);  // a batch larger than the data: one step an epoch
}

TEST(LearningRateSchedule, NamesRoundTrip) {
  for (LearningRateSchedule s : {LearningRateSchedule::kConstant, LearningRateSchedule::kCosine})
    EXPECT_EQ(parse_schedule(schedule_name(s)), s);
  EXPECT_FALSE(parse_schedule("step").has_value());
}

// Through the real bundle: a cosine slot's second update is the update a constant-rate
// slot at the cosine's second rate makes from the same parameters and batch.
TEST(LearningRateSchedule, TheBundlesUpdatesUseTheScheduledRate) {
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/100, 10, 10);
  using kernels::OptimizerKind;
  // Plain SGD (no momentum, no decay) keeps no state but the parameters.
  auto sgd = [](float lr, LearningRateSchedule schedule) {
    TrainingConfig c = testing::make_config("12", 25, lr, OptimizerKind::kSgd, 0.0f, 3);
    c.optimizer.momentum = 0.0f;
    c.max_epochs = 1;  // 4 planned updates: rates 1, 0.854, 0.5, 0.146 of the base
    c.schedule = schedule;
    return c;
  };
  const float base = 0.5f;
  const float second_rate = scheduled_learning_rate(LearningRateSchedule::kCosine, base, 1, 4);
  ASSERT_NEAR(second_rate, base * 0.5 * (1 + std::cos(std::numbers::pi / 4)), 1e-6);

  CpuBackend backend;
  Bundle bundle(backend, dataset, BundleOptions{.capacity = 3});
  const int cosine = bundle.add(sgd(base, LearningRateSchedule::kCosine), 0);
  const int constant_base = bundle.add(sgd(base, LearningRateSchedule::kConstant), 1);
  const int constant_second = bundle.add(sgd(second_rate, LearningRateSchedule::kConstant), 2);

  bundle.step();  // the first update is at the base rate
  EXPECT_TRUE(kernels::test::bitwise_equal(bundle.parameters(cosine), bundle.parameters(constant_base)));
  const std::vector<float> after_first = bundle.parameters(cosine);
  bundle.load_parameters(constant_second, after_first);
  bundle.load_parameters(constant_base, after_first);

  bundle.step();  // the same second batch (same seed) for all three
  EXPECT_TRUE(kernels::test::bitwise_equal(bundle.parameters(cosine), bundle.parameters(constant_second)));
  EXPECT_FALSE(kernels::test::bitwise_equal(bundle.parameters(cosine), bundle.parameters(constant_base)));
}

}  // namespace
}  // namespace gpu_tune
