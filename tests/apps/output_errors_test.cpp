// A command whose output cannot be written fails: the real binary, its output sent to
// /dev/full (every write: "No space left on device"), exits 2 naming the output and the reason.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <string>
#include <vector>

#include "engine/model_file.h"
#include "engine/model_spec.h"
#include "engine/training_config.h"
#include "search/sqlite_storage.h"
#include "tests/apps/idx_fixture.h"
#include "tests/apps/study_folder_test.h"

namespace gpu_tune::app {
namespace {

namespace fs = std::filesystem;

constexpr const char* kFull = "/dev/full";

struct CommandRun {
  int exit_code = -1;
  std::string errors;  // standard error
};

class OutputErrors : public testing::StudyFolderTest {
 protected:
  void SetUp() override {
    StudyFolderTest::SetUp();
    struct stat full {};
    if (::stat(kFull, &full) != 0 || !S_ISCHR(full.st_mode)) GTEST_SKIP() << "needs " << kFull;
    search::SqliteStorage storage(storage_);
    search::StudyInfo study;
    study.name = "kept";
    study.config = "study: kept\n";
    const int64_t id = storage.create_or_load_study(study).id;
    const search::TrialRecord trial = storage.start_trial(id, {{"lr", 0.01}}, "cpu", 0);
    storage.finish_trial(id, trial.number, search::TrialState::kComplete, 0.3, {{"test_accuracy", 0.8}}, "");
  }
  void TearDown() override {
    struct stat full {};
    EXPECT_TRUE(::stat(kFull, &full) == 0 && S_ISCHR(full.st_mode)) << kFull << " is no longer a device";
    StudyFolderTest::TearDown();
  }

  // `gpu_tune ARGS...` with its standard output on `stdout_file` and its errors collected.
  CommandRun gpu_tune(const std::vector<std::string>& args, const char* stdout_file = "/dev/null") {
    const fs::path errors = dir_ / "errors.log";
    const pid_t child = ::fork();
    if (child == 0) {
      const int out = ::open(stdout_file, O_WRONLY);
      const int err = ::open(errors.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (out < 0 || err < 0 || ::dup2(out, STDOUT_FILENO) < 0 || ::dup2(err, STDERR_FILENO) < 0) ::_exit(127);
      std::vector<std::string> words = {GPU_TUNE_BINARY};
      words.insert(words.end(), args.begin(), args.end());
      std::vector<char*> argv;
      for (std::string& word : words) argv.push_back(word.data());
      argv.push_back(nullptr);
      ::execv(argv[0], argv.data());
      ::_exit(127);
    }
    int status = 0;
    ::waitpid(child, &status, 0);
    return {WIFEXITED(status) ? WEXITSTATUS(status) : -1, testing::file_text(errors)};
  }
  std::vector<std::string> study_args(std::vector<std::string> args) const {
    args.insert(args.end(), {"--study", "kept", "--storage", storage_});
    return args;
  }
};

constexpr const char* kNoSpace = "No space left on device";

TEST_F(OutputErrors, ReadingCommandsFailWhenStandardOutputCannotBeWritten) {
  for (const auto& args : {study_args({"status"}), study_args({"best"}), study_args({"trials"}),
                           study_args({"trials", "--csv"}), study_args({"trials", "--json"}),
                           study_args({"export", "--format", "json"})}) {
    const CommandRun run = gpu_tune(args, kFull);
    EXPECT_EQ(run.exit_code, 2) << args.front() << ": " << run.errors;
    EXPECT_NE(run.errors.find("gpu_tune " + args.front() + ": error: cannot write standard output: " + kNoSpace),
              std::string::npos)
        << run.errors;
  }
  EXPECT_EQ(gpu_tune(study_args({"trials", "--csv"})).exit_code, 0) << "the same command writes to /dev/null";
}

TEST_F(OutputErrors, ExportAndReportFailWhenTheirFileCannotBeWritten) {
  const CommandRun exported = gpu_tune(study_args({"export", "--format", "csv", "-o", kFull}));
  EXPECT_EQ(exported.exit_code, 2) << exported.errors;
  EXPECT_NE(exported.errors.find("gpu_tune export: error: cannot write /dev/full: " + std::string(kNoSpace)),
            std::string::npos)
      << exported.errors;
  // Through a link: a report renamed over its target would replace the link, not the device.
  const fs::path full = dir_ / "full";
  fs::create_symlink(kFull, full);
  const CommandRun reported = gpu_tune(study_args({"report", "-o", full.string()}));
  EXPECT_EQ(reported.exit_code, 2) << reported.errors;
  EXPECT_NE(reported.errors.find("gpu_tune report: error: cannot write " + full.string() + ": " + kNoSpace),
            std::string::npos)
      << reported.errors;
  EXPECT_TRUE(fs::is_symlink(full));
  EXPECT_FALSE(fs::exists(full.string() + ".partial"));
}

TEST_F(OutputErrors, ExportNamesItselfInItsErrors) {
  const CommandRun run = gpu_tune({"export", "--format", "csv", "--study", "missing", "--storage", storage_});
  EXPECT_EQ(run.exit_code, 2);
  EXPECT_EQ(run.errors.rfind("gpu_tune export: error: ", 0), 0u) << run.errors;
}

TEST_F(OutputErrors, PredictFailsWhenItsOutputCannotBeWritten) {
  // An untrained MLP (every weight 0) predicts some class for each image: enough to write.
  TrainingConfig config;
  config.model = parse_model("8");
  const SavedModel model = saved_model_from(config, std::vector<float>(static_cast<size_t>(config.model.storage_size()), 0.0f),
                                            InputNormalization{}, false, ModelOrigin{});
  const fs::path model_file = dir_ / "tiny.gtm";
  write_model_file(model_file, model);
  testing::write_idx_dataset(dir_ / "data", 4, 4);
  const std::string images = (dir_ / "data" / "t10k-images-idx3-ubyte").string();

  const CommandRun to_null = gpu_tune({"predict", "--model", model_file.string(), images});
  ASSERT_EQ(to_null.exit_code, 0) << to_null.errors;
  const CommandRun to_file = gpu_tune({"predict", "--model", model_file.string(), images, "-o", kFull});
  EXPECT_EQ(to_file.exit_code, 2) << to_file.errors;
  EXPECT_NE(to_file.errors.find("gpu_tune predict: error: cannot write /dev/full: " + std::string(kNoSpace)),
            std::string::npos)
      << to_file.errors;
  const CommandRun to_stdout = gpu_tune({"predict", "--model", model_file.string(), images}, kFull);
  EXPECT_EQ(to_stdout.exit_code, 2) << to_stdout.errors;
  EXPECT_NE(to_stdout.errors.find("cannot write standard output: " + std::string(kNoSpace)), std::string::npos)
      << to_stdout.errors;
}

}  // namespace
}  // namespace gpu_tune::app
