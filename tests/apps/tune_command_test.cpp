// `gpu_tune tune` end to end: on the engine with generated data, on an external command,
// and a real kill in the middle of a study followed by a resume.
#include "apps/tune_command.h"

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "apps/engine_objective.h"
#include "apps/study_commands.h"
#include "search/sqlite_storage.h"
#include "search/study_runner.h"
#include "tests/apps/idx_fixture.h"
#include "tests/apps/study_folder_test.h"

namespace gpu_tune::app {
namespace {

namespace fs = std::filesystem;
using testing::complete_count;
using testing::file_text;

class TuneCommand : public testing::StudyFolderTest {
 protected:
  // `gpu_tune worker --study NAME` on the engine as the tests run it (no --full: whether
  // the run is reduced follows from the study it joins).
  TuneOptions engine_worker(const std::string& study_name) const {
    TuneOptions options = engine_tune({});
    options.study_file.reset();
    options.full = false;
    options.join_study = study_name;
    return options;
  }
};

TEST_F(TuneCommand, EngineStudyRecordsValuesAndTestAccuracy) {
  testing::write_idx_dataset(dir_ / "data", 300, 100);
  const fs::path study = write("study.yaml", R"(
study: tiny
budget: {trials: 5, parallel: 3}
sampler: {name: tpe, seed: 1, startup_trials: 3}
training: {epochs: 2, patience: 1}
space:
  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-1}
  batch: {distribution: choice, options: [16, 32]}
  model:
    distribution: choice
    options:
      - value: custom
        parameters:
          width1: {distribution: quniform, low: 8, high: 32, q: 8}
)");
  TuneOptions options = engine_tune(study);
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(options, out, log), 0) << log.str();
  EXPECT_NE(out.str().find("5/5 done"), std::string::npos) << out.str();
  const auto trials = trials_of("tiny");
  ASSERT_EQ(trials.size(), 5u);
  for (const auto& t : trials) {
    EXPECT_EQ(t.state, search::TrialState::kComplete) << t.error;
    EXPECT_EQ(std::get<std::string>(t.params.at("model")), "custom");
    const int64_t batch = std::get<int64_t>(t.params.at("batch"));
    EXPECT_TRUE(batch == 16 || batch == 32);  // a value, never an index
    EXPECT_GT(t.metrics.at("test_accuracy"), 0.2);
    EXPECT_DOUBLE_EQ(*t.value, t.metrics.at("best_validation_loss"));
    EXPECT_FALSE(t.steps.empty());
    EXPECT_TRUE(t.device.starts_with("cpu")) << t.device;  // "cpu", or "cpu:N" on a machine of several threads
  }
}

TEST_F(TuneCommand, AReducedCpuRunIsAStudyOfItsOwnAndEachTrialCarriesItsEpochCap) {
  testing::write_idx_dataset(dir_ / "data", 200, 100);
  const fs::path study = write("study.yaml", R"(
study: capped
budget: {trials: 3, parallel: 2}
training: {epochs: 6}
space:
  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-2}
)");
  TuneOptions options = engine_tune(study);
  options.full = false;
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(options, out, log), 0) << log.str();  // no --full, --trials or --epochs: reduced
  EXPECT_NE(log.str().find("recorded as study 'capped-reduced'"), std::string::npos) << log.str();
  search::SqliteStorage storage(dir_ / "study.db");
  EXPECT_FALSE(storage.find_study("capped").has_value()) << "the full study holds no reduced trials";
  const auto reduced = trials_of("capped-reduced");
  ASSERT_EQ(reduced.size(), 3u);
  for (const auto& t : reduced) {
    EXPECT_EQ(t.metrics.at("epoch_cap"), 3.0);
    EXPECT_LE(t.metrics.at("epochs"), 3.0);
  }
  // A worker joining the reduced run's study keeps its caps (its budget is met: it ends).
  const TuneOptions worker = engine_worker("capped-reduced");
  std::ostringstream worker_out, worker_log;
  ASSERT_EQ(run_tune(worker, worker_out, worker_log), 0) << worker_log.str();
  EXPECT_NE(worker_log.str().find("reduced budget"), std::string::npos) << worker_log.str();
  EXPECT_EQ(trials_of("capped-reduced").size(), 3u);

  // The full run is the study's own, and its trials carry no cap.
  options.full = true;
  std::ostringstream full_out, full_log;
  ASSERT_EQ(run_tune(options, full_out, full_log), 0) << full_log.str();
  const auto full = trials_of("capped");
  ASSERT_EQ(full.size(), 3u);
  for (const auto& t : full) {
    EXPECT_EQ(t.metrics.count("epoch_cap"), 0u);
    EXPECT_EQ(t.metrics.at("epochs"), 6.0);
  }
}

