// What a new user runs into first: values that used to be taken silently (a validation set
// of 0 images, a NaN time limit, a slot key given twice), allocations sized by a typo, a
// study whose every trial failed exiting with 0, and the command line's own exit codes.
#include <gtest/gtest.h>
#include <sys/wait.h>

#include <cmath>
#include <filesystem>
#include <limits>
#include <sstream>
#include <string>

#include "apps/slot_spec.h"
#include "apps/train_command.h"
#include "apps/tune_command.h"
#include "apps/tune_progress.h"
#include "tests/apps/idx_fixture.h"
#include "tests/apps/study_folder_test.h"

namespace gpu_tune::app {
namespace {

namespace fs = std::filesystem;

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

class NewUserErrors : public testing::StudyFolderTest {
 protected:
  fs::path small_study(const std::string& name, const std::string& budget = "{trials: 2, parallel: 2}") {
    return write(name + ".yaml", "study: " + name + "\nbudget: " + budget +
                                     "\ntraining: {epochs: 1}\nspace:\n"
                                     "  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-2}\n");
  }
  // `gpu_tune ARGS...` to its end: the exit status and everything it printed.
  std::pair<int, std::string> gpu_tune(const std::vector<std::string>& args) {
    const fs::path log = dir_ / "gpu_tune.log";
    const std::optional<int> status = testing::wait_for_exit(spawn(args, log), std::chrono::seconds(60));
    EXPECT_TRUE(status && WIFEXITED(*status)) << "gpu_tune did not exit";
    return {status && WIFEXITED(*status) ? WEXITSTATUS(*status) : -1, testing::read_file(log)};
  }
};

TEST_F(NewUserErrors, TuneWithoutValidationImagesIsAnErrorBeforeAnyTrial) {
  testing::write_idx_dataset(dir_ / "data", 200, 100);
  TuneOptions options = engine_tune(small_study("novalidation"));
  options.engine.dataset.validation_size = 0;
  std::ostringstream out, log;
  EXPECT_EQ(run_tune(options, out, log), 2);
  EXPECT_TRUE(contains(log.str(), "--validation-size 0")) << log.str();
  EXPECT_TRUE(contains(log.str(), "validation set")) << log.str();
  EXPECT_FALSE(fs::exists(dir_ / "study.db")) << "nothing is recorded";
}

TEST_F(NewUserErrors, TrainWithoutValidationImagesIsAnError) {
  testing::write_idx_dataset(dir_ / "data", 200, 100);
  TrainOptions options;
  options.engine.dataset.data_dir = dir_ / "data";
  options.engine.dataset.validation_size = 0;
  options.engine.backend = "cpu";
  options.slots = {"model=16"};
  std::ostringstream out, log;
  EXPECT_EQ(run_train(options, out, log), 2);
  EXPECT_TRUE(contains(log.str(), "--validation-size 0")) << log.str();
  EXPECT_TRUE(out.str().empty()) << out.str();
}

TEST_F(NewUserErrors, TimeLimitMustBePositiveAndFinite) {
  const fs::path study = small_study("limited");
  for (const double bad : {-1.0, 0.0, std::numeric_limits<double>::quiet_NaN(), std::numeric_limits<double>::infinity()}) {
    TuneOptions options = engine_tune(study);
    options.objective_command = "echo 1";
    options.engine = {};
    options.time_limit_seconds = bad;
    std::ostringstream out, log;
    EXPECT_EQ(run_tune(options, out, log), 2) << bad;
    EXPECT_TRUE(contains(log.str(), "--time-limit")) << log.str();
    EXPECT_TRUE(contains(log.str(), "positive, finite")) << log.str();
  }
}

TEST_F(NewUserErrors, WorkerStudyNameCannotLeaveTheStudiesFolder) {
  for (const std::string name : {"..", ".", "a/b", ""}) {
    TuneOptions options;
    options.join_study = name;
    std::ostringstream out, log;
    EXPECT_EQ(run_tune(options, out, log), 2) << name;
    EXPECT_TRUE(contains(log.str(), "is not a study name")) << log.str();
  }
}

TEST_F(NewUserErrors, ParallelIsCappedAtTheTrialBudget) {
  TuneOptions options = engine_tune(small_study("capped"));
  options.engine = {};
  options.objective_command = "true {params}; echo 1";
  options.parallel = 3000000;
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(options, out, log), 0) << log.str();
  EXPECT_TRUE(contains(log.str(), "2 commands at a time")) << log.str();
  EXPECT_EQ(testing::complete_count(trials_of("capped")), 2);
}

TEST_F(NewUserErrors, SlotsThatCannotFitInMemoryAreRefusedWithAnEstimate) {
  testing::write_idx_dataset(dir_ / "data", 200, 100);
  // A million slots of a 4096-unit model: tens of TiB, far over any machine's memory.
  const fs::path study = write("huge.yaml", R"(
study: huge
budget: {trials: 2000000, parallel: 1000000}
training: {epochs: 1}
space:
  model:
    distribution: choice
    options:
      - value: custom
        parameters:
          width1: {distribution: choice, options: [4096]}
)");
  TuneOptions options = engine_tune(study);
  options.devices = "cpu";
  std::ostringstream out, log;
  EXPECT_EQ(run_tune(options, out, log), 2);
  EXPECT_TRUE(contains(log.str(), "1000000 slots of the study's largest model")) << log.str();
  EXPECT_TRUE(contains(log.str(), "GiB, the limit is")) << log.str();
  EXPECT_TRUE(contains(log.str(), "physical memory")) << log.str();
}

TEST_F(NewUserErrors, TrainRefusesAModelLargerThanMemoryBeforeAllocatingIt) {
  testing::write_idx_dataset(dir_ / "data", 200, 100);
  TrainOptions options;
  options.engine.dataset.data_dir = dir_ / "data";
  options.engine.dataset.validation_size = 100;
  options.engine.backend = "cpu";
  options.slots = {"model=65536-65536"};
  std::ostringstream out, log;
  EXPECT_EQ(run_train(options, out, log), 2);
  EXPECT_TRUE(contains(log.str(), "needs about")) << log.str();
  EXPECT_TRUE(contains(log.str(), "the limit is")) << log.str();
}

TEST_F(NewUserErrors, AStudyWhoseEveryTrialFailedExitsNonZeroSayingWhy) {
  TuneOptions options = engine_tune(small_study("failing"));
  options.engine = {};
  options.objective_command = "echo 'no such model' >&2; exit 1";
  std::ostringstream out, log;
  EXPECT_EQ(run_tune(options, out, log), kAllTrialsFailed);
  EXPECT_TRUE(contains(log.str(), "every trial of study 'failing' failed")) << log.str();
  EXPECT_TRUE(contains(log.str(), "no such model")) << log.str();
}

TEST_F(NewUserErrors, TheSummaryOfAFinishedStudyHasNoEta) {
  // The target ends the study after its first trial, with budget left: no ETA to give.
  TuneOptions options = engine_tune(small_study("targeted", "{trials: 5, parallel: 1}"));
  options.engine = {};
  options.objective_command = "true {params}; echo 1";
  options.target = 2.0;
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(options, out, log), 0) << log.str();
  const std::string text = out.str();
  const size_t summary = text.find("study 'targeted': ");
  ASSERT_NE(summary, std::string::npos) << text;
  EXPECT_FALSE(contains(text.substr(summary), "ETA")) << text;

