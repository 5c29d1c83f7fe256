// The training loop: metrics per epoch, early stopping, refilling freed slots, and a
// diverging slot failed alone while its neighbours match their solo runs.
#include <gtest/gtest.h>

#include <cmath>
#include <numbers>

#include "engine/cpu_backend.h"
#include "engine/trainer.h"
#include "tests/engine/synthetic_data.h"

namespace gpu_tune {
namespace {

TrainingConfig small_config(uint64_t seed, int batch = 16, float lr = 1e-2f) {
  TrainingConfig c;
  c.model = parse_model("24", 16, 3);
  c.batch_size = batch;
  c.optimizer.learning_rate = lr;
  c.seed = seed;
  c.max_epochs = 3;
  return c;
}

TEST(Trainer, RecordsEveryEpochAndLearnsASimpleTask) {
  const data::Dataset dataset = testing::synthetic_dataset(300, 60, 60);
  CpuBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 2}});
  TrainingConfig c = small_config(5);
  c.max_epochs = 6;
  const std::vector<SlotResult> results = trainer.train_all({c});
  ASSERT_EQ(results.size(), 1u);
  const SlotResult& r = results[0];
  EXPECT_EQ(r.outcome, SlotOutcome::kCompleted);
  ASSERT_EQ(r.history.size(), 6u);
  for (size_t e = 0; e < r.history.size(); ++e) {
    EXPECT_EQ(r.history[e].epoch, static_cast<int>(e) + 1);
    EXPECT_TRUE(std::isfinite(r.history[e].validation_loss));
    EXPECT_GE(r.history[e].seconds, 0.0);
  }
  EXPECT_LT(r.history.back().train_loss, r.history.front().train_loss);
  EXPECT_GT(r.test_accuracy, 0.9);  // the bands make the classes easy to separate
  EXPECT_GE(r.best_epoch, 1);
}

// Each epoch reports the rate of its last update: the base rate throughout at a constant
// rate; under the cosine, the schedule's rate after the epoch's updates (300 images at batch
// 16: 19 updates an epoch, 57 planned), down to nearly 0 at the end.
TEST(Trainer, EpochsReportTheirLastUpdatesLearningRate) {
  const data::Dataset dataset = testing::synthetic_dataset(300, 60, 60);
  CpuBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 2}});
  TrainingConfig cosine = small_config(5);
  cosine.schedule = LearningRateSchedule::kCosine;
  const std::vector<SlotResult> results = trainer.train_all({small_config(5), cosine});
  ASSERT_EQ(results.size(), 2u);
  ASSERT_EQ(results[0].history.size(), 3u);
  ASSERT_EQ(results[1].history.size(), 3u);
  for (int e = 0; e < 3; ++e) {
    EXPECT_FLOAT_EQ(results[0].history[e].learning_rate, 1e-2f) << "epoch " << e + 1;
    const double updates_done = 19.0 * (e + 1);
    EXPECT_NEAR(results[1].history[e].learning_rate,
                0.5 * 1e-2 * (1 + std::cos(std::numbers::pi * (updates_done - 1) / 57)), 1e-8)
        << "epoch " << e + 1;
  }
  EXPECT_LT(results[1].history[2].learning_rate, 1e-4);
}

TEST(Trainer, EarlyStoppingStopsAfterPatienceEpochsWithoutImprovement) {
  const data::Dataset dataset = testing::synthetic_dataset(200, 50, 50);
  CpuBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 1}});
  TrainingConfig c = small_config(3, 8, 1e-2f);
  c.max_epochs = 40;
  c.early_stopping.patience = 2;
  c.early_stopping.min_delta = 10.0;  // nothing after the first epoch counts as improvement
  const SlotResult r = trainer.train_all({c})[0];
  EXPECT_EQ(r.outcome, SlotOutcome::kEarlyStopped);
  EXPECT_EQ(r.history.size(), 3u);  // epoch 1 sets the best, epochs 2 and 3 do not improve
  EXPECT_EQ(r.best_epoch, 1);
  EXPECT_DOUBLE_EQ(r.best_validation_loss, r.history[0].validation_loss);
}

TEST(Trainer, RestoredBestWeightsGiveTheBestEpochsMetrics) {
  // With restore_best_weights, the test metrics come from the best epoch's weights: the
  // validation split doubles as the test split here, so they must equal that epoch's.
  data::Dataset dataset = testing::synthetic_dataset(200, 50, 50);
  dataset.test = dataset.validation;
  CpuBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 1}});
  TrainingConfig c = small_config(8, 4, 0.3f);  // a large step so later epochs get worse
  c.max_epochs = 6;
  const SlotResult r = trainer.train_all({c})[0];
  ASSERT_GE(r.best_epoch, 1);
  EXPECT_NEAR(r.test_loss, r.best_validation_loss, 1e-9);
  EXPECT_NEAR(r.test_accuracy, r.best_validation_accuracy, 1e-12);
}

TEST(Trainer, RefillsFreedSlotsUntilJobsRunOut) {
  const data::Dataset dataset = testing::synthetic_dataset(64, 16, 16);
  CpuBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 2}});
  std::vector<TrainingConfig> configs;
  for (int i = 0; i < 5; ++i) {
    TrainingConfig c = small_config(i, 16);
    c.max_epochs = 1 + i % 3;  // different lengths, so slots free up at different times
    configs.push_back(c);
  }
  const std::vector<SlotResult> results = trainer.train_all(configs);
  ASSERT_EQ(results.size(), 5u);
  for (size_t i = 0; i < results.size(); ++i) {
    EXPECT_EQ(results[i].job_id, i);
    EXPECT_EQ(results[i].history.size(), static_cast<size_t>(configs[i].max_epochs));
    EXPECT_TRUE(results[i].slot == 0 || results[i].slot == 1);
  }
}

