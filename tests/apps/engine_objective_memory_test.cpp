// The engine objective on a device that runs out of memory: the study's log is told once
// that the device runs fewer slots, and every trial still completes.
#include <gtest/gtest.h>

#include <mutex>
#include <string>
#include <vector>

#include "apps/engine_objective.h"
#include "engine/bundle.h"
#include "engine/slot.h"
#include "tests/engine/budget_backend.h"
#include "tests/engine/synthetic_data.h"

namespace gpu_tune::app {
namespace {

struct NoteReporter final : search::TrialReporter {
  bool report(int64_t, const search::StepRecord&) override { return true; }
  void finish(int64_t number, const search::TrialOutcome& outcome) override {
    EXPECT_EQ(outcome.state, search::TrialState::kComplete) << "trial " << number << ": " << outcome.error;
    finished += 1;
  }
  void note(const std::string& event) override { notes.push_back(event); }
  int finished = 0;
  std::vector<std::string> notes;
};

TEST(EngineObjectiveMemory, OutOfMemoryIsOneNoteAndTheTrialsStillComplete) {
  const data::Dataset dataset = testing::synthetic_dataset(64, 16, 16, 28, 28, 10);
  EngineObjectiveOptions options;
  options.capacity = 4;
  options.device_label = "cuda:0";
  options.training_defaults = {{"epochs", "1"}, {"batch", "32"}};
  const search::ParamMap params = {{"model", std::string("32")}};
  const TrainingConfig config = trial_training_config(params, options, 0);

  // What the objective's bundle takes before any slot, measured on a bundle like it.
  size_t bundle_bytes = 0;
  {
    testing::BudgetBackend probe;
    Bundle bundle(probe, dataset, BundleOptions{.capacity = options.capacity});
    bundle_bytes = probe.in_use();
  }
  const size_t slot = Slot::bytes_needed(config, dataset.train.count, Bundle::eval_chunk_rows(BundleOptions{}, config.model));
  testing::BudgetBackend backend(bundle_bytes + slot * 5 / 2);  // room for 2.5 slots

  EngineObjective objective(backend, dataset, options);
  NoteReporter reporter;
  int64_t next = 0;
  objective.run(
      [&](int) -> std::optional<search::TrialRequest> {
        if (next >= 6) return std::nullopt;
        return search::TrialRequest{next++, params};
      },
      reporter);
  EXPECT_EQ(reporter.finished, 6);
  EXPECT_EQ(reporter.notes, std::vector<std::string>{"cuda:0: out of memory adding a slot; this device now runs 2 slots"});
  EXPECT_GE(backend.refusals(), 1);
}

}  // namespace
}  // namespace gpu_tune::app
