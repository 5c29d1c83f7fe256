// Saved models end to end: a real tuning run on generated data keeps the best trials'
// models, `evaluate` reproduces each one's recorded test accuracy exactly, and `predict`
// gives the classes that accuracy counts.
#include "apps/model_commands.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <set>
#include <sstream>

#include "apps/tune_command.h"
#include "engine/data/idx_reader.h"
#include "engine/model_file.h"
#include "tests/apps/idx_fixture.h"
#include "tests/apps/study_folder_test.h"

namespace gpu_tune::app {
namespace {

namespace fs = std::filesystem;

class ModelCommands : public testing::StudyFolderTest {
 protected:
  // A small study of MLPs and a CNN, its models kept as `models` says.
  fs::path study_file(const std::string& name, const std::string& models) {
    return write(name + ".yaml", "study: " + name + "\n" + models + R"(
budget: {trials: 5, parallel: 3}
sampler: {name: random, seed: 3}
training: {epochs: 2}
space:
  lr: {distribution: loguniform, low: 1.0e-3, high: 3.0e-2}
  model: {distribution: choice, options: ["24", "16-8", "c4-p-d12"]}
)");
  }
  std::set<std::string> model_files() const {
    std::set<std::string> names;
    if (!fs::exists(dir_ / "models")) return names;
    for (const auto& entry : fs::directory_iterator(dir_ / "models")) names.insert(entry.path().filename().string());
    return names;
  }
  ModelCommandOptions model_options(const std::string& file) const {
    ModelCommandOptions options;
    options.model_file = (dir_ / "models" / file).string();
    options.data_dir = (dir_ / "data").string();
    return options;
  }
};

TEST_F(ModelCommands, TuneKeepsTheBestTrialsAndEvaluateReproducesTheirTestAccuracy) {
  testing::write_idx_dataset(dir_ / "data", 300, 100);
  TuneOptions tune = engine_tune(study_file("kept", "models: {keep: 2}"));
  // Standardized with the statistics of 200 training images: evaluate, which loads no
  // validation split, would compute others, so this checks the saved normalization.
  tune.engine.standardize = true;
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(tune, out, log), 0) << log.str();

  std::vector<search::TrialRecord> trials = trials_of("kept");
  ASSERT_EQ(trials.size(), 5u);
  for (const auto& t : trials) ASSERT_EQ(t.state, search::TrialState::kComplete) << t.error;
  std::sort(trials.begin(), trials.end(), [](const auto& a, const auto& b) {
    return *a.value != *b.value ? *a.value < *b.value : a.number < b.number;
  });
  const std::set<std::string> best_two = {"kept-trial-" + std::to_string(trials[0].number) + ".gtm",
                                          "kept-trial-" + std::to_string(trials[1].number) + ".gtm"};
  EXPECT_EQ(model_files(), best_two);

  for (int rank = 0; rank < 2; ++rank) {
    const search::TrialRecord& t = trials[rank];
    const std::string file = "kept-trial-" + std::to_string(t.number) + ".gtm";
    const SavedModel model = read_model_file(dir_ / "models" / file);
    EXPECT_EQ(model.origin.study, "kept");
    EXPECT_EQ(model.origin.trial, t.number);
    EXPECT_EQ(model.origin.value, *t.value);
    EXPECT_EQ(model.origin.test_accuracy, t.metrics.at("test_accuracy"));
    EXPECT_EQ(model.origin.test_count, 100);
    EXPECT_TRUE(model.standardized);
    EXPECT_EQ(model.model().layers, parse_model(search::to_string(t.params.at("model"))).layers);

    std::ostringstream evaluate_out, evaluate_log;
    EXPECT_EQ(run_evaluate(model_options(file), evaluate_out, evaluate_log), 0)
        << evaluate_out.str() << evaluate_log.str();
    EXPECT_NE(evaluate_out.str().find("equal: the model reproduces its recorded test accuracy exactly"), std::string::npos)
        << evaluate_out.str();
  }
}

TEST_F(ModelCommands, KeepAllKeepsEveryCompletedTrialAndKeepZeroNone) {
  testing::write_idx_dataset(dir_ / "data", 200, 50);
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(engine_tune(study_file("all", "models: {keep: all}")), out, log), 0) << log.str();
  EXPECT_EQ(model_files().size(), 5u);
  for (const std::string& file : model_files()) {
    std::ostringstream evaluate_out, evaluate_log;
    EXPECT_EQ(run_evaluate(model_options(file), evaluate_out, evaluate_log), 0) << file << ": " << evaluate_out.str();
  }

