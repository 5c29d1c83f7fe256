// Refill strategies: continuous (a freed slot takes the next job at once) and static waves
// (no job starts until the whole bundle is free), seen through the order of the trainer's
// start and finish events.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "engine/cpu_backend.h"
#include "engine/trainer.h"
#include "tests/engine/synthetic_data.h"

namespace gpu_tune {
namespace {

struct Order : TrainingObserver {
  std::vector<std::string> events;  // "s" for a start, "f" for a finish
  void on_slot_started(const TrainingJob&, int) override { events.push_back("s"); }
  void on_slot_finished(const SlotResult&) override { events.push_back("f"); }
  // A start while another slot runs, other than while a wave is being filled (right after
  // another start): what waves never do and continuous refill does all the time.
  int starts_beside_running_slots() const {
    int running = 0, count = 0;
    for (size_t i = 0; i < events.size(); ++i) {
      if (events[i] == "s") {
        if (running > 0 && events[i - 1] != "s") count += 1;
        running += 1;
      } else {
        running -= 1;
      }
    }
    return count;
  }
};

std::vector<SlotResult> train(RefillStrategy refill, Order& order) {
  const data::Dataset dataset = testing::synthetic_dataset(64, 16, 16);
  CpuBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 3}, .refill = refill});
  std::vector<TrainingConfig> configs;
  for (int i = 0; i < 8; ++i) {
    TrainingConfig c;
    c.model = parse_model("12", 16, 3);
    c.batch_size = 16;
    c.seed = i;
    c.max_epochs = 1 + (i * 2) % 3;  // 1, 3, 2, 1, 3, ...: slots free at different times
    configs.push_back(c);
  }
  return trainer.train_all(configs, &order);
}

TEST(TrainerRefill, WavesStartNothingWhileASlotOfTheWaveRuns) {
  Order order;
  const std::vector<SlotResult> results = train(RefillStrategy::kWaves, order);
  for (const SlotResult& r : results) EXPECT_EQ(r.outcome, SlotOutcome::kCompleted);
  EXPECT_EQ(order.starts_beside_running_slots(), 0);
  // Waves of 3, 3 and 2: every wave starts whole, then drains whole.
  std::string sequence;
  for (const std::string& e : order.events) sequence += e;
  EXPECT_EQ(sequence, "sssfffsssfffssff");
}

TEST(TrainerRefill, ContinuousRefillStartsAJobAsSoonAsASlotFrees) {
  Order order;
  const std::vector<SlotResult> results = train(RefillStrategy::kContinuous, order);
  for (const SlotResult& r : results) EXPECT_EQ(r.outcome, SlotOutcome::kCompleted);
  EXPECT_GT(order.starts_beside_running_slots(), 0) << "the check above can fail";
}

}  // namespace
}  // namespace gpu_tune