// A worker joining a study is capped only when that study is a reduced run's (its name is
// the study file's name and the suffix), never because its own name ends in "-reduced".
TEST_F(TuneCommand, AWorkerCapsOnlyAReducedRunsStudyNotOneNamedLikeIt) {
  testing::write_idx_dataset(dir_ / "data", 200, 100);
  const fs::path study = write("study.yaml", R"(
study: long-reduced
budget: {trials: 2, parallel: 1}
training: {epochs: 4}
space:
  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-2}
)");
  TuneOptions first = engine_tune(study);
  first.trials = 1;
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(first, out, log), 0) << log.str();

  const TuneOptions worker = engine_worker("long-reduced");
  std::ostringstream worker_out, worker_log;
  ASSERT_EQ(run_tune(worker, worker_out, worker_log), 0) << worker_log.str();
  EXPECT_EQ(worker_log.str().find("reduced budget"), std::string::npos) << worker_log.str();
  const auto trials = trials_of("long-reduced");
  ASSERT_EQ(trials.size(), 2u);
  for (const auto& t : trials) {
    EXPECT_EQ(t.metrics.count("epoch_cap"), 0u) << "trial " << t.number;
    EXPECT_EQ(t.metrics.at("epochs"), 4.0) << "trial " << t.number;
  }
}

TEST_F(TuneCommand, TargetStopsNewTrialsOnceTheBestReachesIt) {
  testing::write_idx_dataset(dir_ / "data", 200, 100);
  const fs::path study = write("study.yaml", R"(
study: targeted
objective: {metric: validation_accuracy}
budget: {trials: 40, parallel: 1}
training: {epochs: 1}
space:
  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-1}
)");
  TuneOptions options = engine_tune(study);
  options.target = 0.0;  // any accuracy reaches it: the first trial ends the study
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(options, out, log), 0) << log.str();
  EXPECT_NE(out.str().find("target reached"), std::string::npos) << out.str();
  EXPECT_EQ(trials_of("targeted").size(), 1u);
}

TEST_F(TuneCommand, RefillInWavesRunsTheStudyAndABadRefillNamesTheFlag) {
  testing::write_idx_dataset(dir_ / "data", 200, 100);
  const fs::path study = write("study.yaml", R"(
study: waves
budget: {trials: 3, parallel: 2}
training: {epochs: 1}
space:
  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-1}
  model: {distribution: choice, options: ["16"]}
)");
  TuneOptions options = engine_tune(study);

  options.refill = "sometimes";
  std::ostringstream out, log;
  EXPECT_EQ(run_tune(options, out, log), 2);
  EXPECT_NE(log.str().find("--refill 'sometimes' is not continuous or waves"), std::string::npos) << log.str();
  EXPECT_FALSE(fs::exists(dir_ / "study.db")) << "nothing ran";

  options.refill = "waves";
  std::ostringstream out2, log2;
  ASSERT_EQ(run_tune(options, out2, log2), 0) << log2.str();
  EXPECT_NE(log2.str().find("refilled in waves"), std::string::npos) << log2.str();
  const auto trials = trials_of("waves");
  ASSERT_EQ(trials.size(), 3u);
  for (const auto& t : trials) EXPECT_EQ(t.state, search::TrialState::kComplete) << t.error;
}

TEST_F(TuneCommand, ParametersBecomeTrainingSettings) {
  EngineObjectiveOptions options;
  options.training_defaults = {{"epochs", "7"}, {"optimizer", "adamw"}};
  const TrainingConfig c = trial_training_config(
      {{"lr", 0.01}, {"batch", int64_t{128}}, {"width1", 96.0}, {"width2", 32.0}, {"dropout", 0.25}}, options, 3);
  EXPECT_FLOAT_EQ(c.optimizer.learning_rate, 0.01f);
  EXPECT_EQ(c.batch_size, 128);
  EXPECT_EQ(c.model.dense_widths(), (std::vector<int>{96, 32}));
  EXPECT_FLOAT_EQ(c.dropout, 0.25f);
  EXPECT_EQ(c.max_epochs, 7);
  EXPECT_EQ(c.optimizer.kind, kernels::OptimizerKind::kAdamW);
  EXPECT_EQ(c.seed, 3u);
  EXPECT_THROW(trial_training_config({{"learning_rate", 0.1}}, options, 0), std::invalid_argument);
  EXPECT_THROW(trial_training_config({{"width1", 12.5}}, options, 0), std::invalid_argument);
}

TEST_F(TuneCommand, BadStudyFileIsAnErrorAndNothingRuns) {
  const fs::path study = write("bad.yaml", "study: bad\nspace:\n  lr: {distribution: loguniform, low: 0, high: 1}\n");
  TuneOptions options;
  options.study_file = study.string();
  options.storage = (dir_ / "study.db").string();
  options.objective_command = "echo 1";
  std::ostringstream out, log;
  EXPECT_EQ(run_tune(options, out, log), 2);
  EXPECT_NE(log.str().find("bad.yaml"), std::string::npos) << log.str();
  EXPECT_FALSE(fs::exists(dir_ / "study.db"));
}


