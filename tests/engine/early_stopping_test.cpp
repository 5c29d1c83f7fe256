#include "engine/early_stopping.h"

#include <gtest/gtest.h>

#include <cmath>

namespace gpu_tune {
namespace {

TEST(EarlyStopping, KerasPatienceAndMinDelta) {
  EarlyStopping stopping({.patience = 2, .min_delta = 0.01});
  EXPECT_TRUE(stopping.record(1, 1.0));
  EXPECT_FALSE(stopping.should_stop());
  EXPECT_FALSE(stopping.record(2, 0.995));  // better, but not by more than min_delta
  EXPECT_FALSE(stopping.should_stop());
  EXPECT_TRUE(stopping.record(3, 0.98));    // resets the count
  EXPECT_FALSE(stopping.record(4, 0.99));
  EXPECT_FALSE(stopping.should_stop());
  EXPECT_FALSE(stopping.record(5, 0.975));
  EXPECT_TRUE(stopping.should_stop());
  EXPECT_EQ(stopping.best_epoch(), 3);
  EXPECT_DOUBLE_EQ(stopping.best_loss(), 0.98);
}

TEST(EarlyStopping, WithoutPatienceNeverStops) {
  EarlyStopping stopping({});
  stopping.record(1, 1.0);
  for (int e = 2; e < 100; ++e) stopping.record(e, 2.0);
  EXPECT_FALSE(stopping.should_stop());
}

TEST(EarlyStopping, PatienceZeroStopsAtFirstNonImprovementAndNaNNeverImproves) {
  EarlyStopping stopping({.patience = 0});
  EXPECT_TRUE(stopping.record(1, 1.0));
  EXPECT_FALSE(stopping.should_stop());
  EXPECT_FALSE(stopping.record(2, std::nan("")));
  EXPECT_TRUE(stopping.should_stop());
}

}  // namespace
}  // namespace gpu_tune
