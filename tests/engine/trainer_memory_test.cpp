// The trainer on a device that runs out of memory (a CPU backend with a byte budget): the
// bundle runs fewer slots and every job still runs, and a model that does not fit even
// alone fails without taking the others (or the bundle's capacity) with it.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "engine/trainer.h"
#include "tests/engine/budget_backend.h"
#include "tests/engine/synthetic_data.h"

namespace gpu_tune {
namespace {

using testing::BudgetBackend;

TrainingConfig mlp(uint64_t seed, const char* hidden = "24", int epochs = 2) {
  TrainingConfig c;
  c.model = parse_model(hidden, 16, 3);
  c.batch_size = 16;
  c.optimizer.learning_rate = 1e-2f;
  c.seed = seed;
  c.max_epochs = epochs;
  return c;
}

// Everything the trainer tells, in order, and how many slots ran at once.
struct Recorder : TrainingObserver {
  std::vector<std::string> events;
  std::vector<int> reductions, restorations;
  int running = 0, most_running = 0, most_running_after_reduction = 0;
  std::vector<SlotResult> finished;
  void on_slot_started(const TrainingJob& job, int) override {
    events.push_back("start " + std::to_string(job.id));
    running += 1;
    most_running = std::max(most_running, running);
    if (!reductions.empty()) most_running_after_reduction = std::max(most_running_after_reduction, running);
  }
  void on_slot_finished(const SlotResult& r) override {
    events.push_back("finish " + std::to_string(r.job_id));
    if (r.slot >= 0) running -= 1;
    finished.push_back(r);
  }
  void on_capacity_reduced(int capacity, const std::string& why) override {
    events.push_back("reduced " + std::to_string(capacity));
    reductions.push_back(capacity);
    EXPECT_NE(why.find("exceeds the test budget"), std::string::npos) << why;
  }
  void on_capacity_restored(int capacity, const std::string&) override {
    events.push_back("restored " + std::to_string(capacity));
    restorations.push_back(capacity);
  }
};

// Runs `configs` through Trainer::run (job ids 0..n-1), recording when jobs were asked for.
void run_jobs(Trainer& trainer, const std::vector<TrainingConfig>& configs, Recorder& recorder) {
  size_t next = 0;
  trainer.run(
      [&](int) -> std::optional<TrainingJob> {
        if (next >= configs.size()) return std::nullopt;
        recorder.events.push_back("ask " + std::to_string(next));
        TrainingJob job{next, configs[next]};
        ++next;
        return job;
      },
      recorder);
}

size_t slot_bytes(const Trainer& trainer, const TrainingConfig& config) {
  return Slot::bytes_needed(config, trainer.bundle().train_count(), Bundle::eval_chunk_rows(BundleOptions{}, config.model));
}

TEST(TrainerMemory, RunsFewerSlotsWhenTheDeviceIsFullAndEveryJobCompletes) {
  const data::Dataset dataset = testing::synthetic_dataset(64, 16, 16);
  BudgetBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 4}});
  std::vector<TrainingConfig> configs;
  for (int i = 0; i < 7; ++i) configs.push_back(mlp(i, "24", 1 + i % 3));
  backend.set_budget(backend.in_use() + slot_bytes(trainer, configs[0]) * 5 / 2);  // room for 2.5 slots

  Recorder recorder;
  run_jobs(trainer, configs, recorder);
  ASSERT_EQ(recorder.finished.size(), configs.size());
  for (const SlotResult& r : recorder.finished) {
    EXPECT_NE(r.outcome, SlotOutcome::kFailed) << "job " << r.job_id << ": " << r.error;
    EXPECT_EQ(r.history.size(), static_cast<size_t>(configs[r.job_id].max_epochs));
  }
  EXPECT_EQ(recorder.reductions, std::vector<int>{2}) << "one reduction, told once";
  EXPECT_TRUE(recorder.restorations.empty());
  EXPECT_EQ(trainer.bundle().usable_capacity(), 2);
  EXPECT_EQ(recorder.most_running, 2);
  EXPECT_EQ(recorder.most_running_after_reduction, 2);
  // The job that did not fit (the third asked) waits: the next thing after the reduction
  // is a slot finishing, then that job starts, before any new job is asked for.
  const auto reduced = std::find(recorder.events.begin(), recorder.events.end(), "reduced 2");
  ASSERT_NE(reduced, recorder.events.end());
  ASSERT_LT(reduced + 2, recorder.events.end());
  EXPECT_EQ(*(reduced - 1), "ask 2");
  EXPECT_TRUE(reduced[1].starts_with("finish ")) << reduced[1];
  EXPECT_EQ(reduced[2], "start 2");
}

