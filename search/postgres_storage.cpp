#include "search/postgres_storage.h"

#include <libpq-fe.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <utility>

#include "search/connection_claim.h"
#include "search/param_json.h"
#include "search/storage_rows.h"
#include "search/storage_url.h"

namespace gpu_tune::search {
namespace {

// Each migration takes the schema from the version before it to its own. A database newer
// than this program is refused; an older one is brought up to date at open, by whichever
// worker opens it first (an advisory lock makes the others wait).
struct Migration {
  int version;
  const char* sql;
};
constexpr Migration kMigrations[] = {
    {1, R"sql(
CREATE TABLE studies (
  id BIGSERIAL PRIMARY KEY,
  name TEXT UNIQUE NOT NULL,
  direction TEXT NOT NULL,
  metric TEXT NOT NULL,
  config TEXT NOT NULL,
  space TEXT NOT NULL DEFAULT '',
  created_at DOUBLE PRECISION NOT NULL
);
CREATE TABLE trials (
  study_id BIGINT NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  number BIGINT NOT NULL,
  state TEXT NOT NULL,
  params TEXT NOT NULL,
  value DOUBLE PRECISION,
  metrics TEXT NOT NULL,
  device TEXT NOT NULL,
  slot INTEGER NOT NULL,
  started_at DOUBLE PRECISION NOT NULL,
  finished_at DOUBLE PRECISION,
  error TEXT NOT NULL,
  worker TEXT,
  heartbeat DOUBLE PRECISION,
  PRIMARY KEY (study_id, number)
);
CREATE INDEX trials_by_state ON trials (study_id, state);
CREATE TABLE trial_steps (
  study_id BIGINT NOT NULL,
  number BIGINT NOT NULL,
  step BIGINT NOT NULL,
  value DOUBLE PRECISION,
  metrics TEXT NOT NULL,
  PRIMARY KEY (study_id, number, step),
  FOREIGN KEY (study_id, number) REFERENCES trials(study_id, number) ON DELETE CASCADE
);
CREATE TABLE trial_attributes (
  study_id BIGINT NOT NULL,
  number BIGINT NOT NULL,
  key TEXT NOT NULL,
  value DOUBLE PRECISION,
  PRIMARY KEY (study_id, number, key),
  FOREIGN KEY (study_id, number) REFERENCES trials(study_id, number) ON DELETE CASCADE
);
CREATE TABLE storage_changes (counter BIGINT NOT NULL);
INSERT INTO storage_changes (counter) VALUES (0);
)sql"},
    // The change counter's value when a commit last touched the trial, so that a reader can
    // fetch only the trials changed since its last read; 0 for trials from version 1.
    {2, R"sql(
ALTER TABLE trials ADD COLUMN changed BIGINT NOT NULL DEFAULT 0;
CREATE INDEX trials_by_change ON trials (study_id, changed);
)sql"},
};
constexpr int kSchemaVersion = kMigrations[std::size(kMigrations) - 1].version;
// Any constant unique to gpu_tune: the key of the advisory lock held while the schema changes.
constexpr int64_t kSchemaLockKey = 0x67707574756e65;  // "gputune"


// PostgreSQL's text forms of a double; NaN and the infinities have names of their own.
std::string real_text(double value) {
  if (std::isnan(value)) return "NaN";
  if (std::isinf(value)) return value > 0 ? "Infinity" : "-Infinity";
  char buffer[32];
  const auto [end, error] = std::to_chars(buffer, buffer + sizeof buffer, value);
  return std::string(buffer, end);
}

double parse_real(const char* text) {
  const std::string_view view(text);
  if (view == "NaN") return std::numeric_limits<double>::quiet_NaN();
  if (view == "Infinity") return std::numeric_limits<double>::infinity();
  if (view == "-Infinity") return -std::numeric_limits<double>::infinity();
  return std::strtod(text, nullptr);
}

// The connection was lost (or the server is shutting down, or this session was ended): the
// operation can run again on a new connection.
class ConnectionLost : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

bool is_connection_sqlstate(std::string_view state) {
  // Class 08: connection exceptions; 57P01-57P03: admin shutdown, crash shutdown, cannot
  // connect now; 40001/40P01: serialization failure and deadlock, which also ask for a retry.
  return state.starts_with("08") || state == "57P01" || state == "57P02" || state == "57P03" || state == "40001" ||
         state == "40P01";
}

// A refused password, an unknown database or role, or a malformed URL will not fix itself by
// waiting: those are reported at once instead of retried. (libpq gives no SQLSTATE for a
// failed connection, only its message.)
bool is_permanent_connect_failure(std::string_view message) {
  for (std::string_view sign : {"authentication failed", "no password supplied", "does not exist", "invalid URI",
                                "invalid connection option", "invalid port", "invalid integer value", "invalid sslmode",
                                "invalid value", "missing \"=\""}) {
    if (message.find(sign) != std::string_view::npos) return true;
  }
  return false;
}

struct ResultClearer {
  void operator()(PGresult* result) const { PQclear(result); }
};
using ResultPtr = std::unique_ptr<PGresult, ResultClearer>;
struct ConnectionFinisher {
  void operator()(PGconn* connection) const { PQfinish(connection); }
};
using ConnectionPtr = std::unique_ptr<PGconn, ConnectionFinisher>;

}  // namespace

namespace postgres_detail {

class Connection {
 public:
  Connection(std::string url, PostgresOptions options)
      : url_(std::move(url)), description_(redact_storage_url(url_)), options_(options) {}