  search::StudyProgress progress;
  progress.budget = 5;
  progress.complete = 1;
  progress.elapsed_seconds = 10;
  EXPECT_TRUE(contains(progress_summary(progress), "ETA 40s"));
  EXPECT_FALSE(contains(progress_summary(progress, false), "ETA"));
}

TEST_F(NewUserErrors, ADataFolderFromTheStudyFileIsNamedByItsKey) {
  fs::create_directories(dir_ / "empty");
  const fs::path study = write("data.yaml", "study: withdata\ndata: " + (dir_ / "empty").string() +
                                                "\nbudget: {trials: 1, parallel: 1}\nspace:\n"
                                                "  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-2}\n");
  TuneOptions options = engine_tune(study);
  options.dataset_given = false;
  options.engine.dataset.data_dir.reset();
  std::ostringstream out, log;
  EXPECT_EQ(run_tune(options, out, log), 2);
  EXPECT_TRUE(contains(log.str(), "key 'data'")) << log.str();
  EXPECT_FALSE(contains(log.str(), "--data " + (dir_ / "empty").string())) << log.str();
}

TEST(NewUserSlotSpec, AKeyGivenTwiceIsAnErrorNamingIt) {
  try {
    parse_slot_spec("model=32,lr=0.01,model=64", TrainingConfig{});
    FAIL() << "a key given twice was taken";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "key 'model' is given twice")) << e.what();
  }
}

