// What PostgreSQL storage adds to the typed storage suite (storage_test.cpp): many connections
// on one study, lost connections, passwords, and the schema's version.
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <set>
#include <string>
#include <thread>
#include <vector>

#include "tests/search/change_reading.h"
#include "tests/search/postgres_test_database.h"
#include "tests/search/second_thread_check.h"
#include "tests/search/temp_directory.h"
#include "tests/search/writer_processes.h"
#include "search/postgres_storage.h"
#include "search/storage_writer.h"
#include "search/study_progress.h"

namespace gpu_tune::search {
namespace {

using testing::PostgresTestDatabase;

StudyInfo study_named(const std::string& name) {
  StudyInfo study;
  study.name = name;
  study.config = "name: " + name + "\n";
  return study;
}

const ParamMap kParams = {{"x", 0.5}};

class PostgresStorageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (!database_.available()) GTEST_SKIP() << testing::kPostgresSkipMessage;
  }
  const std::string& url() const { return database_.url(); }

  PostgresTestDatabase database_;
};

// Claims until the budget is met, finishing each claimed trial; returns how many it claimed.
int claim_until_full(Storage& storage, int64_t budget) {
  const int64_t id = storage.find_study("shared")->id;
  int claimed = 0;
  while (auto trial = storage.claim_trial(id, kParams, "cpu", 0, budget, kInterruptedError)) {
    storage.record_step(id, trial->number, {1, 0.5, {}});
    storage.finish_trial(id, trial->number, TrialState::kComplete, 1.0, {}, "");
    ++claimed;
  }
  return claimed;
}

void expect_numbers_zero_to(const std::vector<TrialRecord>& trials, int64_t count) {
  ASSERT_EQ(trials.size(), static_cast<size_t>(count));
  for (size_t i = 0; i < trials.size(); ++i) {
    EXPECT_EQ(trials[i].number, static_cast<int64_t>(i));
    EXPECT_EQ(trials[i].state, TrialState::kComplete);
    EXPECT_EQ(trials[i].steps.size(), 1u);
  }
}

TEST_F(PostgresStorageTest, ConnectionsInThreadsMeetTheBudgetExactly) {
  constexpr int kWorkers = 4, kBudget = 80;
  PostgresStorage(url()).create_or_load_study(study_named("shared"));
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kWorkers);
  std::vector<int> claimed(kWorkers, 0);
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      try {
        PostgresStorage storage(url());
        claimed[w] = claim_until_full(storage, kBudget);
      } catch (const std::exception& e) {
        errors[w] = e.what();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& error : errors) EXPECT_EQ(error, "");
  int total = 0;
  for (int c : claimed) total += c;
  EXPECT_EQ(total, kBudget);
  PostgresStorage storage(url());
  expect_numbers_zero_to(storage.trials(storage.find_study("shared")->id), kBudget);
}

TEST_F(PostgresStorageTest, ProcessesMeetTheBudgetExactly) {
  constexpr int kProcesses = 3, kBudget = 60;
  // Created, then closed: a connection must not cross fork().
  PostgresStorage(url()).create_or_load_study(study_named("shared"));
  testing::run_writer_processes(kProcesses, [&](int) {
    PostgresStorage storage(url());
    claim_until_full(storage, kBudget);
  });
  PostgresStorage storage(url());
  expect_numbers_zero_to(storage.trials(storage.find_study("shared")->id), kBudget);
}

TEST_F(PostgresStorageTest, WorkersOpeningANewDatabaseTogetherCreateTheSchemaOnce) {
  constexpr int kWorkers = 6;
  std::vector<std::thread> threads;
  std::vector<std::string> errors(kWorkers);
  for (int w = 0; w < kWorkers; ++w) {
    threads.emplace_back([&, w] {
      try {
        PostgresStorage storage(url());
        storage.create_or_load_study(study_named("shared"));
      } catch (const std::exception& e) {
        errors[w] = e.what();
      }
    });
  }
  for (std::thread& thread : threads) thread.join();
  for (const std::string& error : errors) EXPECT_EQ(error, "");
}

TEST_F(PostgresStorageTest, AnotherConnectionsWriteChangesTheVersionAndOwnWritesDoNot) {
  PostgresStorage mine(url());
  PostgresStorage other(url());
  const int64_t id = mine.create_or_load_study(study_named("shared")).id;
  const uint64_t before = mine.others_version();
  mine.start_trial(id, kParams, "cpu", 0);
  mine.write_batch([&] { mine.record_step(id, 0, {1, 0.5, {}}); });
  EXPECT_EQ(mine.others_version(), before) << "this object's own writes changed its view of others";
  other.record_step(id, 0, {2, 0.4, {}});
  EXPECT_NE(mine.others_version(), before);
}

