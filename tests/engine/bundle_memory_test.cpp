// A bundle and the device's memory: the bytes a slot takes (Slot::bytes_needed must be what
// the constructor allocates, since slots per GPU are sized with it), an add that runs out of
// memory leaving the bundle as it was, and the usable capacity a trainer lowers.
#include <gtest/gtest.h>

#include <stdexcept>

#include "engine/bundle.h"
#include "tests/engine/budget_backend.h"
#include "tests/engine/bundle_configs.h"
#include "tests/engine/synthetic_data.h"

namespace gpu_tune {
namespace {

using testing::BudgetBackend;

size_t slot_bytes(const Bundle& bundle, const BundleOptions& options, const TrainingConfig& config) {
  return Slot::bytes_needed(config, bundle.train_count(), Bundle::eval_chunk_rows(options, config.model));
}

TEST(SlotBytes, EqualTheBytesASlotAllocates) {
  const data::Dataset dataset = testing::synthetic_dataset(157, 40, 40);
  // Both evaluation chunkings: the full eval_rows, and chunks cut to fit the buffer floats.
  for (const int64_t eval_floats : {int64_t(4) << 20, int64_t(300)}) {
    const BundleOptions options{.capacity = 2, .eval_buffer_floats = eval_floats};
    for (const TrainingConfig& config : testing::varied_configs()) {  // MLPs and CNNs
      BudgetBackend backend;
      Bundle bundle(backend, dataset, options);
      const size_t before = backend.in_use();
      bundle.add(config, 0);
      // Sizes differ between these models, so a size that ignored the model could not pass.
      EXPECT_EQ(backend.in_use() - before, slot_bytes(bundle, options, config))
          << config.model.describe() << ", eval floats " << eval_floats;
    }
  }
  const BundleOptions options{};
  const TrainingConfig small = testing::make_config("8", 4, 1e-3f, kernels::OptimizerKind::kAdam, 0, 1);
  TrainingConfig wide = small;
  wide.model = parse_model("300", TensorShape{4, 4, 1}, 3);
  TrainingConfig bigger_batch = small;
  bigger_batch.batch_size = 64;
  BudgetBackend backend;
  Bundle bundle(backend, dataset, options);
  EXPECT_LT(slot_bytes(bundle, options, small), slot_bytes(bundle, options, wide));
  EXPECT_LT(slot_bytes(bundle, options, small), slot_bytes(bundle, options, bigger_batch));
}

TEST(Bundle, AnAddThatRunsOutOfMemoryLeavesTheBundleAsItWas) {
  const data::Dataset dataset = testing::synthetic_dataset(64, 16, 16);
  BudgetBackend backend;
  const BundleOptions options{.capacity = 3};
  Bundle bundle(backend, dataset, options);
  const TrainingConfig first = testing::make_config("24", 16, 1e-3f, kernels::OptimizerKind::kAdam, 0, 1);
  const TrainingConfig cnn = testing::make_config("c5-p-12", 9, 3e-3f, kernels::OptimizerKind::kAdam, 0, 2);
  ASSERT_EQ(bundle.add(first, 0), 0);
  const size_t before = backend.in_use();
  // One byte short: the slot's last buffer is refused, after the others were taken.
  backend.set_budget(before + slot_bytes(bundle, options, cnn) - 1);
  EXPECT_THROW(bundle.add(cnn, 1), OutOfDeviceMemory);
  EXPECT_GE(backend.refusals(), 1);
  EXPECT_EQ(backend.in_use(), before) << "the failed attempt's memory goes back";
  EXPECT_EQ(bundle.occupied_slots(), std::vector<int>{0});
  EXPECT_EQ(bundle.first_free_slot(), 1);
  bundle.step();  // the bundle still trains
  EXPECT_EQ(bundle.slot(0).steps, 1);

  backend.set_budget(before + slot_bytes(bundle, options, cnn));  // exactly enough
  EXPECT_EQ(bundle.add(cnn, 1), 1);
  EXPECT_EQ(bundle.occupied_slots(), (std::vector<int>{0, 1}));
}

TEST(Bundle, MemoryKeptForRefillsIsReleasedBeforeAnAddIsRefused) {
  const data::Dataset dataset = testing::synthetic_dataset(64, 16, 16);
  BudgetBackend backend;
  const BundleOptions options{.capacity = 2};
  Bundle bundle(backend, dataset, options);
  const TrainingConfig mlp = testing::make_config("24", 16, 1e-3f, kernels::OptimizerKind::kAdam, 0, 1);
  const TrainingConfig cnn = testing::make_config("c5-p-12", 9, 3e-3f, kernels::OptimizerKind::kAdam, 0, 2);
  const size_t base = backend.in_use();
  bundle.add(mlp, 0);
  bundle.add(mlp, 1);
  bundle.remove(1);  // slot 1 keeps its memory for a refill of the same shape
  EXPECT_EQ(backend.in_use(), base + 2 * slot_bytes(bundle, options, mlp));
  bundle.remove(0);
  // A CNN fits beside nothing but not beside the memory kept in slot 1: slot 0's own is
  // released first as usual, and slot 1's when the allocation is refused.
  backend.set_budget(base + slot_bytes(bundle, options, cnn) + slot_bytes(bundle, options, mlp) / 2);
  EXPECT_EQ(bundle.add(cnn, 2), 0);
  EXPECT_EQ(backend.in_use(), base + slot_bytes(bundle, options, cnn));
}

TEST(Bundle, LimitedCapacityCountsOccupiedSlotsAndReleasesUnneededMemory) {
  const data::Dataset dataset = testing::synthetic_dataset(64, 16, 16);
  BudgetBackend backend;
  const BundleOptions options{.capacity = 4};
  Bundle bundle(backend, dataset, options);
  const TrainingConfig mlp = testing::make_config("24", 16, 1e-3f, kernels::OptimizerKind::kAdam, 0, 1);
  const size_t base = backend.in_use();
  const size_t one = slot_bytes(bundle, options, mlp);
  for (int i = 0; i < 3; ++i) bundle.add(mlp, i);
  EXPECT_THROW(bundle.limit_capacity(0), std::invalid_argument);
  EXPECT_THROW(bundle.limit_capacity(5), std::invalid_argument);
  bundle.limit_capacity(2);
  EXPECT_EQ(bundle.usable_capacity(), 2);
  EXPECT_EQ(bundle.capacity(), 4);
  EXPECT_FALSE(bundle.has_free_slot()) << "3 occupied, 2 usable";
  EXPECT_EQ(bundle.first_free_slot(), -1);
  EXPECT_THROW(bundle.add(mlp, 9), std::length_error);
  bundle.remove(0);
  EXPECT_FALSE(bundle.has_free_slot()) << "2 occupied, 2 usable";
  EXPECT_EQ(backend.in_use(), base + 2 * one) << "no refill can come: slot 0's memory goes back";
  bundle.remove(2);
  ASSERT_TRUE(bundle.has_free_slot());
  EXPECT_EQ(backend.in_use(), base + 2 * one) << "one refill can come: slot 2 keeps its memory for it";
  EXPECT_EQ(bundle.first_free_slot(), 2) << "the free slot with memory first";
  EXPECT_EQ(bundle.add(mlp, 10), 2);
  EXPECT_EQ(backend.in_use(), base + 2 * one) << "the refill reused slot 2's memory";
  EXPECT_FALSE(bundle.has_free_slot());
  bundle.limit_capacity(4);  // raised again
  EXPECT_EQ(bundle.first_free_slot(), 0);
}

}  // namespace
}  // namespace gpu_tune