TEST(NewUserSlotSpec, ANegativeSeedSaysItMustBeZeroOrPositive) {
  try {
    parse_slot_spec("seed=-1", TrainingConfig{});
    FAIL() << "seed=-1 was taken";
  } catch (const std::invalid_argument& e) {
    EXPECT_TRUE(contains(e.what(), "seed='-1' must be zero or positive")) << e.what();
  }
}

TEST_F(NewUserErrors, VersionAndParseErrorsHaveDocumentedExitCodes) {
  const auto [version_status, version_text] = gpu_tune({"--version"});
  EXPECT_EQ(version_status, 0);
  EXPECT_TRUE(version_text.starts_with("gpu_tune ")) << version_text;

  const auto [flag_status, flag_text] = gpu_tune({"tune", "--no-such-flag"});
  EXPECT_EQ(flag_status, 2) << flag_text;  // CLI11's own code would be 109
  EXPECT_TRUE(contains(flag_text, "--no-such-flag")) << flag_text;

  const auto [missing_status, missing_text] = gpu_tune({"train"});  // --slot is required
  EXPECT_EQ(missing_status, 2) << missing_text;
}

}  // namespace
}  // namespace gpu_tune::app

namespace gpu_tune::app {
namespace {

class TrialTimeout : public testing::StudyFolderTest {};

TEST_F(TrialTimeout, AHungObjectiveCommandFailsItsTrialAndTheStudyGoesOn) {
  const fs::path study = write("study.yaml", R"(
study: hung
budget: {trials: 3, parallel: 3}
sampler: {name: random, seed: 1}
space:
  x: {distribution: uniform, low: -1, high: 1}
)");
  // Trial 1 hangs; the others answer at once.
  const fs::path script = write("objective.sh", "if [ \"$GPU_TUNE_TRIAL_NUMBER\" = 1 ]; then sleep 60; fi\necho 0.5\n");
  TuneOptions options;
  options.study_file = study.string();
  options.storage = storage_;
  options.objective_command = "sh " + script.string();
  options.trial_timeout_seconds = 0.5;
  options.live_progress = false;
  std::ostringstream out, log;
  const auto started = std::chrono::steady_clock::now();
  EXPECT_EQ(run_tune(options, out, log), 0) << log.str();
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(20));
  const std::vector<search::TrialRecord> trials = trials_of("hung");
  ASSERT_EQ(trials.size(), 3u);
  EXPECT_EQ(trials[1].state, search::TrialState::kFailed);
  EXPECT_NE(trials[1].error.find("timed out after 0.5 s"), std::string::npos) << trials[1].error;
  EXPECT_EQ(trials[0].state, search::TrialState::kComplete);
  EXPECT_EQ(trials[2].state, search::TrialState::kComplete);
}

TEST_F(TrialTimeout, RefusedWithoutAnObjectiveCommandOrWhenNotPositive) {
  const fs::path study = write("study.yaml", "study: t\nbudget: {trials: 1}\nspace:\n  x: {distribution: uniform, low: 0, high: 1}\n");
  for (const double bad : {0.0, -2.0, std::nan("")}) {
    TuneOptions options;
    options.study_file = study.string();
    options.storage = storage_;
    options.objective_command = "echo 1";
    options.trial_timeout_seconds = bad;
    std::ostringstream out, log;
    EXPECT_EQ(run_tune(options, out, log), 2) << bad;
    EXPECT_NE(log.str().find("must be a positive, finite number of seconds"), std::string::npos) << log.str();
  }
  TuneOptions engine;
  engine.study_file = study.string();
  engine.storage = storage_;
  engine.trial_timeout_seconds = 5;
  std::ostringstream out, log;
  EXPECT_EQ(run_tune(engine, out, log), 2);
  EXPECT_NE(log.str().find("--trial-timeout limits an --objective-command"), std::string::npos) << log.str();
  EXPECT_FALSE(fs::exists(dir_ / "study.db")) << "nothing ran";
}

}  // namespace
}  // namespace gpu_tune::app
