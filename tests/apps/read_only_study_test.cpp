// A study the user may read but not write: the reading commands work on it and change
// nothing, and a writer blocked by a -shm file it may not write says which file. Root ignores
// file permissions, so the commands run as the user nobody (runuser) on a folder owned by root;
// where the tests do not run as root, or nobody cannot run the binary, they are skipped.
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "search/sqlite_storage.h"
#include "tests/apps/study_folder_test.h"

namespace gpu_tune::app {
namespace {

namespace fs = std::filesystem;

constexpr uid_t kNobody = 65534;
constexpr const char* kRunuser = "/usr/sbin/runuser";

std::string bytes_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

std::string quoted(const std::string& word) { return "'" + word + "'"; }

class ReadOnlyStudy : public testing::StudyFolderTest {
 protected:
  void SetUp() override {
    StudyFolderTest::SetUp();
    if (::geteuid() != 0) GTEST_SKIP() << "needs root, to run commands as another user";
    if (!fs::exists(kRunuser)) GTEST_SKIP() << "needs " << kRunuser;
    if (as_nobody("test -x " + quoted(GPU_TUNE_BINARY)) != 0)
      GTEST_SKIP() << "the user nobody cannot run " << GPU_TUNE_BINARY;
    // Nobody may read the folder and its files, and write none of them; the commands' other
    // output goes to a folder nobody may write.
    study_dir_ = dir_ / "archive";
    output_dir_ = dir_ / "output";
    fs::create_directories(study_dir_);
    fs::create_directories(output_dir_);
    fs::permissions(dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                              fs::perms::others_read | fs::perms::others_exec);
    fs::permissions(study_dir_, fs::perms::owner_all | fs::perms::group_read | fs::perms::group_exec |
                                    fs::perms::others_read | fs::perms::others_exec);
    ASSERT_EQ(::chown(output_dir_.c_str(), kNobody, kNobody), 0);
    database_ = study_dir_ / "study.db";
  }

  // `command` run by sh as the user nobody; its exit status.
  static int as_nobody(const std::string& command) {
    const std::string line = std::string(kRunuser) + " -u nobody -- sh -c " + quoted(command);
    const int status = std::system(line.c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // `gpu_tune ARGS...` as nobody, its output and errors in `log`; its exit status.
  int gpu_tune_as_nobody(const std::vector<std::string>& args, const fs::path& log) {
    std::string command = quoted(GPU_TUNE_BINARY);
    for (const std::string& arg : args) command += " " + quoted(arg);
    return as_nobody(command + " > " + quoted(log.string()) + " 2>&1");
  }
  // The study "kept" with `count` finished trials.
  void write_study(int count) {
    search::SqliteStorage storage(database_);
    search::StudyInfo study;
    study.name = "kept";
    study.config = "study: kept\n";
    const int64_t id = storage.create_or_load_study(study).id;
    for (int i = 0; i < count; ++i) {
      const search::TrialRecord trial = storage.start_trial(id, {{"lr", 0.01 * (i + 1)}}, "cpu", 0);
      storage.finish_trial(id, trial.number, search::TrialState::kComplete, 0.1 * i, {{"test_accuracy", 0.8}}, "");
    }
  }

  fs::path study_dir_, output_dir_, database_;
};

TEST_F(ReadOnlyStudy, EveryReadingCommandReadsAFolderItMayNotWriteAndChangesNothing) {
  write_study(3);
  ASSERT_FALSE(fs::exists(database_.string() + "-wal")) << "the writer folded its log into the file";
  const std::string before = bytes_of(database_);
  const std::string db = database_.string();
  const std::vector<std::vector<std::string>> commands = {
      {"status", "--study", "kept", "--storage", db},
      {"best", "--study", "kept", "--storage", db},
      {"trials", "--study", "kept", "--storage", db},
      {"trials", "--study", "kept", "--storage", db, "--csv"},
      {"export", "--study", "kept", "--storage", db, "--format", "json", "-o", (output_dir_ / "trials.json").string()},
      {"report", "--study", "kept", "--storage", db, "-o", (output_dir_ / "report.html").string()},
  };
  for (const auto& args : commands) {
    const fs::path log = output_dir_ / "command.log";
    EXPECT_EQ(gpu_tune_as_nobody(args, log), 0) << args.front() << ": " << testing::file_text(log);
  }
  const fs::path status_log = output_dir_ / "status.log";
  ASSERT_EQ(gpu_tune_as_nobody(commands.front(), status_log), 0);
  EXPECT_NE(testing::file_text(status_log).find("trials: 3 (3 complete"), std::string::npos)
      << testing::file_text(status_log);
  EXPECT_NE(testing::file_text(output_dir_ / "trials.json").find("\"number\": 2"), std::string::npos);
  EXPECT_TRUE(fs::exists(output_dir_ / "report.html"));
  EXPECT_EQ(bytes_of(database_), before);
  EXPECT_FALSE(fs::exists(db + "-shm"));
  EXPECT_FALSE(fs::exists(db + "-wal"));
}

TEST_F(ReadOnlyStudy, AReaderThatMayNotWriteSeesWhatALiveWriterCommitted) {
  write_study(2);
  // A writer still at work: its log and index lie beside the file, and hold its latest trial.
  search::SqliteStorage writer(database_);
  const int64_t id = writer.find_study("kept")->id;
  const search::TrialRecord trial = writer.start_trial(id, {{"lr", 0.5}}, "cpu", 1);
  writer.finish_trial(id, trial.number, search::TrialState::kComplete, 0.7, {}, "");
  ASSERT_TRUE(fs::exists(database_.string() + "-wal"));
  const fs::path log = output_dir_ / "status.log";
  EXPECT_EQ(gpu_tune_as_nobody({"status", "--study", "kept", "--storage", database_.string()}, log), 0)
      << testing::file_text(log);
  EXPECT_NE(testing::file_text(log).find("trials: 3 (3 complete"), std::string::npos) << testing::file_text(log);
}

// The writer runs in a child that becomes nobody, since root may write any file.
TEST_F(ReadOnlyStudy, AShmFileAWriterMayNotWriteIsNamedInTheError) {
  write_study(1);
  // Made writable for nobody again, but for a -shm file left behind by root.
  ASSERT_EQ(::chown(study_dir_.c_str(), kNobody, kNobody), 0);
  ASSERT_EQ(::chown(database_.c_str(), kNobody, kNobody), 0);
  const fs::path shm = database_.string() + "-shm";
  std::ofstream(shm) << std::string(32768, '\0');
  fs::permissions(shm, fs::perms::owner_read | fs::perms::owner_write | fs::perms::group_read | fs::perms::others_read);
  const fs::path error_file = output_dir_ / "error.txt";
  const pid_t child = ::fork();
  if (child == 0) {
    if (::setgid(kNobody) != 0 || ::setuid(kNobody) != 0) ::_exit(3);
    std::ofstream error(error_file);
    try {
      search::SqliteStorage storage(database_);
      storage.heartbeat(storage.find_study("kept")->id);
      ::_exit(0);
    } catch (const search::StorageError& e) {
      error << e.what();
      error.close();
      ::_exit(1);
    }
  }
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);
  ASSERT_TRUE(WIFEXITED(status));
  EXPECT_EQ(WEXITSTATUS(status), 1) << "the writer should have been refused";
  const std::string error = testing::file_text(error_file);
  EXPECT_NE(error.find("'" + shm.string() + "'"), std::string::npos) << error;
  EXPECT_NE(error.find("not writable by this user"), std::string::npos) << error;
}

}  // namespace
}  // namespace gpu_tune::app
