// Replayed training steps (what the CUDA backend does with CUDA graphs) against steps
// issued afresh: the same bits, through partial last batches, epoch reshuffles, dropout,
// every optimizer's bias correction, and slots removed and refilled mid-way.
#include <gtest/gtest.h>

#include <vector>

#include "engine/bundle.h"
#include "engine/cpu_backend.h"
#include "tests/engine/bundle_configs.h"
#include "tests/engine/replaying_backend.h"
#include "tests/engine/synthetic_data.h"
#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune {
namespace {

using testing::train_with_refill;

TEST(StepReplay, ReplayedStepsEqualStepsIssuedAfresh) {
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/157, 20, 20);
  constexpr int kSteps = 40;  // several epochs of the batch-50 and batch-64 slots, partial batches included
  CpuBackend plain;
  testing::ReplayingCpuBackend replaying;
  const testing::TrainingRun issued = train_with_refill(plain, dataset, kSteps);
  const testing::TrainingRun replayed = train_with_refill(replaying, dataset, kSteps);

  // One record per set of slots: the first, and the one after the refill.
  EXPECT_EQ(replaying.captures(), 2);
  EXPECT_EQ(replaying.steps(), 2 * kSteps);
  ASSERT_EQ(issued.parameters.size(), replayed.parameters.size());
  for (size_t i = 0; i < issued.parameters.size(); ++i) {
    EXPECT_TRUE(kernels::test::bitwise_equal(replayed.parameters[i], issued.parameters[i])) << "slot " << i;
    EXPECT_EQ(replayed.train_sums[i].loss_sum, issued.train_sums[i].loss_sum) << "slot " << i;
    EXPECT_EQ(replayed.train_sums[i].correct, issued.train_sums[i].correct) << "slot " << i;
    EXPECT_EQ(replayed.train_sums[i].count, issued.train_sums[i].count) << "slot " << i;
  }
}

// The record is sized for full batches; a short last batch must still train on exactly
// its rows: the sample count of an epoch is the split's size, not steps x batch.
TEST(StepReplay, ShortLastBatchCountsOnlyItsRows) {
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/100, 10, 10);
  testing::ReplayingCpuBackend replaying;
  Bundle bundle(replaying, dataset, BundleOptions{.capacity = 1});
  const int slot = bundle.add(testing::make_config("8", 30, 1e-2f, kernels::OptimizerKind::kAdam, 0.0f, 1), 0);
  std::vector<int> ended;
  for (int s = 0; s < 4; ++s) ended = bundle.step();  // 30, 30, 30, 10
  EXPECT_EQ(ended, std::vector<int>{slot});
  EXPECT_EQ(bundle.take_train_sums(slot).count, 100.0);
  EXPECT_EQ(replaying.captures(), 1);
}

}  // namespace
}  // namespace gpu_tune

namespace gpu_tune {
namespace {

// Two bundles on one backend, stepped in turn, with the same number of slot changes:
// each must replay its own record, never the other's (whose buffers are not its own).
TEST(StepReplay, BundlesSharingABackendNeverReplayEachOther) {
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/157, 20, 20);
  const std::vector<TrainingConfig> configs = testing::varied_configs();
  auto fill = [&](Bundle& bundle, size_t first) {
    for (size_t i = 0; i < 3; ++i) bundle.add(configs[first + i], first + i);
  };
  CpuBackend plain;
  Bundle plain_a(plain, dataset, BundleOptions{.capacity = 3}), plain_b(plain, dataset, BundleOptions{.capacity = 3});
  testing::ReplayingCpuBackend replaying;
  Bundle a(replaying, dataset, BundleOptions{.capacity = 3}), b(replaying, dataset, BundleOptions{.capacity = 3});
  fill(plain_a, 0);
  fill(plain_b, 3);
  fill(a, 0);
  fill(b, 3);
  for (int s = 0; s < 25; ++s) {
    plain_a.step();
    plain_b.step();
    a.step();
    b.step();
  }
  for (int slot = 0; slot < 3; ++slot) {
    EXPECT_TRUE(kernels::test::bitwise_equal(a.parameters(slot), plain_a.parameters(slot))) << "bundle a, slot " << slot;
    EXPECT_TRUE(kernels::test::bitwise_equal(b.parameters(slot), plain_b.parameters(slot))) << "bundle b, slot " << slot;
  }
}

}  // namespace
}  // namespace gpu_tune