TEST_F(PostgresStorageTest, ASecondThreadInsideAnOperationIsRefusedByNameAndTheFirstFinishes) {
  // libpq serves a connection to one thread at a time; two at once took each other's results
  // or waited forever (a study's heartbeat thread beside a read by the command that ran it).
  PostgresStorage storage(url());
  testing::expect_a_second_thread_refused(storage, storage.create_or_load_study(study_named("shared")).id);
}

TEST_F(PostgresStorageTest, AnOperationAfterTheServerEndedTheConnectionRunsOnANewOne) {
  PostgresStorage storage(url());
  const int64_t id = storage.create_or_load_study(study_named("shared")).id;
  storage.start_trial(id, kParams, "cpu", 0);
  storage.start_trial(id, kParams, "cpu", 1);

  testing::run_admin_statement("SELECT pg_terminate_backend(" + std::to_string(storage.backend_pid()) + ")");
  storage.finish_trial(id, 0, TrialState::kComplete, 0.25, {{"test_accuracy", 0.9}}, "");

  // A batch cut off midway runs again as a whole.
  testing::run_admin_statement("SELECT pg_terminate_backend(" + std::to_string(storage.backend_pid()) + ")");
  storage.write_batch([&] {
    storage.record_step(id, 1, {1, 0.5, {}});
    storage.finish_trial(id, 1, TrialState::kComplete, 0.5, {}, "");
  });

  const std::vector<TrialRecord> trials = storage.trials(id);
  ASSERT_EQ(trials.size(), 2u);
  EXPECT_EQ(trials[0].state, TrialState::kComplete);
  EXPECT_EQ(trials[0].value, 0.25);
  EXPECT_EQ(trials[0].metrics.at("test_accuracy"), 0.9);
  EXPECT_EQ(trials[1].state, TrialState::kComplete);
  ASSERT_EQ(trials[1].steps.size(), 1u);
}

TEST_F(PostgresStorageTest, AResultWrittenDuringAnOutageIsHeldAndCommittedWhenTheServerReturns) {
  PostgresOptions options;
  options.reconnect_seconds = 0.3;
  PostgresStorage storage(url(), options);
  const int64_t id = storage.create_or_load_study(study_named("shared")).id;
  storage.start_trial(id, kParams, "cpu", 0);
  // The outage: the database refuses new connections, and this object's is ended.
  testing::run_admin_statement("ALTER DATABASE " + database_.name() + " ALLOW_CONNECTIONS false");
  testing::run_admin_statement("SELECT pg_terminate_backend(" + std::to_string(storage.backend_pid()) + ")");
  std::atomic<int> held{0};
  {
    StorageWriter writer(storage);
    writer.set_on_held([&](size_t, const std::string& error) {
      EXPECT_NE(error.find("no connection to the server within 0.3 s"), std::string::npos) << error;
      held += 1;
    });
    writer.enqueue([&](Storage& s) {
      s.record_step(id, 0, {1, 0.5, {}});
      s.finish_trial(id, 0, TrialState::kComplete, 0.5, {{"test_accuracy", 0.8}}, "");
    });
    EXPECT_THROW(writer.flush(), StorageUnavailable);
    while (held < 2) std::this_thread::sleep_for(std::chrono::milliseconds(20));  // tried again, and held still
    testing::run_admin_statement("ALTER DATABASE " + database_.name() + " ALLOW_CONNECTIONS true");
  }  // the writer commits what it holds before it is gone
  PostgresStorage reader(url());
  const std::vector<TrialRecord> trials = reader.trials(id);
  ASSERT_EQ(trials.size(), 1u);
  EXPECT_EQ(trials[0].state, TrialState::kComplete) << "the finished trial's result was lost in the outage";
  EXPECT_EQ(trials[0].metrics.at("test_accuracy"), 0.8);
  EXPECT_EQ(trials[0].steps.size(), 1u);
}

TEST_F(PostgresStorageTest, ACopyReadByChangesWhileOthersWriteEndsEqualToTheStudy) {
  testing::expect_a_copy_read_by_changes_to_match([&] { return std::make_unique<PostgresStorage>(url()); });
}