TEST(TrainerMemory, AModelThatDoesNotFitEvenAloneFailsAndTheOthersRun) {
  const data::Dataset dataset = testing::synthetic_dataset(64, 16, 16);
  BudgetBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 2}});
  const std::vector<TrainingConfig> configs = {mlp(1), mlp(2, "512-512"), mlp(3), mlp(4)};
  const size_t small = slot_bytes(trainer, configs[0]);
  ASSERT_GT(slot_bytes(trainer, configs[1]), 3 * small);
  backend.set_budget(backend.in_use() + small * 5 / 2);

  Recorder recorder;
  run_jobs(trainer, configs, recorder);
  ASSERT_EQ(recorder.finished.size(), 4u);
  for (const SlotResult& r : recorder.finished) {
    if (r.job_id == 1) {
      EXPECT_EQ(r.outcome, SlotOutcome::kFailed);
      EXPECT_EQ(r.slot, -1);
      EXPECT_NE(r.error.find("does not fit in the device's memory"), std::string::npos) << r.error;
      EXPECT_TRUE(r.history.empty());
    } else {
      EXPECT_EQ(r.outcome, SlotOutcome::kCompleted) << "job " << r.job_id << ": " << r.error;
    }
  }
  // Beside job 0 it looked like a full device; alone it was the model: the slot it cost
  // is given back, and jobs 2 and 3 run side by side.
  EXPECT_EQ(recorder.reductions, std::vector<int>{1});
  EXPECT_EQ(recorder.restorations, std::vector<int>{2});
  EXPECT_EQ(trainer.bundle().usable_capacity(), 2);
  const auto start3 = std::find(recorder.events.begin(), recorder.events.end(), "start 3");
  const auto finish2 = std::find(recorder.events.begin(), recorder.events.end(), "finish 2");
  EXPECT_LT(start3, finish2) << "jobs 2 and 3 ran together";
}

TEST(TrainerMemory, AModelTooLargeForAnEmptyDeviceFailsAloneWithoutReducingCapacity) {
  const data::Dataset dataset = testing::synthetic_dataset(64, 16, 16);
  BudgetBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 1}});
  const std::vector<TrainingConfig> configs = {mlp(1, "512-512"), mlp(2)};
  backend.set_budget(backend.in_use() + slot_bytes(trainer, configs[1]) * 2);
  const size_t idle = backend.in_use();

  Recorder recorder;
  run_jobs(trainer, configs, recorder);
  ASSERT_EQ(recorder.finished.size(), 2u);
  EXPECT_EQ(recorder.finished[0].job_id, 0u);
  EXPECT_EQ(recorder.finished[0].outcome, SlotOutcome::kFailed);
  EXPECT_NE(recorder.finished[0].error.find("does not fit in the device's memory"), std::string::npos);
  EXPECT_EQ(recorder.finished[1].outcome, SlotOutcome::kCompleted);
  EXPECT_TRUE(recorder.reductions.empty());
  EXPECT_GE(backend.refusals(), 1);
  EXPECT_LE(backend.in_use(), idle + slot_bytes(trainer, configs[1])) << "the failed attempt holds nothing";
}

}  // namespace
}  // namespace gpu_tune