  const std::string& description() const { return description_; }
  PGconn* pg() const { return connection_.get(); }

  [[noreturn]] void fail(std::string_view operation, std::string_view problem) const {
    throw StorageError("PostgreSQL storage '" + description_ + "': " + std::string(operation) + ": " +
                       std::string(problem));
  }

  void connect() {
    const std::string timeout = std::to_string(std::max(1, static_cast<int>(std::ceil(options_.connect_timeout_seconds))));
    // Later keywords override earlier ones, and the URL (expanded from dbname) comes last, so
    // a URL that sets connect_timeout or application_name itself keeps its own.
    const char* keys[] = {"connect_timeout", "application_name", "dbname", nullptr};
    const char* values[] = {timeout.c_str(), "gpu_tune", url_.c_str(), nullptr};
    connection_.reset(PQconnectdbParams(keys, values, /*expand_dbname=*/1));
    if (!connection_) throw ConnectionLost("out of memory");
    if (PQstatus(connection_.get()) != CONNECTION_OK) {
      std::string message = PQerrorMessage(connection_.get());
      while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
      if (is_permanent_connect_failure(message)) fail("connect", message);
      throw ConnectionLost(message);
    }
    // Notices (e.g. "relation already exists, skipping") are not for the user.
    PQsetNoticeProcessor(connection_.get(), [](void*, const char*) {}, nullptr);
  }

  // Runs `operation` until it succeeds, reconnecting after a lost connection with backoff up
  // to options_.reconnect_seconds. Inside a write batch an operation is the batch's: the
  // batch is what runs again, so a lost connection passes straight through.
  template <typename Operation>
  auto with_reconnect(std::string_view operation_name, Operation&& operation) {
    return with_reconnect_for(options_.reconnect_seconds, operation_name, std::forward<Operation>(operation));
  }
  template <typename Operation>
  auto with_reconnect_for(double seconds, std::string_view operation_name, Operation&& operation) {
    const ConnectionClaim claim(user_, [&](const char* problem) { fail(operation_name, problem); });
    if (in_batch_) return operation();
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::duration_cast<std::chrono::steady_clock::duration>(
                              std::chrono::duration<double>(seconds));
    auto pause = std::chrono::milliseconds(50);
    for (int attempt = 0;; ++attempt) {
      try {
        if (!connection_ || PQstatus(connection_.get()) != CONNECTION_OK) connect();
        retrying_ = attempt > 0 || lost_before_;
        auto restore = [this] { retrying_ = false; };
        try {
          if constexpr (std::is_void_v<decltype(operation())>) {
            operation();
            restore();
            lost_before_ = false;
            return;
          } else {
            auto result = operation();
            restore();
            lost_before_ = false;
            return result;
          }
        } catch (...) {
          restore();
          throw;
        }
      } catch (const ConnectionLost& lost) {
        connection_.reset();
        lost_before_ = true;
        if (std::chrono::steady_clock::now() + pause > deadline) {
          throw StorageUnavailable("PostgreSQL storage '" + description_ + "': " + std::string(operation_name) +
                                   ": no connection to the server within " + real_text(seconds) +
                                   " s of trying: " + lost.what());
        }
        std::this_thread::sleep_for(pause);
        pause = std::min(pause * 2, std::chrono::milliseconds(5000));
      }
    }
  }

  // True while an operation runs again after a lost connection (in this call, or in an
  // earlier call that gave up): its earlier attempt may have committed without the answer
  // arriving, so a write finds its own work already done.
  bool retrying() const { return retrying_; }

  bool in_batch() const { return in_batch_; }
  void set_in_batch(bool in_batch) { in_batch_ = in_batch; }