TEST(Trainer, ObserverCanStopASlotWhichIsThenNotTested) {
  struct StopJobZeroAtTwo : TrainingObserver {
    bool on_epoch_end(const TrainingJob& job, const EpochMetrics& m) override { return job.id != 0 || m.epoch < 2; }
  } observer;
  const data::Dataset dataset = testing::synthetic_dataset(64, 16, 16);
  CpuBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 2}});
  TrainingConfig stopped = small_config(1), kept = small_config(2);
  stopped.max_epochs = 10;
  kept.max_epochs = 2;  // ends with the stopped one's last epoch, in the same finish
  const std::vector<SlotResult> results = trainer.train_all({stopped, kept}, &observer);
  EXPECT_EQ(results[0].outcome, SlotOutcome::kStoppedByObserver);
  EXPECT_EQ(results[0].history.size(), 2u);
  EXPECT_TRUE(std::isnan(results[0].test_accuracy)) << "a pruned trial's model is not tested";
  EXPECT_EQ(results[1].outcome, SlotOutcome::kCompleted);
  EXPECT_GT(results[1].test_accuracy, 0.0);
  EXPECT_TRUE(std::isfinite(results[1].test_loss));
}

TEST(Trainer, ADivergingSlotFailsAloneAndItsNeighboursMatchTheirSoloRuns) {
  const data::Dataset dataset = testing::synthetic_dataset(120, 30, 30);
  CpuBackend backend;
  TrainingConfig steady_a = small_config(11, 16, 1e-2f);
  TrainingConfig steady_b = small_config(12, 7, 3e-3f);
  steady_b.model = parse_model("c6-p-20", TensorShape{4, 4, 1}, 3);  // a CNN beside an MLP
  TrainingConfig diverging = small_config(13, 16, 1e30f);
  diverging.model = parse_model("c4-p-8", TensorShape{4, 4, 1}, 3);
  diverging.optimizer.kind = kernels::OptimizerKind::kSgd;
  diverging.max_epochs = 50;

  Trainer together(backend, dataset, TrainerOptions{.bundle = {.capacity = 3}, .divergence_check_interval = 1});
  const std::vector<SlotResult> results = together.train_all({steady_a, diverging, steady_b});
  EXPECT_EQ(results[1].outcome, SlotOutcome::kFailed);
  EXPECT_NE(results[1].error.find("training loss became"), std::string::npos) << results[1].error;
  EXPECT_TRUE(std::isnan(results[1].test_accuracy));

  for (size_t i : {size_t(0), size_t(2)}) {
    Trainer alone(backend, dataset, TrainerOptions{.bundle = {.capacity = 1}});
    const SlotResult solo = alone.train_all({results[i].config})[0];
    EXPECT_EQ(results[i].outcome, SlotOutcome::kCompleted);
    ASSERT_EQ(results[i].history.size(), solo.history.size());
    for (size_t e = 0; e < solo.history.size(); ++e) {
      EXPECT_NEAR(results[i].history[e].train_loss, solo.history[e].train_loss, 1e-5 * solo.history[e].train_loss);
      EXPECT_NEAR(results[i].history[e].validation_loss, solo.history[e].validation_loss,
                  1e-5 * solo.history[e].validation_loss);
    }
    EXPECT_NEAR(results[i].test_loss, solo.test_loss, 1e-5 * solo.test_loss);
  }
}

TEST(Trainer, AModelThatCannotBePlacedFailsAloneAndTheOthersRun) {
  // Before: the bundle's exception escaped run() and left the job running forever.
  struct Events : TrainingObserver {
    std::vector<uint64_t> started;
    void on_slot_started(const TrainingJob& job, int) override { started.push_back(job.id); }
  } observer;
  const data::Dataset dataset = testing::synthetic_dataset(64, 16, 16);  // 4x4 images: 16 pixels
  CpuBackend backend;
  Trainer trainer(backend, dataset, TrainerOptions{.bundle = {.capacity = 2}});
  TrainingConfig wrong_input = small_config(2);
  wrong_input.model = parse_model("24", 20, 3);  // takes 20 inputs
  TrainingConfig wrong_classes = small_config(3);
  wrong_classes.model = parse_model("24", 16, 5);  // 5 outputs for 3 classes
  const std::vector<SlotResult> results =
      trainer.train_all({small_config(1), wrong_input, small_config(4), wrong_classes, small_config(5)}, &observer);
  ASSERT_EQ(results.size(), 5u);
  for (size_t i : {size_t(1), size_t(3)}) {
    EXPECT_EQ(results[i].job_id, i);
    EXPECT_EQ(results[i].outcome, SlotOutcome::kFailed);
    EXPECT_EQ(results[i].slot, -1) << "it never had a slot";
    EXPECT_TRUE(results[i].history.empty());
    EXPECT_TRUE(std::isnan(results[i].test_accuracy));
  }
  EXPECT_NE(results[1].error.find("20 inputs but the dataset's images have 16 pixels"), std::string::npos) << results[1].error;
  EXPECT_NE(results[3].error.find("5 outputs but the dataset has 3 classes"), std::string::npos) << results[3].error;
  for (size_t i : {size_t(0), size_t(2), size_t(4)}) {
    EXPECT_EQ(results[i].outcome, SlotOutcome::kCompleted) << results[i].error;
    EXPECT_EQ(results[i].history.size(), 3u);
  }
  EXPECT_EQ(observer.started, (std::vector<uint64_t>{0, 2, 4})) << "only the jobs that got a slot start";
  EXPECT_TRUE(trainer.bundle().occupied_slots().empty());
}

}  // namespace
}  // namespace gpu_tune
