// Best-k retention: exactly the k best trials' models stay, by the study's value in its
// direction, across keepers (a resumed study) and beside other studies' files.
#include "apps/model_keeper.h"

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <set>

#include "tests/search/temp_directory.h"

namespace gpu_tune::app {
namespace {

SavedModel trial_model(int64_t trial, double value) {
  TrainingConfig config;
  config.model = parse_model("4");
  SavedModel model = saved_model_from(config, std::vector<float>(static_cast<size_t>(config.model.storage_size()), 0.5f),
                                      InputNormalization{}, false, ModelOrigin{});
  model.origin.trial = trial;
  model.origin.value = value;
  return model;
}

std::set<std::string> files_in(const std::filesystem::path& folder) {
  std::set<std::string> names;
  if (!std::filesystem::exists(folder)) return names;
  for (const auto& entry : std::filesystem::directory_iterator(folder)) names.insert(entry.path().filename().string());
  return names;
}

TEST(ModelKeeper, KeepsExactlyTheBestKOfAMinimizedValue) {
  testing::TempDirectory dir("gpu_tune_keeper");
  const std::filesystem::path folder = dir.path() / "models";
  ModelKeeper keeper(folder, "fm", search::Direction::kMinimize, 2);
  EXPECT_EQ(keeper.offer(trial_model(0, 0.50)), folder / "fm-trial-0.gtm");
  EXPECT_TRUE(keeper.offer(trial_model(1, 0.40)));
  EXPECT_EQ(files_in(folder), (std::set<std::string>{"fm-trial-0.gtm", "fm-trial-1.gtm"}));
  EXPECT_FALSE(keeper.offer(trial_model(2, 0.60))) << "worse than both: not written";
  EXPECT_TRUE(keeper.offer(trial_model(3, 0.30)));  // trial 0 drops out
  EXPECT_EQ(files_in(folder), (std::set<std::string>{"fm-trial-1.gtm", "fm-trial-3.gtm"}));
  EXPECT_FALSE(keeper.offer(trial_model(4, std::nan(""))));  // NaN ranks last
  EXPECT_FALSE(keeper.offer(trial_model(5, 0.40))) << "a tie goes to the earlier trial";
  EXPECT_EQ(files_in(folder), (std::set<std::string>{"fm-trial-1.gtm", "fm-trial-3.gtm"}));
  EXPECT_EQ(read_model_file(folder / "fm-trial-3.gtm").origin.study, "fm");
  EXPECT_EQ(read_model_file(folder / "fm-trial-3.gtm").origin.value, 0.30);
}

TEST(ModelKeeper, AMaximizedValueKeepsTheHighest) {
  testing::TempDirectory dir("gpu_tune_keeper");
  ModelKeeper keeper(dir.path(), "acc", search::Direction::kMaximize, 1);
  keeper.offer(trial_model(0, 0.80));
  keeper.offer(trial_model(1, 0.85));
  keeper.offer(trial_model(2, 0.82));
  EXPECT_EQ(files_in(dir.path()), (std::set<std::string>{"acc-trial-1.gtm"}));
}

TEST(ModelKeeper, KeepAllKeepsEveryTrial) {
  testing::TempDirectory dir("gpu_tune_keeper");
  ModelKeeper keeper(dir.path(), "fm", search::Direction::kMinimize, std::nullopt);
  for (int trial = 0; trial < 4; ++trial) EXPECT_TRUE(keeper.offer(trial_model(trial, 1.0 - trial * 0.1)));
  EXPECT_EQ(files_in(dir.path()).size(), 4u);
}

// What is on disk decides, so a resumed study (a new keeper) goes on from its files, and
// another study's files, or a file that is not a model, are left alone.
TEST(ModelKeeper, RanksWhatIsInTheFolderAndTouchesNothingElse) {
  testing::TempDirectory dir("gpu_tune_keeper");
  ModelKeeper other_study(dir.path(), "fm-trial", search::Direction::kMinimize, 1);
  other_study.offer(trial_model(0, 0.01));  // "fm-trial-trial-0.gtm": not a trial of "fm"
  std::ofstream(dir.path() / "fm-trial-9.gtm") << "not a model";
  {
    ModelKeeper first_run(dir.path(), "fm", search::Direction::kMinimize, 2);
    first_run.offer(trial_model(0, 0.5));
    first_run.offer(trial_model(1, 0.4));
  }
  ModelKeeper resumed(dir.path(), "fm", search::Direction::kMinimize, 2);
  EXPECT_FALSE(resumed.offer(trial_model(2, 0.6)));
  EXPECT_TRUE(resumed.offer(trial_model(3, 0.1)));
  EXPECT_EQ(files_in(dir.path()),
            (std::set<std::string>{"fm-trial-trial-0.gtm", "fm-trial-9.gtm", "fm-trial-1.gtm", "fm-trial-3.gtm"}));
}

TEST(ModelKeeper, TheModelsFolderIsBesideTheStudysDatabase) {
  EXPECT_EQ(study_models_folder(std::filesystem::path("studies/fm/study.db"), "fm"), std::filesystem::path("studies/fm/models"));
  EXPECT_EQ(study_models_folder(std::nullopt, "fm"), std::filesystem::path("studies/fm/models"));
}

}  // namespace
}  // namespace gpu_tune::app