// A database of schema version 1 (trials without change stamps) is brought to version 2 at
// open; its old trials are read in full at first, then only what changes.
TEST_F(PostgresStorageTest, AVersionOneDatabaseIsMigratedAndReadByChanges) {
  int64_t study = -1;
  {
    PostgresStorage storage(url());
    StudyInfo info;
    info.name = "old";
    study = storage.create_or_load_study(info).id;
    storage.start_trial(study, {{"x", 0.1}}, "cpu", 0);
    storage.start_trial(study, {{"x", 0.2}}, "cpu", 1);
  }
  {
    PGconn* connection = PQconnectdb(url().c_str());
    for (const char* sql : {"DROP INDEX trials_by_change", "ALTER TABLE trials DROP COLUMN changed",
                            "DELETE FROM gpu_tune_schema WHERE version = 2"}) {
      PGresult* result = PQexec(connection, sql);
      EXPECT_EQ(PQresultStatus(result), PGRES_COMMAND_OK) << sql << ": " << PQerrorMessage(connection);
      PQclear(result);
    }
    PQfinish(connection);
  }
  PostgresStorage storage(url());
  testing::expect_old_trials_read_then_only_changes(storage, study);
}

TEST_F(PostgresStorageTest, RefusesADatabaseOfANewerSchema) {
  { PostgresStorage storage(url()); }
  {
    PGconn* connection = PQconnectdb(url().c_str());
    PQclear(PQexec(connection, "INSERT INTO gpu_tune_schema (version) VALUES (99)"));
    PQfinish(connection);
  }
  try {
    PostgresStorage storage(url());
    FAIL() << "opened a database of a newer schema";
  } catch (const StorageError& e) {
    EXPECT_NE(std::string(e.what()).find("schema version 99"), std::string::npos) << e.what();
  }
}

// The test server asks for a password over TCP; the role gpu_tune_password has one.
class PostgresPasswordTest : public PostgresStorageTest {
 protected:
  void SetUp() override {
    PostgresStorageTest::SetUp();
    if (IsSkipped()) return;
    password_ = testing::read_state_file("password");
    tcp_url_ = "postgresql://gpu_tune_password@127.0.0.1:" + testing::read_state_file("port") + "/gpu_tune_password";
  }
  void TearDown() override { unsetenv("PGPASSWORD"); unsetenv("PGPASSFILE"); }

  std::string password_, tcp_url_;
};

TEST_F(PostgresPasswordTest, ComesFromTheUrlTheEnvironmentOrAPasswordFile) {
  const std::string with_password =
      "postgresql://gpu_tune_password:" + password_ + "@127.0.0.1:" + testing::read_state_file("port") + "/gpu_tune_password";
  PostgresStorage from_url(with_password);
  EXPECT_EQ(from_url.description().find(password_), std::string::npos) << from_url.description();
  EXPECT_NE(from_url.description().find("***"), std::string::npos) << from_url.description();

  setenv("PGPASSWORD", password_.c_str(), 1);
  EXPECT_NO_THROW(PostgresStorage{tcp_url_});
  unsetenv("PGPASSWORD");

  testing::TempDirectory directory{"pgpass"};
  const std::string passfile = (directory.path() / "pgpass").string();
  std::ofstream(passfile) << "127.0.0.1:" << testing::read_state_file("port") << ":*:gpu_tune_password:" << password_ << "\n";
  std::filesystem::permissions(passfile, std::filesystem::perms::owner_read | std::filesystem::perms::owner_write);
  setenv("PGPASSFILE", passfile.c_str(), 1);
  EXPECT_NO_THROW(PostgresStorage{tcp_url_});
}

TEST_F(PostgresPasswordTest, AWrongPasswordIsRefusedAtOnceAndNeverPrinted) {
  const std::string wrong = "not-the-" + password_;
  const auto started = std::chrono::steady_clock::now();
  try {
    PostgresStorage storage("postgresql://gpu_tune_password:" + wrong + "@127.0.0.1:" + testing::read_state_file("port") +
                            "/gpu_tune_password");
    FAIL() << "connected with a wrong password";
  } catch (const StorageError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find(wrong), std::string::npos) << message;
    EXPECT_NE(message.find("password authentication failed"), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(5)) << "a refused password was retried";
}

TEST(PostgresStorageUnreachable, GivesUpAfterItsBoundAndSaysWhere) {
  // A port nothing listens on (the discard port, closed on any test machine).
  const std::string url = "postgresql://someone:secret-word@127.0.0.1:9/db";
  PostgresOptions options;
  options.open_retry_seconds = 0.5;
  const auto started = std::chrono::steady_clock::now();
  try {
    PostgresStorage storage(url, options);
    FAIL() << "connected to a closed port";
  } catch (const StorageError& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.find("secret-word"), std::string::npos) << message;
    EXPECT_NE(message.find("postgresql://someone:***@127.0.0.1:9/db"), std::string::npos) << message;
    EXPECT_NE(message.find("0.5 s"), std::string::npos) << message;
  }
  EXPECT_LT(std::chrono::steady_clock::now() - started, std::chrono::seconds(10));
}

}  // namespace
}  // namespace gpu_tune::search