TEST_F(TuneCommand, KilledInTheMiddleThenResumedLosesNoCompletedTrial) {
  const fs::path study = write("study.yaml", R"(
study: durable
budget: {trials: 12, parallel: 2}
sampler: {name: random, seed: 5}
space:
  x: {distribution: uniform, low: -2, high: 2}
  n: {distribution: uniformint, low: 1, high: 4}
)");
  const fs::path script = write("objective.sh", "sleep 0.2\necho \"gpu_tune:step=1 value=$GPU_TUNE_N\"\necho \"$GPU_TUNE_X\"\n");
  const std::vector<std::string> args = {"tune",           study.string(),   "--storage", (dir_ / "study.db").string(),
                                         "--objective-command", "sh " + script.string(), "--no-progress"};
  const pid_t first = spawn(args, dir_ / "first.log");
  // Wait until some trials are complete, then kill at that arbitrary moment.
  wait_for("durable", [](const std::vector<search::TrialRecord>& trials) { return complete_count(trials) >= 3; });
  ASSERT_EQ(kill(first, SIGKILL), 0);
  int status = 0;
  waitpid(first, &status, 0);
  ASSERT_TRUE(WIFSIGNALED(status));
  const std::vector<search::TrialRecord> before = trials_of("durable");
  ASSERT_LT(before.size(), 12u) << "the study finished before the kill; the test proves nothing";

  const pid_t second = spawn(args, dir_ / "second.log");
  waitpid(second, &status, 0);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  const auto after = trials_of("durable");
  const search::StudyProgress progress = search::summarize(after, search::Direction::kMinimize);
  EXPECT_EQ(progress.done(), 12);
  EXPECT_EQ(progress.running, 0);
  for (const auto& b : before) {
    if (b.state != search::TrialState::kComplete) continue;
    const auto& a = after.at(static_cast<size_t>(b.number));
    EXPECT_EQ(a.state, search::TrialState::kComplete);
    EXPECT_EQ(a.params, b.params);
    EXPECT_EQ(a.value, b.value);
    EXPECT_EQ(a.steps.size(), 1u);
  }
  for (const auto& b : before) {
    if (b.state == search::TrialState::kRunning) {
      EXPECT_EQ(after.at(static_cast<size_t>(b.number)).error, search::kInterruptedError);
    }
  }
}

TEST_F(TuneCommand, JsonPrintsEveryEventAsOneObjectPerLine) {
  testing::write_idx_dataset(dir_ / "data", 200, 100);
  const fs::path study = write("study.yaml", R"(
study: followed
budget: {trials: 5, parallel: 2}
sampler: {name: random, seed: 2}
training: {epochs: 3}
space:
  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-1}
)");
  TuneOptions options = engine_tune(study);
  options.json = true;
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(options, out, log), 0) << log.str();

  std::istringstream lines(out.str());
  std::string line;
  std::vector<nlohmann::json> events;
  while (std::getline(lines, line)) {
    ASSERT_NO_THROW(events.push_back(nlohmann::json::parse(line))) << "not one JSON object: " << line;
    ASSERT_TRUE(events.back().contains("progress")) << line;
  }
  ASSERT_FALSE(events.empty());
  EXPECT_EQ(events.back()["event"], "study_done");
  EXPECT_EQ(events.back()["progress"]["done"], 5);
  EXPECT_TRUE(events.back()["stopped_by"].is_null());
  // Each trial: started, then its epochs in order, then finished, each once.
  std::map<int64_t, std::vector<std::string>> by_trial;
  std::map<int64_t, int64_t> last_step;
  for (const nlohmann::json& e : events) {
    if (!e.contains("trial")) continue;
    const int64_t trial = e["trial"];
    by_trial[trial].push_back(e["event"]);
    if (e["event"] == "epoch") {
      EXPECT_GT(e["step"].get<int64_t>(), last_step[trial]) << e.dump();
      last_step[trial] = e["step"];
      EXPECT_TRUE(e["value"].is_number()) << e.dump();
    }
    if (e["event"] == "trial_started") {
      EXPECT_EQ(e["params"].size(), 1u) << e.dump();
    }
  }
  ASSERT_EQ(by_trial.size(), 5u);
  for (const auto& [trial, kinds] : by_trial) {
    ASSERT_GE(kinds.size(), 3u) << "trial " << trial;
    EXPECT_EQ(kinds.front(), "trial_started") << "trial " << trial;
    EXPECT_EQ(kinds.back(), "trial_finished") << "trial " << trial;
    EXPECT_EQ(std::count(kinds.begin(), kinds.end(), "epoch"), 3) << "trial " << trial;
  }
  EXPECT_EQ(out.str().find("[tune]"), std::string::npos) << "no progress lines among the JSON";
}

}  // namespace
}  // namespace gpu_tune::app