  fs::remove_all(dir_ / "models");
  ASSERT_EQ(run_tune(engine_tune(study_file("none", "models: {keep: 0}")), out, log), 0) << log.str();
  EXPECT_TRUE(model_files().empty());
}

TEST_F(ModelCommands, PredictPrintsOneClassPerImageThatEvaluatesAccuracyCounts) {
  testing::write_idx_dataset(dir_ / "data", 300, 100);
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(engine_tune(study_file("one", "")), out, log), 0) << log.str();  // keep: 1 by default
  ASSERT_EQ(model_files().size(), 1u);
  const std::string file = *model_files().begin();
  const SavedModel model = read_model_file(dir_ / "models" / file);

  ModelCommandOptions options = model_options(file);
  options.images = (dir_ / "data" / "t10k-images-idx3-ubyte").string();
  std::ostringstream predict_out, predict_log;
  ASSERT_EQ(run_predict(options, predict_out, predict_log), 0) << predict_log.str();
  const data::IdxArray labels = data::read_idx_file(dir_ / "data" / "t10k-labels-idx1-ubyte");
  std::istringstream lines(predict_out.str());
  std::vector<int> classes;
  for (std::string line; std::getline(lines, line);) classes.push_back(std::stoi(line));
  ASSERT_EQ(classes.size(), 100u);
  int correct = 0;
  for (size_t i = 0; i < classes.size(); ++i) {
    EXPECT_TRUE(classes[i] >= 0 && classes[i] < 10) << classes[i];
    correct += classes[i] == labels.values[i];
  }
  EXPECT_EQ(correct / 100.0, model.origin.test_accuracy);

  options.output = (dir_ / "classes.txt").string();
  std::ostringstream quiet_out, quiet_log;
  ASSERT_EQ(run_predict(options, quiet_out, quiet_log), 0) << quiet_log.str();
  EXPECT_TRUE(quiet_out.str().empty());
  std::ifstream written(dir_ / "classes.txt");
  std::stringstream text;
  text << written.rdbuf();
  EXPECT_EQ(text.str(), predict_out.str());
}

TEST_F(ModelCommands, ACorruptModelOrMismatchedImagesAreErrorsNamingTheFile) {
  testing::write_idx_dataset(dir_ / "data", 200, 50);
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(engine_tune(study_file("bad", "")), out, log), 0) << log.str();
  const std::string file = *model_files().begin();
  const fs::path path = dir_ / "models" / file;
  std::string bytes;
  {
    std::ifstream in(path, std::ios::binary);
    std::stringstream all;
    all << in.rdbuf();
    bytes = all.str();
  }
  bytes[bytes.size() / 2] = static_cast<char>(bytes[bytes.size() / 2] ^ 0x40);
  std::ofstream(dir_ / "corrupt.gtm", std::ios::binary) << bytes;
  std::ofstream(dir_ / "truncated.gtm", std::ios::binary) << bytes.substr(0, 100);

  ModelCommandOptions options = model_options(file);
  options.model_file = (dir_ / "corrupt.gtm").string();
  std::ostringstream e1, l1;
  EXPECT_EQ(run_evaluate(options, e1, l1), 2);
  EXPECT_NE(l1.str().find(options.model_file + ": checksum mismatch"), std::string::npos) << l1.str();

  options.model_file = (dir_ / "truncated.gtm").string();
  options.images = (dir_ / "data" / "t10k-images-idx3-ubyte").string();
  std::ostringstream e2, l2;
  EXPECT_EQ(run_predict(options, e2, l2), 2);
  EXPECT_NE(l2.str().find(options.model_file + ": truncated at byte 100"), std::string::npos) << l2.str();

  options.model_file = path.string();
  options.images = (dir_ / "data" / "t10k-labels-idx1-ubyte").string();
  std::ostringstream e3, l3;
  EXPECT_EQ(run_predict(options, e3, l3), 2);
  EXPECT_NE(l3.str().find("t10k-labels-idx1-ubyte: expected an IDX file of images"), std::string::npos) << l3.str();
}

}  // namespace
}  // namespace gpu_tune::app
