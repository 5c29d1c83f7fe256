// A study the engine cannot run is refused before its first trial, with one error naming
// the file, line and problem; a study whose space changed since it began is refused on
// resume, saying what changed, while a changed budget is fine.
#include "apps/engine_study_check.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <sstream>

#include "apps/tune_command.h"
#include "search/sqlite_storage.h"

#include "tests/apps/study_folder_test.h"

namespace gpu_tune::app {
namespace {

namespace fs = std::filesystem;

class EngineStudyCheck : public testing::StudyFolderTest {
 protected:

  // Runs `gpu_tune tune` on the engine with this study file; returns the exit code and
  // leaves the error in log_.
  int tune(const std::string& study_text) {
    std::ofstream(dir_ / "study.yaml") << study_text;
    TuneOptions options;
    options.study_file = (dir_ / "study.yaml").string();
    options.storage = (dir_ / "study.db").string();
    options.engine.dataset.data_dir = dir_ / "no-data-needed";
    options.dataset_given = true;
    options.live_progress = false;
    std::ostringstream out, log;
    const int code = run_tune(options, out, log);
    log_ = log.str();
    return code;
  }
  // The error must name the file and line, mention every part, and nothing may have run.
  void expect_refused(const std::string& study_text, int line, const std::vector<std::string>& parts) {
    EXPECT_EQ(tune(study_text), 2);
    const std::string where = (dir_ / "study.yaml").string() + ":" + std::to_string(line) + ": ";
    EXPECT_NE(log_.find(where), std::string::npos) << "expected " << where << " in: " << log_;
    for (const std::string& part : parts) EXPECT_NE(log_.find(part), std::string::npos) << part << " missing from: " << log_;
    EXPECT_EQ(log_.find("dataset"), std::string::npos) << "the check comes before the data is loaded: " << log_;
    EXPECT_FALSE(fs::exists(dir_ / "study.db")) << "a study was created for a file that cannot run";
  }
  std::string log_;
};

TEST_F(EngineStudyCheck, AParameterTheEngineDoesNotKnowIsRefusedAtItsLine) {
  expect_refused(R"(study: s
space:
  lr: {distribution: loguniform, low: 1.0e-4, high: 1.0e-1}
  learning_rate: {distribution: loguniform, low: 1.0e-4, high: 1.0e-1}
)",
                 4, {"key 'space.learning_rate'", "unknown key 'learning_rate'", "lr", "width1"});
}

TEST_F(EngineStudyCheck, ABadTrainingDefaultIsRefusedAtItsLine) {
  expect_refused(R"(study: s
training:
  epochs: 3
  optimizer: adamm
space:
  lr: {distribution: loguniform, low: 1.0e-4, high: 1.0e-1}
)",
                 4, {"key 'training.optimizer'", "adamm", "adam, adamw, sgd"});
  expect_refused("study: s\ntraining: {batch: 0}\nspace:\n  lr: {distribution: loguniform, low: 1.0e-4, high: 1.0e-1}\n", 2,
                 {"key 'training'", "batch"});
}

TEST_F(EngineStudyCheck, AValueTheEngineCannotTrainIsRefusedAtItsParameter) {
  // width1 can be 0 (quniform rounds 0..7 down), inside a branch.
  expect_refused(R"(study: s
space:
  lr: {distribution: loguniform, low: 1.0e-4, high: 1.0e-1}
  model:
    distribution: choice
    options:
      - mlp_small
      - value: custom
        parameters:
          width1: {distribution: quniform, low: 0, high: 64, q: 16}
)",
                 10, {"key 'space.model.options[1].parameters.width1'", "width1=0", "model=custom"});
  expect_refused(R"(study: s
space:
  dropout: {distribution: uniform, low: 0, high: 1}
)",
                 3, {"dropout=1", "[0, 1)"});
  expect_refused(R"(study: s
space:
  optimizer: {distribution: choice, options: [adam, adamm]}
)",
                 3, {"optimizer=adamm"});
}

TEST_F(EngineStudyCheck, AMetricAndDirectionThatDisagreeAreRefused) {
  expect_refused(R"(study: s
objective:
  metric: validation_accuracy
  direction: minimize
space:
  lr: {distribution: loguniform, low: 1.0e-4, high: 1.0e-1}
)",
                 4, {"key 'objective.direction'", "minimize validation_accuracy"});
}

