#include "search/training_changes.h"

#include <gtest/gtest.h>

namespace gpu_tune::search {
namespace {

TEST(TrainingChanges, NamesEveryChangedAddedAndRemovedKeyInKeyOrder) {
  EXPECT_EQ(training_changes({{"epochs", "10"}, {"optimizer", "adam"}}, {{"optimizer", "adam"}, {"epochs", "10"}}), "");
  EXPECT_EQ(training_changes({{"patience", "2"}, {"epochs", "10"}}, {{"schedule", "cosine"}, {"epochs", "20"}}),
            "'epochs' changed from 10 to 20; 'patience' removed (was 2); 'schedule' added (cosine)");
}

TEST(TrainingChanges, ReadsTheStoredStudyFilesDefaults) {
  const auto stored = stored_training_defaults(
      "study: s\nbudget: {trials: 2}\ntraining: {epochs: 3, lr: 0.01}\nspace:\n  x: {distribution: uniform, low: 0, high: 1}\n");
  ASSERT_TRUE(stored.has_value());
  EXPECT_EQ(training_changes(*stored, {{"lr", "0.01"}, {"epochs", "3"}}), "");
  // A study file without training defaults has none; one this version cannot read (from
  // another version, or none stored) gives nothing to compare.
  const auto none = stored_training_defaults("study: s\nspace:\n  x: {distribution: uniform, low: 0, high: 1}\n");
  ASSERT_TRUE(none.has_value());
  EXPECT_TRUE(none->empty());
  EXPECT_FALSE(stored_training_defaults("study: s\nspace: [not, a, map]\n").has_value());
  EXPECT_FALSE(stored_training_defaults("").has_value());
}

}  // namespace
}  // namespace gpu_tune::search
