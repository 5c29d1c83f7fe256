// SQLite storage refuses files it must not read or write: a damaged one, one that is not a
// SQLite database, another program's database; and its read-only mode changes nothing.
#include <gtest/gtest.h>
#include <sqlite3.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <stdexcept>
#include <string>
#include <vector>

#include "search/sqlite_storage.h"
#include "tests/search/temp_directory.h"

namespace gpu_tune::search {
namespace {

namespace fs = std::filesystem;
using Access = SqliteStorage::Access;

std::string bytes_of(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

// Runs `sql` on `file` through SQLite directly, returning the first column of each row.
std::vector<std::string> raw_sql(const fs::path& file, const std::string& sql) {
  sqlite3* db = nullptr;
  if (sqlite3_open(file.c_str(), &db) != SQLITE_OK) throw std::runtime_error("cannot open " + file.string());
  std::vector<std::string> rows;
  sqlite3_stmt* statement = nullptr;
  const char* rest = sql.c_str();
  while (*rest && sqlite3_prepare_v2(db, rest, -1, &statement, &rest) == SQLITE_OK && statement) {
    while (sqlite3_step(statement) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement, 0));
      rows.emplace_back(text ? text : "");
    }
    sqlite3_finalize(statement);
  }
  sqlite3_close(db);
  return rows;
}

// The study "kept" with `count` finished trials, written and closed (so the log is folded
// into the file).
void write_study(const fs::path& file, int count) {
  SqliteStorage storage(file);
  StudyInfo study;
  study.name = "kept";
  study.config = "name: kept\n";
  const int64_t id = storage.create_or_load_study(study).id;
  for (int i = 0; i < count; ++i) {
    const TrialRecord trial = storage.start_trial(id, {{"lr", 0.001 * i}, {"model", std::string("c8-p-d64")}}, "cpu", 0);
    storage.finish_trial(id, trial.number, TrialState::kComplete, 0.5, {{"test_accuracy", 0.9}}, "");
  }
}

// The error SqliteStorage(file, access) throws, or "" when it opens.
std::string open_error(const fs::path& file, Access access) {
  try {
    SqliteStorage storage(file, access);
    return "";
  } catch (const StorageError& e) {
    return e.what();
  }
}

TEST(SqliteIntegrity, AFileWithADamagedTrialsPageIsRefusedForReadingAndWriting) {
  testing::TempDirectory directory("sqlite_integrity");
  const fs::path file = directory.path() / "study.db";
  write_study(file, 300);
  const int page_size = std::stoi(raw_sql(file, "PRAGMA page_size").at(0));
  const int root_page = std::stoi(raw_sql(file, "SELECT rootpage FROM sqlite_master WHERE name = 'trials'").at(0));
  const auto page_count = static_cast<int>(fs::file_size(file) / page_size);
  ASSERT_GT(page_count, root_page + 2) << "the trials table should lie inside the file";
  {
    std::fstream out(file, std::ios::in | std::ios::out | std::ios::binary);
    out.seekp(static_cast<std::streamoff>(root_page - 1) * page_size);
    out << std::string(static_cast<size_t>(page_size), '\xA5');
  }
  for (const Access access : {Access::kReadWrite, Access::kReadOnly}) {
    const std::string error = open_error(file, access);
    EXPECT_NE(error.find(file.string()), std::string::npos) << error;
    EXPECT_NE(error.find("the file is damaged"), std::string::npos) << error;
  }
}

TEST(SqliteIntegrity, ATextFileIsRefusedAndLeftAsItWas) {
  testing::TempDirectory directory("sqlite_integrity");
  const fs::path file = directory.path() / "notes.db";
  std::ofstream(file) << std::string(40, '-') << "\nthese are notes, not a database; long enough to fill a header\n";
  const std::string before = bytes_of(file);
  for (const Access access : {Access::kReadWrite, Access::kReadOnly}) {
    const std::string error = open_error(file, access);
    EXPECT_NE(error.find(file.string()), std::string::npos) << error;
    EXPECT_NE(error.find("not a SQLite database"), std::string::npos) << error;
  }
  EXPECT_EQ(bytes_of(file), before);
}

TEST(SqliteIntegrity, AnotherProgramsDatabaseIsRefusedAndLeftAsItWas) {
  testing::TempDirectory directory("sqlite_integrity");
  const fs::path file = directory.path() / "shop.db";
  raw_sql(file, "CREATE TABLE customers (name TEXT); INSERT INTO customers VALUES ('ada');");
  const std::string before = bytes_of(file);
  for (const Access access : {Access::kReadWrite, Access::kReadOnly}) {
    const std::string error = open_error(file, access);
    EXPECT_NE(error.find(file.string()), std::string::npos) << error;
    EXPECT_NE(error.find("not a gpu_tune study"), std::string::npos) << error;
    EXPECT_NE(error.find("customers"), std::string::npos) << error;
  }
  EXPECT_EQ(bytes_of(file), before);
  EXPECT_EQ(raw_sql(file, "SELECT name FROM sqlite_master WHERE type = 'table'"), std::vector<std::string>{"customers"});
  EXPECT_FALSE(fs::exists(file.string() + "-wal"));
}

TEST(SqliteIntegrity, ReadOnlyReadsAStudyAndChangesNothing) {
  testing::TempDirectory directory("sqlite_integrity");
  const fs::path file = directory.path() / "study.db";
  write_study(file, 3);
  const std::string before = bytes_of(file);
  {
    SqliteStorage storage(file, Access::kReadOnly);
    const std::optional<StudyInfo> study = storage.find_study("kept");
    ASSERT_TRUE(study);
    EXPECT_EQ(storage.trials(study->id).size(), 3u);
    EXPECT_THROW(storage.start_trial(study->id, {}, "cpu", 0), StorageError);
    EXPECT_FALSE(storage.find_study("other"));
  }
  EXPECT_EQ(bytes_of(file), before);
}

TEST(SqliteIntegrity, ReadOnlyReadsAnOlderFileWithoutAddingItsLaterTables) {
  testing::TempDirectory directory("sqlite_integrity");
  const fs::path file = directory.path() / "study.db";
  write_study(file, 2);
  raw_sql(file, "DROP TABLE trial_heartbeats; DROP TABLE trial_attributes; DROP TABLE study_spaces;");
  const std::vector<std::string> tables = raw_sql(file, "SELECT name FROM sqlite_master WHERE type = 'table'");
  {
    SqliteStorage storage(file, Access::kReadOnly);
    const std::optional<StudyInfo> study = storage.find_study("kept");
    ASSERT_TRUE(study);
    EXPECT_EQ(storage.trials(study->id).size(), 2u);
  }
  EXPECT_EQ(raw_sql(file, "SELECT name FROM sqlite_master WHERE type = 'table'"), tables);
}

TEST(SqliteIntegrity, ReadOnlyNeitherCreatesAMissingFileNorReadsAnEmptyOne) {
  testing::TempDirectory directory("sqlite_integrity");
  const fs::path missing = directory.path() / "missing.db";
  EXPECT_NE(open_error(missing, Access::kReadOnly).find("no such file"), std::string::npos);
  EXPECT_FALSE(fs::exists(missing));
  const fs::path empty = directory.path() / "empty.db";
  std::ofstream{empty};
  EXPECT_NE(open_error(empty, Access::kReadOnly).find("holds no study yet"), std::string::npos);
  EXPECT_EQ(fs::file_size(empty), 0u);
}

}  // namespace
}  // namespace gpu_tune::search
