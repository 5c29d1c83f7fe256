#pragma once
// A fresh, empty database on the tests' PostgreSQL server for one test, dropped afterwards.
// ctest starts the server (scripts/postgres-test-server.sh, a test fixture) and names its
// state folder in GPU_TUNE_TEST_POSTGRES. Run outside ctest without that variable, the
// PostgreSQL cases skip and say how to run them; with it set, a server that cannot be
// reached fails them.
#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <stdexcept>
#include <string>

namespace gpu_tune::testing {

inline constexpr const char* kPostgresSkipMessage =
    "no PostgreSQL test server: run through ctest, or start one with "
    "scripts/postgres-test-server.sh start DIR and set GPU_TUNE_TEST_POSTGRES=DIR";

// The server's state folder (scripts/postgres-test-server.sh), if the tests were given one.
inline std::optional<std::string> postgres_state_folder() {
  const char* folder = std::getenv("GPU_TUNE_TEST_POSTGRES");
  if (!folder || !*folder) return std::nullopt;
  return std::string(folder);
}

inline std::string read_state_file(const std::string& name) {
  const std::string path = *postgres_state_folder() + "/" + name;
  std::ifstream in(path);
  std::string line;
  if (!in || !std::getline(in, line)) throw std::runtime_error("cannot read " + path + ": did the server start?");
  return line;
}

// postgresql://gpu_tune@/postgres?host=SOCKET&port=PORT with another database name.
inline std::string url_of_database(const std::string& database) {
  std::string url = read_state_file("url");
  const std::string from = "@/postgres?";
  const size_t at = url.find(from);
  if (at == std::string::npos) throw std::runtime_error("unexpected test server URL " + url);
  return url.replace(at, from.size(), "@/" + database + "?");
}

// Runs one statement as the server's superuser on database `postgres`.
inline void run_admin_statement(const std::string& sql) {
  PGconn* connection = PQconnectdb(url_of_database("postgres").c_str());
  std::string error;
  if (PQstatus(connection) != CONNECTION_OK) {
    error = PQerrorMessage(connection);
  } else {
    PGresult* result = PQexec(connection, sql.c_str());
    if (PQresultStatus(result) != PGRES_COMMAND_OK && PQresultStatus(result) != PGRES_TUPLES_OK) {
      error = PQresultErrorMessage(result);
    }
    PQclear(result);
  }
  PQfinish(connection);
  if (!error.empty()) throw std::runtime_error("'" + sql + "' on the test server: " + error);
}

class PostgresTestDatabase {
 public:
  PostgresTestDatabase() {
    if (!postgres_state_folder()) return;
    static std::atomic<int> counter{0};
    name_ = "gpu_tune_test_" + std::to_string(getpid()) + "_" + std::to_string(counter++);
    run_admin_statement("CREATE DATABASE " + name_);
    url_ = url_of_database(name_);
  }
  ~PostgresTestDatabase() {
    if (name_.empty()) return;
    try {
      run_admin_statement("DROP DATABASE IF EXISTS " + name_ + " WITH (FORCE)");
    } catch (const std::exception& e) {
      ADD_FAILURE() << e.what();
    }
  }
  PostgresTestDatabase(const PostgresTestDatabase&) = delete;
  PostgresTestDatabase& operator=(const PostgresTestDatabase&) = delete;

  bool available() const { return !name_.empty(); }
  const std::string& name() const { return name_; }
  const std::string& url() const { return url_; }

 private:
  std::string name_, url_;
};

}  // namespace gpu_tune::testing