TEST_F(EngineStudyCheck, TheExampleStudiesPass) {
  const fs::path examples = fs::path(__FILE__).parent_path().parent_path().parent_path() / "examples";
  int checked = 0;
  for (const auto& entry : fs::directory_iterator(examples)) {
    if (entry.path().extension() != ".yaml") continue;
    const search::StudyConfig study = search::load_study_config(entry.path());
    EngineObjectiveOptions options;
    options.metric = study.metric;
    options.training_defaults = study.training;
    EXPECT_NO_THROW(check_engine_study(study, options)) << entry.path();
    ++checked;
  }
  EXPECT_GE(checked, 2);
}

// The space check on resume, through the command objective (no data needed).
class ResumeSpaceCheck : public EngineStudyCheck {
 protected:
  int tune_command(const std::string& space, int64_t trials, const std::string& training = "") {
    std::ofstream(dir_ / "study.yaml") << "study: resumed\nbudget: {trials: " << trials << ", parallel: 1}\n"
                                       << training << "space:\n" << space;
    TuneOptions options;
    options.study_file = (dir_ / "study.yaml").string();
    options.storage = (dir_ / "study.db").string();
    options.objective_command = "echo 0.5 #";  // the --NAME=VALUE arguments appended become a comment
    options.live_progress = false;
    std::ostringstream out, log;
    const int code = run_tune(options, out, log);
    log_ = log.str();
    return code;
  }
  size_t trial_count() {
    search::SqliteStorage storage(dir_ / "study.db");
    return storage.trials(storage.find_study("resumed")->id).size();
  }
};

TEST_F(ResumeSpaceCheck, AChangedSpaceIsRefusedSayingWhatChangedAndABudgetChangeIsNot) {
  const std::string space = "  x: {distribution: uniform, low: 0, high: 1}\n  n: {distribution: choice, options: [1, 2]}\n";
  ASSERT_EQ(tune_command(space, 2), 0) << log_;
  ASSERT_EQ(trial_count(), 2u);

  EXPECT_EQ(tune_command("  x: {distribution: uniform, low: 0, high: 2}\n  m: {distribution: choice, options: [1, 2]}\n", 4), 2);
  for (const char* part : {"study.yaml:3: key 'space'", "changed since the study began", "parameter 'x' changed from uniform(low=0, high=1) to uniform(low=0, high=2)",
                           "parameter 'n' removed", "parameter 'm' added"})
    EXPECT_NE(log_.find(part), std::string::npos) << part << " missing from: " << log_;
  EXPECT_EQ(trial_count(), 2u) << "a refused resume ran trials";

  // The same space, written differently, with a bigger budget: it resumes.
  EXPECT_EQ(tune_command("  n: {options: [1, 2], distribution: choice}\n  x: {distribution: uniform, low: 0.0, high: 1.0}\n", 3), 0) << log_;
  EXPECT_EQ(trial_count(), 3u);
}

// Every trial is trained with the study file's training defaults: other defaults on resume
// would rank trials trained two ways against each other.
TEST_F(ResumeSpaceCheck, ChangedTrainingDefaultsAreRefusedSayingWhatChanged) {
  const std::string space = "  x: {distribution: uniform, low: 0, high: 1}\n";
  ASSERT_EQ(tune_command(space, 2, "training: {epochs: 10, patience: 2}\n"), 0) << log_;
  ASSERT_EQ(trial_count(), 2u);

  EXPECT_EQ(tune_command(space, 4, "training: {epochs: 20, schedule: cosine}\n"), 2);
  for (const char* part : {"study.yaml:3: key 'training'", "training defaults of study 'resumed'", "changed since the study began",
                           "'epochs' changed from 10 to 20", "'patience' removed (was 2)", "'schedule' added (cosine)"})
    EXPECT_NE(log_.find(part), std::string::npos) << part << " missing from: " << log_;
  EXPECT_EQ(trial_count(), 2u) << "a refused resume ran trials";

  // The same defaults in another order and layout, with a bigger budget: it resumes.
  EXPECT_EQ(tune_command(space, 3, "training:\n  patience: 2\n  epochs: 10\n"), 0) << log_;
  EXPECT_EQ(trial_count(), 3u);
}

}  // namespace
}  // namespace gpu_tune::app
