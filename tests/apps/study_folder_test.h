#pragma once
// A test fixture with a folder of its own for study files and the study database,
// named after the test and the process so that tests running at once never share one.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>  // getpid

#include <algorithm>
#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "apps/tune_command.h"
#include "search/sqlite_storage.h"
#include "search/storage_url.h"
#include "tests/apps/tune_process.h"

namespace gpu_tune::testing {

inline int complete_count(const std::vector<search::TrialRecord>& trials) {
  return static_cast<int>(std::count_if(trials.begin(), trials.end(), [](const search::TrialRecord& t) {
    return t.state == search::TrialState::kComplete;
  }));
}

inline std::string file_text(const std::filesystem::path& file) {
  std::ifstream in(file);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

class StudyFolderTest : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = std::filesystem::temp_directory_path() /
           ("gpu_tune_test_" + std::to_string(::getpid()) + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->test_suite_name() + "_" +
            ::testing::UnitTest::GetInstance()->current_test_info()->name());
    std::filesystem::create_directories(dir_);
    storage_ = (dir_ / "study.db").string();
  }
  void TearDown() override {
    // A child the test did not reap (an assertion ended it first) is killed, so that no test
    // leaves a gpu_tune running behind it.
    for (const pid_t child : children_) {
      if (waitpid(child, nullptr, WNOHANG) == 0) {
        kill(child, SIGKILL);
        waitpid(child, nullptr, 0);
      }
    }
    std::filesystem::remove_all(dir_);
  }

  // `gpu_tune ARGS...` in a child process (tune_process.h), killed at TearDown if still there.
  pid_t spawn(const std::vector<std::string>& args, const std::filesystem::path& log_file) {
    const pid_t child = spawn_gpu_tune(args, log_file);
    children_.push_back(child);
    return child;
  }

  std::filesystem::path write(const std::string& name, const std::string& text) {
    std::ofstream(dir_ / name) << text;
    return dir_ / name;
  }
  // `gpu_tune tune STUDY --full` on the engine as the tests run it: the CPU, the folder's
  // generated data (write_idx_dataset into data/, 100 validation images) and study.db, no
  // live progress.
  app::TuneOptions engine_tune(const std::filesystem::path& study) const {
    app::TuneOptions options;
    options.study_file = study.string();
    options.storage = (dir_ / "study.db").string();
    options.engine.dataset.data_dir = dir_ / "data";
    options.engine.dataset.validation_size = 100;
    options.dataset_given = true;
    options.engine.backend = "cpu";
    options.full = true;
    options.live_progress = false;
    return options;
  }
  // The trials of a study in the test's storage.
  std::vector<search::TrialRecord> trials_of(const std::string& study) {
    const auto storage = search::open_storage(search::parse_storage_location(storage_));
    return storage->trials(storage->find_study(study)->id);
  }
  // The same, or none while the database or the study does not exist yet (a process the
  // test started is still creating them). Opened read-only, as `gpu_tune status` opens it:
  // a read-write open takes the write lock to check the schema, and a poller that waits for
  // it behind a busy study's commits sees the study late (seconds late, under load), long
  // after the moment it waited for.
  std::vector<search::TrialRecord> trials_so_far(const std::string& study) {
    const search::StorageLocation location = search::parse_storage_location(storage_);
    if (location.is_sqlite() && !std::filesystem::exists(location.sqlite_file)) return {};
    try {
      const auto storage = search::open_storage(location, search::StorageAccess::kReadOnly);
      const auto info = storage->find_study(study);
      return info ? storage->trials(info->id) : std::vector<search::TrialRecord>{};
    } catch (const search::StorageError&) {
      return {};
    }
  }
  // Polls the study's trials until `ready(trials)` holds: true then, false after `timeout`.
  template <typename Ready>
  bool wait_for(const std::string& study, Ready ready, std::chrono::seconds timeout = std::chrono::seconds(60)) {
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(timeout * test_time_scale());
    while (std::chrono::steady_clock::now() < deadline) {
      if (ready(trials_so_far(study))) return true;
      std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    return false;
  }

  std::filesystem::path dir_;
  std::string storage_;  // where the tests' studies are kept (--storage): the folder's study.db by default
  std::vector<pid_t> children_;
};

}  // namespace gpu_tune::testing