  // One statement with text parameters ($1, $2, ...); nullopt binds NULL.
  ResultPtr exec(std::string_view operation, const char* sql, const std::vector<std::optional<std::string>>& params = {}) {
    std::vector<const char*> values;
    values.reserve(params.size());
    for (const auto& param : params) values.push_back(param ? param->c_str() : nullptr);
    ResultPtr result(PQexecParams(connection_.get(), sql, static_cast<int>(values.size()), nullptr, values.data(),
                                  nullptr, nullptr, 0));
    check(operation, result.get());
    return result;
  }

  // Several statements without parameters (a migration), through the simple query protocol.
  void exec_script(std::string_view operation, const char* sql) {
    const ResultPtr result(PQexec(connection_.get(), sql));
    check(operation, result.get());
  }

  void check(std::string_view operation, const PGresult* result) {
    const ExecStatusType status = result ? PQresultStatus(result) : PGRES_FATAL_ERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return;
    const char* state = result ? PQresultErrorField(result, PG_DIAG_SQLSTATE) : nullptr;
    std::string message = result ? PQresultErrorMessage(result) : PQerrorMessage(connection_.get());
    while (!message.empty() && (message.back() == '\n' || message.back() == ' ')) message.pop_back();
    if (PQstatus(connection_.get()) != CONNECTION_OK || (state && is_connection_sqlstate(state))) {
      throw ConnectionLost(message);
    }
    fail(operation, message);
  }

  // Counts the changes this object committed, so others_version can leave them out.
  void add_own_change() { ++own_changes_; }
  uint64_t own_changes() const { return own_changes_; }
  // The change counter's value that the open write transaction raised it to: the stamp of
  // every trial the transaction changes.
  void set_change_stamp(int64_t stamp) { change_stamp_ = stamp; }
  std::string change_stamp() const { return std::to_string(change_stamp_); }

