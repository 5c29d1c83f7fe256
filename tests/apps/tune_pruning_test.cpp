// `gpu_tune tune` with a pruner in the study file, end to end: an --objective-command study
// whose every decision is known (its intermediate-value lines are learning curves worked out
// by hand in tests/search/successive_halving_pruner_test.cpp), an engine study pruned
// through the trainer's observer hook, and `status` and `trials` showing the pruned trials.
#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <sstream>
#include <string>

#include "apps/study_commands.h"
#include "apps/tune_command.h"
#include "search/sqlite_storage.h"
#include "tests/apps/idx_fixture.h"
#include "tests/apps/study_folder_test.h"

namespace gpu_tune::app {
namespace {

namespace fs = std::filesystem;

class TunePruning : public testing::StudyFolderTest {
 protected:
  StudyCommandOptions reading(const std::string& study) {
    StudyCommandOptions options;
    options.selector.storage = (dir_ / "study.db").string();
    options.selector.study_name = study;
    return options;
  }
};

TEST_F(TunePruning, CommandTrialsArePrunedFromTheirStepLines) {
  // Trial n prints curve n as gpu_tune:step lines, then its last value as the objective.
  const fs::path script = write("curves.sh", R"(#!/bin/sh
case "$GPU_TUNE_TRIAL_NUMBER" in
  0) curve="0.9 0.8 0.7 0.6" ;;
  1) curve="1.0 0.7 0.6 0.5" ;;
  2) curve="0.8 0.75 0.65 0.55" ;;
  3) curve="0.95 0.6 0.5 0.4" ;;
  *) curve="0.85 0.9 0.3 0.2" ;;
esac
step=1
for value in $curve; do
  echo "gpu_tune:step=$step value=$value"
  step=$((step + 1))
  last=$value
done
echo "$last"
)");
  fs::permissions(script, fs::perms::owner_all);
  const fs::path study = write("study.yaml", R"(
study: pruned_command
budget: {trials: 5, parallel: 1}
sampler: {name: random, seed: 1}
pruner: {name: asha, min_resource: 1, reduction_factor: 2}
space:
  x: {distribution: uniform, low: 0, high: 1}
)");
  TuneOptions options;
  options.study_file = study.string();
  options.storage = (dir_ / "study.db").string();
  options.objective_command = "'" + script.string() + "'";
  options.live_progress = false;
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(options, out, log), 0) << log.str();
  EXPECT_NE(log.str().find("pruner asha"), std::string::npos) << log.str();
  EXPECT_NE(out.str().find("5/5 done, 0 running, 0 failed, 3 pruned"), std::string::npos) << out.str();

  // ASHA, rungs at steps 1, 2, 4, the best half going on: trials 1 and 3 fall at rung 0
  // (step 1), trial 4 at rung 1 (step 2); each keeps the value it was pruned with.
  const auto trials = trials_of("pruned_command");
  ASSERT_EQ(trials.size(), 5u);
  const std::vector<search::TrialState> states = {search::TrialState::kComplete, search::TrialState::kPruned,
                                                  search::TrialState::kComplete, search::TrialState::kPruned,
                                                  search::TrialState::kPruned};
  const std::vector<double> values = {0.6, 1.0, 0.55, 0.95, 0.9};
  for (size_t i = 0; i < trials.size(); ++i) {
    SCOPED_TRACE("trial " + std::to_string(i));
    EXPECT_EQ(trials[i].state, states[i]) << trials[i].error;
    EXPECT_EQ(trials[i].value, values[i]);
  }
  EXPECT_EQ(trials[4].attributes, (std::map<std::string, double>{{"rung_0", 0.85}, {"rung_1", 0.9}}));

  std::ostringstream status, listing, json, errors;
  ASSERT_EQ(run_status(reading("pruned_command"), status, errors), 0) << errors.str();
  EXPECT_NE(status.str().find("2 complete, 3 pruned, 0 failed"), std::string::npos) << status.str();
  ASSERT_EQ(run_trials(reading("pruned_command"), listing, errors), 0) << errors.str();
  EXPECT_NE(listing.str().find("pruned at step 2"), std::string::npos) << listing.str();
  StudyCommandOptions as_json = reading("pruned_command");
  as_json.format = "json";
  ASSERT_EQ(run_trials(as_json, json, errors), 0) << errors.str();
  EXPECT_NE(json.str().find("\"rung_1\": 0.9"), std::string::npos) << json.str();
}

TEST_F(TunePruning, EngineTrialsArePrunedThroughTheTrainer) {
  testing::write_idx_dataset(dir_ / "data", 300, 100);
  // Two learning rates on the grid, three trials: whichever comes first, a trial with the
  // useless rate 1e-9 meets one with 0.01 at rung 0 (epoch 1) after it, with a far worse
  // validation loss, and is pruned there: (good, bad, good) prunes trial 1; (bad, good, bad)
  // prunes trial 2, which must be the best of three at rung 0.
  const fs::path study = write("study.yaml", R"(
study: pruned_engine
budget: {trials: 3, parallel: 1}
sampler: {name: grid, seed: 0}
pruner: {name: asha, min_resource: 1, reduction_factor: 2}
training: {epochs: 3, patience: 3, batch: 16, model: "32"}
space:
  lr: {distribution: choice, options: [0.01, 1.0e-9]}
)");
  TuneOptions options = engine_tune(study);
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(options, out, log), 0) << log.str();
  const auto trials = trials_of("pruned_engine");
  ASSERT_EQ(trials.size(), 3u);
  int pruned_bad = 0;
  for (const auto& t : trials) {
    SCOPED_TRACE("trial " + std::to_string(t.number));
    ASSERT_TRUE(t.state == search::TrialState::kComplete || t.state == search::TrialState::kPruned) << t.error;
    // Every trial reached rung 0 at epoch 1 and had its value kept there.
    ASSERT_FALSE(t.steps.empty());
    EXPECT_EQ(t.attributes.at("rung_0"), t.steps.front().value);
    if (t.state != search::TrialState::kPruned) {
      EXPECT_EQ(t.steps.size(), 3u);
      continue;
    }
    // Stopped at once, keeping the value of the epoch it was pruned after.
    EXPECT_LT(t.steps.size(), 3u);
    EXPECT_EQ(t.value, t.steps.back().value);
    if (std::get<double>(t.params.at("lr")) < 1e-6 && t.steps.size() == 1) ++pruned_bad;
  }
  EXPECT_GE(pruned_bad, 1) << out.str();
}

}  // namespace
}  // namespace gpu_tune::app
