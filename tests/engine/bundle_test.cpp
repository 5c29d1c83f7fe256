// The bundle's central invariant: slots are independent. A bundle of different models
// ends with the same parameters as each model trained alone with the same seed.
#include <gtest/gtest.h>

#include <cmath>

#include "engine/bundle.h"
#include "engine/cpu_backend.h"
#include "tests/engine/bundle_configs.h"
#include "tests/engine/synthetic_data.h"
#include "tests/kernels/kernel_test_utils.h"

namespace gpu_tune {
namespace {

using testing::relative_difference;
using testing::varied_configs;

TEST(Bundle, SlotsMatchTheirSoloRuns) {
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/157, 20, 20);
  const std::vector<TrainingConfig> configs = varied_configs();
  constexpr int kSteps = 60;  // several epochs for the large batches, a partial last batch included

  CpuBackend backend;
  Bundle together(backend, dataset, BundleOptions{.capacity = static_cast<int>(configs.size())});
  for (size_t i = 0; i < configs.size(); ++i) together.add(configs[i], i);
  for (int s = 0; s < kSteps; ++s) together.step();

  for (size_t i = 0; i < configs.size(); ++i) {
    Bundle alone(backend, dataset, BundleOptions{.capacity = 1});
    alone.add(configs[i], i);
    for (int s = 0; s < kSteps; ++s) alone.step();
    const std::vector<float> solo = alone.parameters(0);
    const std::vector<float> bundled = together.parameters(static_cast<int>(i));
    ASSERT_EQ(solo.size(), bundled.size());
    EXPECT_LT(relative_difference(bundled, solo), 1e-5) << configs[i].describe();
    alone.save_best_parameters(0);  // the best-weights copy holds exactly the live parameters
    EXPECT_TRUE(kernels::test::bitwise_equal(alone.slot(0).best_params.download(), solo));
    EXPECT_EQ(together.slot(static_cast<int>(i)).steps, kSteps);
  }
}

// A refill with a model of the same shape reuses the slot's memory (no allocation, the
// pointers a captured step holds stay valid) and trains exactly as a fresh slot does; a
// model of another shape gets memory of its own.
TEST(Bundle, RefillOfTheSameShapeReusesMemoryAndStartsFresh) {
  const data::Dataset dataset = testing::synthetic_dataset(/*train=*/157, 20, 20);
  using kernels::OptimizerKind;
  const TrainingConfig first = testing::make_config("c5-p-12", 9, 3e-3f, OptimizerKind::kAdam, 0.2f, 7);
  const TrainingConfig second = testing::make_config("c5-p-12", 9, 1e-2f, OptimizerKind::kAdamW, 0.1f, 21);
  CpuBackend backend;
  Bundle bundle(backend, dataset, BundleOptions{.capacity = 2});
  bundle.add(testing::make_config("33-17", 7, 3e-3f, OptimizerKind::kAdam, 0.0f, 2), 0);
  const int slot = bundle.add(first, 1);
  const float* memory = bundle.slot(slot).params.data();
  for (int s = 0; s < 25; ++s) bundle.step();
  bundle.remove(slot);
  ASSERT_EQ(bundle.add(second, 2), slot);
  EXPECT_EQ(bundle.slot(slot).params.data(), memory) << "same shape: the memory is reused";
  EXPECT_EQ(bundle.slot(slot).steps, 0);
  EXPECT_EQ(bundle.slot(slot).epochs_done, 0);
  for (int s = 0; s < 25; ++s) bundle.step();

  Bundle fresh(backend, dataset, BundleOptions{.capacity = 1});
  fresh.add(second, 2);
  for (int s = 0; s < 25; ++s) fresh.step();
  EXPECT_TRUE(kernels::test::bitwise_equal(bundle.parameters(slot), fresh.parameters(0)));
  const kernels::MetricSums refilled = bundle.take_train_sums(slot), alone = fresh.take_train_sums(0);
  EXPECT_EQ(refilled.count, alone.count);
  EXPECT_EQ(refilled.loss_sum, alone.loss_sum);

  bundle.remove(slot);
  bundle.add(testing::make_config("c6-p-12", 9, 3e-3f, OptimizerKind::kAdam, 0.0f, 3), 3);
  EXPECT_EQ(bundle.slot(slot).params.size(), static_cast<size_t>(bundle.slot(slot).config.model.storage_size()));
}

TEST(Bundle, TrainingChangesParametersAndCountsEpochs) {
  const data::Dataset dataset = testing::synthetic_dataset(100, 10, 10);
  CpuBackend backend;
  Bundle bundle(backend, dataset, BundleOptions{.capacity = 1});
  TrainingConfig c;
  c.model = parse_model("8", 16, 3);
  c.batch_size = 30;  // 4 steps per epoch: 30, 30, 30, 10
  const int slot = bundle.add(c, 0);
  const std::vector<float> before = bundle.parameters(slot);
  std::vector<int> ended;
  for (int s = 0; s < 4; ++s) ended = bundle.step();
  EXPECT_EQ(ended, std::vector<int>{slot});
  EXPECT_EQ(bundle.slot(slot).epochs_done, 1);
  EXPECT_EQ(bundle.slot(slot).position, 0);
  EXPECT_GT(relative_difference(bundle.parameters(slot), before), 1e-3);
  const kernels::MetricSums sums = bundle.take_train_sums(slot);
  EXPECT_EQ(sums.count, 100);
  EXPECT_TRUE(std::isfinite(sums.loss_sum));
  EXPECT_EQ(bundle.take_train_sums(slot).count, 0);  // reset by the take
}

TEST(Bundle, RejectsModelsThatDoNotFitTheData) {
  const data::Dataset dataset = testing::synthetic_dataset(10, 5, 5);
  CpuBackend backend;
  Bundle bundle(backend, dataset, BundleOptions{.capacity = 1});
  TrainingConfig wrong_inputs;
  wrong_inputs.model = parse_model("8", 784, 3);
  EXPECT_THROW(bundle.add(wrong_inputs, 0), std::invalid_argument);
  TrainingConfig wrong_outputs;
  wrong_outputs.model = parse_model("8", 16, 10);
  EXPECT_THROW(bundle.add(wrong_outputs, 0), std::invalid_argument);
  TrainingConfig ok;
  ok.model = parse_model("8", 16, 3);
  bundle.add(ok, 0);
  EXPECT_THROW(bundle.add(ok, 1), std::length_error);
  bundle.remove(0);
  EXPECT_NO_THROW(bundle.add(ok, 2));
}

TEST(Bundle, EvaluationIsIndependentOfChunkingAndNeighbours) {
  const data::Dataset dataset = testing::synthetic_dataset(50, 37, 10);
  CpuBackend backend;
  TrainingConfig c;
  c.model = parse_model("12-7", 16, 3);
  c.seed = 9;
  TrainingConfig other = c;
  other.model = parse_model("30", 16, 3);
  Bundle small_chunks(backend, dataset, BundleOptions{.capacity = 2, .eval_rows = 5});
  small_chunks.add(other, 1);
  const int a = small_chunks.add(c, 0);
  Bundle one_chunk(backend, dataset, BundleOptions{.capacity = 1, .eval_rows = 100});
  const int b = one_chunk.add(c, 0);
  const std::vector<int> sa{a}, sb{b};
  const kernels::MetricSums x = small_chunks.evaluate(sa, Split::kValidation)[0];
  const kernels::MetricSums y = one_chunk.evaluate(sb, Split::kValidation)[0];
  EXPECT_EQ(x.count, 37);
  EXPECT_EQ(y.count, 37);
  EXPECT_EQ(x.correct, y.correct);
  EXPECT_NEAR(x.loss_sum, y.loss_sum, 1e-9 * std::abs(y.loss_sum));
}

}  // namespace
}  // namespace gpu_tune
