// The largest slot of a study's space, which sizes a GPU's slots from its free memory: the
// largest model and batch the space can produce, however the space spells them.
#include "apps/largest_slot.h"

#include <gtest/gtest.h>

#include "engine/bundle.h"
#include "engine/slot.h"

namespace gpu_tune::app {
namespace {

using search::bounded;
using search::choice;
using search::DistributionKind;

constexpr int64_t kTrain = 1000;

size_t bytes_of(const char* model, int batch) {
  TrainingConfig c;
  c.model = parse_model(model);
  c.batch_size = batch;
  return Slot::bytes_needed(c, kTrain, Bundle::eval_chunk_rows(BundleOptions{}, c.model));
}

TEST(LargestSlot, TakesTheLargestModelAndBatchOfTheSpace) {
  const search::SearchSpace space({
      {"lr", bounded(DistributionKind::kLogUniform, 1e-4, 1e-1)},
      {"batch", choice({{int64_t{32}, {}}, {int64_t{128}, {}}, {int64_t{64}, {}}})},
      {"model", choice({{std::string("mlp_large"), {}}, {std::string("cnn_small"), {}}, {std::string("mlp_small"), {}}})},
  });
  const std::optional<size_t> largest = largest_slot_bytes(space, EngineObjectiveOptions{}, kTrain);
  ASSERT_TRUE(largest.has_value());
  const size_t expected = std::max(bytes_of("cnn_small", 128), bytes_of("mlp_large", 128));
  EXPECT_EQ(*largest, expected);
  EXPECT_GT(expected, bytes_of("cnn_small", 64)) << "the batch matters, so a wrong one would show";
}

TEST(LargestSlot, PushesRangesOfSizesToTheirUpperBoundsAndTriesEveryBranch) {
  // A branch of parts beside a preset; widths from a range; a dropout range whose upper
  // bound (1) is no valid trial stays at its lower bound.
  search::ChoiceOption custom{std::string("custom"),
                              {{"width1", bounded(DistributionKind::kQUniform, 64, 1024, 64)},
                               {"width2", bounded(DistributionKind::kUniformInt, 8, 300)}}};
  const search::SearchSpace space({
      {"dropout", bounded(DistributionKind::kUniform, 0.0, 1.0)},
      {"batch", bounded(DistributionKind::kQLogUniform, 16, 512, 16)},
      {"model", choice({{std::string("mlp_small"), {}}, custom})},
  });
  const std::optional<size_t> largest = largest_slot_bytes(space, EngineObjectiveOptions{}, kTrain);
  ASSERT_TRUE(largest.has_value());
  EXPECT_EQ(*largest, bytes_of("1024-300", 512));
}

TEST(LargestSlot, UsesTheTrainingDefaultsForWhatTheSpaceLeavesOut) {
  const search::SearchSpace space({{"lr", bounded(DistributionKind::kLogUniform, 1e-4, 1e-1)}});
  EngineObjectiveOptions options;
  options.training_defaults = {{"model", "cnn_medium"}, {"batch", "96"}};
  EXPECT_EQ(largest_slot_bytes(space, options, kTrain), bytes_of("cnn_medium", 96));
  options.training_defaults = {{"model", "nonsense"}};
  EXPECT_EQ(largest_slot_bytes(space, options, kTrain), std::nullopt) << "no trial can be built";
}

}  // namespace
}  // namespace gpu_tune::app