 private:
  std::string url_;
  std::string description_;
  PostgresOptions options_;
  ConnectionPtr connection_;
  bool in_batch_ = false;
  bool retrying_ = false;
  bool lost_before_ = false;  // the last operation ended with the connection lost
  uint64_t own_changes_ = 0;
  int64_t change_stamp_ = 0;
  std::atomic<std::thread::id> user_{};  // the thread inside an operation (ConnectionClaim)
};

}  // namespace postgres_detail

namespace {

using postgres_detail::Connection;
using Params = std::vector<std::optional<std::string>>;

std::string integer_text(int64_t value) { return std::to_string(value); }
std::optional<std::string> optional_real_text(std::optional<double> value) {
  if (!value) return std::nullopt;
  return real_text(*value);
}

// Reading a result's cells.
struct Row {
  const PGresult* result;
  int row;
  bool is_null(int column) const { return PQgetisnull(result, row, column); }
  std::string text(int column) const { return PQgetvalue(result, row, column); }
  int64_t integer(int column) const { return std::strtoll(PQgetvalue(result, row, column), nullptr, 10); }
  double real(int column) const { return parse_real(PQgetvalue(result, row, column)); }
  std::optional<double> optional_real(int column) const {
    if (is_null(column)) return std::nullopt;
    return real(column);
  }
};

std::vector<Row> rows(const ResultPtr& result) {
  std::vector<Row> all;
  for (int row = 0; row < PQntuples(result.get()); ++row) all.push_back({result.get(), row});
  return all;
}

// A write transaction first bumps the one change counter, whose row lock makes writers take
// turns (as SQLite's write lock does): two workers can then never read the same next trial
// number or both see room under the budget. A read transaction is one REPEATABLE READ
// snapshot. Inside a write batch a transaction is the batch's and neither begins nor commits.
class Transaction {
 public:
  enum class Kind { kRead, kWrite };
  Transaction(Connection& connection, Kind kind, std::string_view operation)
      : connection_(connection), operation_(operation), nested_(connection.in_batch()) {
    if (nested_) return;
    if (kind == Kind::kWrite) {
      connection_.exec(operation_, "BEGIN");
      open_ = true;
      const ResultPtr raised = connection_.exec(operation_, "UPDATE storage_changes SET counter = counter + 1 RETURNING counter");
      if (PQntuples(raised.get()) != 1) connection_.fail(operation_, "the change counter has no row");
      connection_.set_change_stamp(std::stoll(PQgetvalue(raised.get(), 0, 0)));
      writes_ = true;
    } else {
      connection_.exec(operation_, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY");
      open_ = true;
    }
  }
  ~Transaction() {
    if (open_ && !committed_ && connection_.pg() && PQstatus(connection_.pg()) == CONNECTION_OK) {
      PQclear(PQexec(connection_.pg(), "ROLLBACK"));
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit() {
    if (!nested_) {
      connection_.exec(operation_, "COMMIT");
      if (writes_) connection_.add_own_change();
    }
    committed_ = true;
  }

 private:
  Connection& connection_;
  std::string_view operation_;
  const bool nested_;
  bool open_ = false, writes_ = false, committed_ = false;
};


std::optional<StudyInfo> select_study_by_name(Connection& connection, const std::string& name,
                                              std::string_view operation) {
  const ResultPtr result =
      connection.exec(operation, "SELECT id, name, direction, metric, config, space FROM studies WHERE name = $1", {name});
  if (PQntuples(result.get()) == 0) return std::nullopt;
  const Row row{result.get(), 0};
  StudyInfo study;
  study.id = row.integer(0);
  study.name = row.text(1);
  const std::string direction = row.text(2);
  const auto parsed = parse_direction(direction);
  if (!parsed) connection.fail(operation, "study '" + study.name + "' has unknown direction '" + direction + "'");
  study.direction = *parsed;
  study.metric = row.text(3);
  study.config = row.text(4);
  study.space = row.text(5);
  return study;
}

std::string study_name(Connection& connection, int64_t study_id, std::string_view operation) {
  const ResultPtr result = connection.exec(operation, "SELECT name FROM studies WHERE id = $1", {integer_text(study_id)});
  if (PQntuples(result.get()) == 0) connection.fail(operation, "no study with id " + std::to_string(study_id));
  return PQgetvalue(result.get(), 0, 0);
}

// The trial's state, inside a write transaction so it cannot change before the write after.
std::string trial_state(Connection& connection, int64_t study_id, int64_t number, std::string_view operation) {
  const std::string name = study_name(connection, study_id, operation);
  const ResultPtr result = connection.exec(operation, "SELECT state FROM trials WHERE study_id = $1 AND number = $2",
                                           {integer_text(study_id), integer_text(number)});
  if (PQntuples(result.get()) == 0) {
    connection.fail(operation, "study " + std::to_string(study_id) + " ('" + name + "') has no trial " +
                                   std::to_string(number));
  }
  return PQgetvalue(result.get(), 0, 0);
}

// Run again after a lost connection, a write to a trial that has finished since was part of
// an earlier attempt that committed (a batch commits all its writes or none): done already.
bool finished_before_retry(Connection& connection, int64_t study_id, int64_t number, std::string_view operation) {
  if (!connection.retrying()) return false;
  const auto state = parse_trial_state(trial_state(connection, study_id, number, operation));
  return state && is_finished(*state);
}

// Stamps the trial changed and requires it running, in one statement; a refusal rolls the
// stamp back with the rest of the transaction. A write transaction stamps every trial it
// changes with the change counter's value, which it has just raised: writers take turns on
// the counter's row, so stamps follow the order of commits.
void stamp_running(Connection& connection, int64_t study_id, int64_t number, std::string_view operation) {
  const ResultPtr result = connection.exec(
      operation,
      "UPDATE trials SET changed = $3 WHERE study_id = $1 AND number = $2 RETURNING state",
      {integer_text(study_id), integer_text(number), connection.change_stamp()});
  // No row: trial_state names what is missing, the study or the trial.
  const std::string state =
      PQntuples(result.get()) == 0 ? trial_state(connection, study_id, number, operation) : PQgetvalue(result.get(), 0, 0);
  if (state != trial_state_name(TrialState::kRunning)) {
    connection.fail(operation, describe_trial(study_id, study_name(connection, study_id, operation), number) + " is " +
                                   state + ", not running");
  }
}

void migrate(Connection& connection) {
  constexpr std::string_view operation = "create schema";
  connection.exec(operation, "BEGIN");
  try {
    // Workers that open a new database together: one creates the tables, the others wait here.
    connection.exec(operation, "SELECT pg_advisory_xact_lock($1)", {integer_text(kSchemaLockKey)});
    connection.exec(operation, "CREATE TABLE IF NOT EXISTS gpu_tune_schema (version INTEGER NOT NULL)");
    const ResultPtr result = connection.exec(operation, "SELECT MAX(version) FROM gpu_tune_schema");
    const int current = PQgetisnull(result.get(), 0, 0) ? 0 : std::atoi(PQgetvalue(result.get(), 0, 0));
    if (current > kSchemaVersion) {
      connection.fail("open", "the database has gpu_tune schema version " + std::to_string(current) +
                                  ", newer than this program's " + std::to_string(kSchemaVersion));
    }
    for (const Migration& migration : kMigrations) {
      if (migration.version <= current) continue;
      connection.exec_script(operation, migration.sql);
      connection.exec(operation, "INSERT INTO gpu_tune_schema (version) VALUES ($1)", {integer_text(migration.version)});
    }
    connection.exec(operation, "COMMIT");
  } catch (...) {
    if (connection.pg() && PQstatus(connection.pg()) == CONNECTION_OK) PQclear(PQexec(connection.pg(), "ROLLBACK"));
    throw;
  }
}

// The new running trial's row, inside the caller's write transaction.
TrialRecord insert_trial(Connection& connection, int64_t study_id, const ParamMap& params, const std::string& device,
                         int slot, const std::string& worker, std::string_view operation) {
  TrialRecord trial;
  trial.state = TrialState::kRunning;
  trial.params = params;
  trial.device = device;
  trial.slot = slot;
  trial.worker = worker;
  trial.started_at = unix_time_now();
  const ResultPtr result = connection.exec(
      operation,
      "INSERT INTO trials (study_id, number, state, params, value, metrics, device, slot, started_at, finished_at, "
      "error, worker, heartbeat, changed) SELECT $1, COALESCE(MAX(number) + 1, 0), $2, $3, NULL, '{}', $4, $5, $6, "
      "NULL, '', $7, $6, $8 FROM trials WHERE study_id = $1 RETURNING number",
      {integer_text(study_id), std::string(trial_state_name(TrialState::kRunning)), stored_params(connection, params, operation),
       device, integer_text(slot), real_text(trial.started_at), worker, connection.change_stamp()});
  trial.number = Row{result.get(), 0}.integer(0);
  return trial;
}

}  // namespace

PostgresStorage::PostgresStorage(const std::string& url, PostgresOptions options)
    : connection_(std::make_unique<postgres_detail::Connection>(url, options)) {
  connection_->with_reconnect_for(options.open_retry_seconds, "open", [&] { migrate(*connection_); });
}

PostgresStorage::~PostgresStorage() = default;

const std::string& PostgresStorage::description() const { return connection_->description(); }

int PostgresStorage::backend_pid() {
  return connection_->with_reconnect("backend_pid", [&] { return PQbackendPID(connection_->pg()); });
}

StudyInfo PostgresStorage::create_or_load_study(const StudyInfo& requested) {
  constexpr std::string_view operation = "create_or_load_study";
  Connection& connection = *connection_;
  if (requested.name.empty()) connection.fail(operation, "a study needs a name");
  return connection.with_reconnect(operation, [&] {
    Transaction transaction(connection, Transaction::Kind::kWrite, operation);
    if (auto existing = select_study_by_name(connection, requested.name, operation)) {
      if (const std::string problem = study_mismatch(*existing, requested); !problem.empty())
        connection.fail(operation, problem);
      if (existing->space.empty() && !requested.space.empty()) {
        connection.exec(operation, "UPDATE studies SET space = $1 WHERE id = $2",
                        {requested.space, integer_text(existing->id)});
        existing->space = requested.space;
      }
      transaction.commit();
      return *existing;
    }
    const ResultPtr result = connection.exec(
        operation,
        "INSERT INTO studies (name, direction, metric, config, space, created_at) VALUES ($1, $2, $3, $4, $5, $6) "
        "RETURNING id",
        {requested.name, std::string(direction_name(requested.direction)), requested.metric, requested.config,
         requested.space, real_text(unix_time_now())});
    StudyInfo created = requested;
    created.id = Row{result.get(), 0}.integer(0);
    transaction.commit();
    return created;
  });
}

std::optional<StudyInfo> PostgresStorage::find_study(const std::string& name) {
  constexpr std::string_view operation = "find_study";
  return connection_->with_reconnect(operation, [&] { return select_study_by_name(*connection_, name, operation); });
}

TrialRecord PostgresStorage::start_trial(int64_t study_id, const ParamMap& params, const std::string& device, int slot) {
  constexpr std::string_view operation = "start_trial";
  Connection& connection = *connection_;
  return connection.with_reconnect(operation, [&] {
    Transaction transaction(connection, Transaction::Kind::kWrite, operation);
    study_name(connection, study_id, operation);
    TrialRecord trial = insert_trial(connection, study_id, params, device, slot, worker_id(), operation);
    transaction.commit();
    return trial;
  });
}

std::optional<TrialRecord> PostgresStorage::claim_trial(int64_t study_id, const ParamMap& params,
                                                        const std::string& device, int slot, int64_t budget,
                                                        const std::string& uncounted_error) {
  constexpr std::string_view operation = "claim_trial";
  Connection& connection = *connection_;
  return connection.with_reconnect(operation, [&]() -> std::optional<TrialRecord> {
    Transaction transaction(connection, Transaction::Kind::kWrite, operation);
    study_name(connection, study_id, operation);
    const std::string study = integer_text(study_id);
    // A waiting trial first: it already counts toward the budget.
    const ResultPtr waiting = connection.exec(
        operation, "SELECT number, params FROM trials WHERE study_id = $1 AND state = $2 ORDER BY number LIMIT 1",
        {study, std::string(trial_state_name(TrialState::kWaiting))});
    if (PQntuples(waiting.get()) > 0) {
      const Row row{waiting.get(), 0};
      TrialRecord trial;
      trial.number = row.integer(0);
      trial.state = TrialState::kRunning;
      try {
        trial.params = params_from_json_text(row.text(1));
      } catch (const std::invalid_argument& e) {
        connection.fail(operation, "trial " + std::to_string(trial.number) + ": " + e.what());
      }
      trial.device = device;
      trial.slot = slot;
      trial.worker = worker_id();
      trial.started_at = unix_time_now();
      connection.exec(operation,
                      "UPDATE trials SET state = $1, device = $2, slot = $3, started_at = $4, worker = $5, "
                      "heartbeat = $4, changed = $8 WHERE study_id = $6 AND number = $7",
                      {std::string(trial_state_name(TrialState::kRunning)), device, integer_text(slot),
                       real_text(trial.started_at), worker_id(), study, integer_text(trial.number),
                       connection.change_stamp()});
      const ResultPtr attributes = connection.exec(
          operation, "SELECT key, value FROM trial_attributes WHERE study_id = $1 AND number = $2",
          {study, integer_text(trial.number)});
      for (const Row& attribute : rows(attributes)) trial.attributes[attribute.text(0)] = attribute.optional_real(1).value_or(0.0);
      transaction.commit();
      return trial;
    }
    const ResultPtr counted = connection.exec(
        operation, "SELECT COUNT(*) FROM trials WHERE study_id = $1 AND NOT (state = $2 AND error = $3)",
        {study, std::string(trial_state_name(TrialState::kFailed)), uncounted_error});
    if (Row{counted.get(), 0}.integer(0) >= budget) return std::nullopt;  // rolled back: nothing written
    TrialRecord trial = insert_trial(connection, study_id, params, device, slot, worker_id(), operation);
    transaction.commit();
    return trial;
  });
}

TrialRecord PostgresStorage::enqueue_trial(int64_t study_id, const ParamMap& params,
                                           const std::map<std::string, double>& attributes) {
  constexpr std::string_view operation = "enqueue_trial";
  Connection& connection = *connection_;
  return connection.with_reconnect(operation, [&] {
    Transaction transaction(connection, Transaction::Kind::kWrite, operation);
    study_name(connection, study_id, operation);
    TrialRecord trial = insert_trial(connection, study_id, params, "", -1, worker_id(), operation);
    connection.exec(operation,
                    "UPDATE trials SET state = $1, worker = NULL, heartbeat = NULL WHERE study_id = $2 AND number = $3",
                    {std::string(trial_state_name(TrialState::kWaiting)), integer_text(study_id),
                     integer_text(trial.number)});
    for (const auto& [key, value] : attributes) {
      connection.exec(operation, "INSERT INTO trial_attributes (study_id, number, key, value) VALUES ($1, $2, $3, $4)",
                      {integer_text(study_id), integer_text(trial.number), key, real_text(value)});
    }
    transaction.commit();
    trial.state = TrialState::kWaiting;
    trial.worker.clear();
    trial.attributes = attributes;
    return trial;
  });
}

void PostgresStorage::heartbeat(int64_t study_id) {
  constexpr std::string_view operation = "heartbeat";
  Connection& connection = *connection_;
  connection.with_reconnect(operation, [&] {
    Transaction transaction(connection, Transaction::Kind::kWrite, operation);
    connection.exec(operation, "UPDATE trials SET heartbeat = $1 WHERE study_id = $2 AND worker = $3 AND state = $4",
                    {real_text(unix_time_now()), integer_text(study_id), worker_id(),
                     std::string(trial_state_name(TrialState::kRunning))});
    transaction.commit();
  });
}

std::vector<int64_t> PostgresStorage::fail_stale_trials(int64_t study_id, const std::string& reason,
                                                        double grace_seconds,
                                                        const std::function<bool(const std::string&)>& is_dead) {
  constexpr std::string_view operation = "fail_stale_trials";
  Connection& connection = *connection_;
  return connection.with_reconnect(operation, [&] {
    Transaction transaction(connection, Transaction::Kind::kWrite, operation);
    study_name(connection, study_id, operation);
    const double now = unix_time_now();
    std::vector<int64_t> stale;
    const ResultPtr running = connection.exec(
        operation, "SELECT number, worker, heartbeat FROM trials WHERE study_id = $1 AND state = $2 ORDER BY number",
        {integer_text(study_id), std::string(trial_state_name(TrialState::kRunning))});
    for (const Row& row : rows(running)) {
      const bool without_heartbeat = row.is_null(2);
      if (without_heartbeat || row.real(2) < now - grace_seconds || (is_dead && is_dead(row.is_null(1) ? "" : row.text(1)))) {
        stale.push_back(row.integer(0));
      }
    }
    for (const int64_t number : stale) {
      connection.exec(operation,
                      "UPDATE trials SET state = $1, error = $2, finished_at = $3, changed = $6 "
                      "WHERE study_id = $4 AND number = $5",
                      {std::string(trial_state_name(TrialState::kFailed)), reason, real_text(now),
                       integer_text(study_id), integer_text(number), connection.change_stamp()});
    }
    transaction.commit();
    return stale;
  });
}

void PostgresStorage::record_step(int64_t study_id, int64_t number, const StepRecord& step) {
  constexpr std::string_view operation = "record_step";
  Connection& connection = *connection_;
  const std::string metrics_json = stored_metrics(connection, step.metrics, operation);
  connection.with_reconnect(operation, [&] {
    Transaction transaction(connection, Transaction::Kind::kWrite, operation);
    if (finished_before_retry(connection, study_id, number, operation)) return transaction.commit();
    stamp_running(connection, study_id, number, operation);
    // A step reported again replaces the earlier report.
    connection.exec(operation,
                    "INSERT INTO trial_steps (study_id, number, step, value, metrics) VALUES ($1, $2, $3, $4, $5) "
                    "ON CONFLICT (study_id, number, step) DO UPDATE SET value = excluded.value, metrics = excluded.metrics",
                    {integer_text(study_id), integer_text(number), integer_text(step.step), real_text(step.value),
                     metrics_json});
    transaction.commit();
  });
}

void PostgresStorage::set_trial_attributes(int64_t study_id, int64_t number,
                                           const std::map<std::string, double>& attributes) {
  constexpr std::string_view operation = "set_trial_attributes";
  Connection& connection = *connection_;
  connection.with_reconnect(operation, [&] {
    Transaction transaction(connection, Transaction::Kind::kWrite, operation);
    if (finished_before_retry(connection, study_id, number, operation)) return transaction.commit();
    stamp_running(connection, study_id, number, operation);
    for (const auto& [key, value] : attributes) {
      connection.exec(operation,
                      "INSERT INTO trial_attributes (study_id, number, key, value) VALUES ($1, $2, $3, $4) "
                      "ON CONFLICT (study_id, number, key) DO UPDATE SET value = excluded.value",
                      {integer_text(study_id), integer_text(number), key, real_text(value)});
    }
    transaction.commit();
  });
}

void PostgresStorage::finish_trial(int64_t study_id, int64_t number, TrialState state, std::optional<double> value,
                                   const std::map<std::string, double>& metrics, const std::string& error,
                                   std::optional<double> finished_at) {
  constexpr std::string_view operation = "finish_trial";
  Connection& connection = *connection_;
  if (const std::string problem = finish_state_problem(study_id, number, state); !problem.empty())
    connection.fail(operation, problem);
  const std::string metrics_json = stored_metrics(connection, metrics, operation);
  const double ended = finished_at.value_or(unix_time_now());
  connection.with_reconnect(operation, [&] {
    Transaction transaction(connection, Transaction::Kind::kWrite, operation);
    // Run again after a lost connection, the first attempt may have committed already.
    if (connection.retrying() && trial_state(connection, study_id, number, operation) == trial_state_name(state)) {
      transaction.commit();
      return;
    }
    stamp_running(connection, study_id, number, operation);
    connection.exec(operation,
                    "UPDATE trials SET state = $1, value = $2, metrics = $3, error = $4, finished_at = $5 "
                    "WHERE study_id = $6 AND number = $7",
                    {std::string(trial_state_name(state)), optional_real_text(value), metrics_json, error,
                     real_text(ended), integer_text(study_id), integer_text(number)});
    transaction.commit();
  });
}

namespace {

// The study's trials, or with changed_from those stamped with that change counter or a later
// one, whole, in number order, inside the caller's read transaction (one snapshot, so that
// the steps and attributes belong to the same moment as the trials).
std::vector<TrialRecord> read_trials(Connection& connection, int64_t study_id, std::optional<int64_t> changed_from,
                                     std::string_view operation) {
  const std::string name = study_name(connection, study_id, operation);
  auto unreadable = [&](int64_t number, const std::string& what) {
    connection.fail(operation, describe_trial(study_id, name, number) + ": " + what);
  };
  const std::string changed = changed_from ? " AND changed >= $2" : "";
  std::vector<std::optional<std::string>> parameters = {integer_text(study_id)};
  if (changed_from) parameters.push_back(integer_text(*changed_from));
  std::vector<TrialRecord> trials;
  const ResultPtr trial_rows = connection.exec(
      operation,
      ("SELECT number, state, params, value, metrics, device, slot, started_at, finished_at, error, worker "
       "FROM trials WHERE study_id = $1" + changed + " ORDER BY number").c_str(),
      parameters);
  for (const Row& row : rows(trial_rows)) {
    try {
      trials.push_back(decode_trial_row(row));
    } catch (const std::invalid_argument& e) {
      unreadable(row.integer(0), e.what());
    }
  }
  if (trials.empty()) return trials;
  // The changed trials' steps and attributes by their numbers (the primary keys' order), so
  // a read costs what changed, not the study's size.
  std::string of_changed;
  if (changed_from) {
    std::string numbers = "{";
    for (const TrialRecord& t : trials) numbers += (numbers.size() > 1 ? "," : "") + std::to_string(t.number);
    parameters[1] = numbers + "}";
    of_changed = " AND number = ANY($2::bigint[])";
  }
  // Both lists are ordered by number, so one pass pairs each step (attribute) with its trial.
  const ResultPtr step_rows = connection.exec(
      operation,
      ("SELECT number, step, value, metrics FROM trial_steps WHERE study_id = $1" + of_changed +
       " ORDER BY number, step").c_str(),
      parameters);
  TrialCursor step_cursor(trials);
  for (const Row& row : rows(step_rows)) {
    const int64_t number = row.integer(0);
    TrialRecord* trial = step_cursor.find(number);
    if (!trial) unreadable(number, "has steps but no trial row");
    try {
      trial->steps.push_back(decode_step_row(row));
    } catch (const std::invalid_argument& e) {
      unreadable(number, e.what());
    }
  }
  const ResultPtr attribute_rows = connection.exec(
      operation, ("SELECT number, key, value FROM trial_attributes WHERE study_id = $1" + of_changed + " ORDER BY number").c_str(),
      parameters);
  TrialCursor attribute_cursor(trials);
  for (const Row& row : rows(attribute_rows)) {
    const int64_t number = row.integer(0);
    TrialRecord* trial = attribute_cursor.find(number);
    if (!trial) unreadable(number, "has attributes but no trial row");
    trial->attributes[row.text(1)] = row.optional_real(2).value_or(std::numeric_limits<double>::quiet_NaN());
  }
  return trials;
}

}  // namespace

std::vector<TrialRecord> PostgresStorage::trials(int64_t study_id) {
  constexpr std::string_view operation = "trials";
  Connection& connection = *connection_;
  return connection.with_reconnect(operation, [&] {
    Transaction transaction(connection, Transaction::Kind::kRead, operation);
    std::vector<TrialRecord> trials = read_trials(connection, study_id, std::nullopt, operation);
    transaction.commit();
    return trials;
  });
}

TrialChanges PostgresStorage::trials_changed_since(int64_t study_id, uint64_t cursor) {
  constexpr std::string_view operation = "trials_changed_since";
  Connection& connection = *connection_;
  return connection.with_reconnect(operation, [&] {
    Transaction transaction(connection, Transaction::Kind::kRead, operation);
    TrialChanges changes;
    // The cursor is the first stamp not read yet: 0 reads every trial, those from version 1
    // (stamp 0) too.
    changes.trials = read_trials(connection, study_id, static_cast<int64_t>(cursor), operation);
    const ResultPtr latest = connection.exec(
        operation, "SELECT COALESCE(MAX(changed), 0) + 1 FROM trials WHERE study_id = $1", {integer_text(study_id)});
    changes.cursor = static_cast<uint64_t>(Row{latest.get(), 0}.integer(0));
    transaction.commit();
    return changes;
  });
}

uint64_t PostgresStorage::others_version() {
  constexpr std::string_view operation = "others_version";
  Connection& connection = *connection_;
  return connection.with_reconnect(operation, [&] {
    const ResultPtr result = connection.exec(operation, "SELECT counter FROM storage_changes");
    if (PQntuples(result.get()) != 1) connection.fail(operation, "the change counter has no row");
    return static_cast<uint64_t>(Row{result.get(), 0}.integer(0)) - connection.own_changes();
  });
}

void PostgresStorage::write_batch(const std::function<void()>& writes) {
  constexpr std::string_view operation = "write_batch";
  Connection& connection = *connection_;
  if (connection.in_batch()) connection.fail(operation, "a write batch is already open on this connection");
  // After a lost connection the whole batch runs again: its writes are replayed, not lost.
  connection.with_reconnect(operation, [&] {
    Transaction transaction(connection, Transaction::Kind::kWrite, operation);
    connection.set_in_batch(true);
    try {
      writes();
    } catch (...) {
      connection.set_in_batch(false);
      throw;  // the transaction rolls the batch back
    }
    connection.set_in_batch(false);
    transaction.commit();
  });
}

}  // namespace gpu_tune::search
