#include "search/sqlite_storage.h"

#include <fcntl.h>  // AT_FDCWD, AT_EACCESS
#include <sqlite3.h>
#include <unistd.h>  // faccessat

#include <algorithm>
#include <cctype>
#include <cstdio>
#include <cstring>
#include <chrono>
#include <cmath>
#include <limits>
#include <stdexcept>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "search/connection_claim.h"
#include "search/param_json.h"
#include "search/storage_rows.h"

namespace gpu_tune::search {
namespace {

constexpr int kSchemaVersion = 2;
constexpr int kBusyTimeoutMs = 60000;

// Tables are created only when missing; a later schema version migrates from the number in
// schema_version (migrate_schema). finished_at is NULL until the trial finishes. changed
// (version 2) numbers the study's commits that touched the trial, from 1, so that a reader
// can fetch only what changed since its last read; rows from version 1 keep 0. trial_attributes,
// study_spaces and trial_heartbeats came later within version 1: opening an older file adds
// them (empty), and an older program ignores them, so none needs a new version number. A
// running trial without a heartbeat row was started by such a program, which marked every
// running trial failed at its start: it counts as stale.
constexpr const char* kCreateSchema = R"sql(
CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL);
CREATE TABLE IF NOT EXISTS studies (
  id INTEGER PRIMARY KEY,
  name TEXT UNIQUE NOT NULL,
  direction TEXT NOT NULL,
  metric TEXT NOT NULL,
  config TEXT NOT NULL,
  created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS trials (
  study_id INTEGER NOT NULL REFERENCES studies(id) ON DELETE CASCADE,
  number INTEGER NOT NULL,
  state TEXT NOT NULL,
  params TEXT NOT NULL,
  value REAL,
  metrics TEXT NOT NULL,
  device TEXT NOT NULL,
  slot INTEGER NOT NULL,
  started_at REAL NOT NULL,
  finished_at REAL,
  error TEXT NOT NULL,
  changed INTEGER NOT NULL DEFAULT 0,
  PRIMARY KEY (study_id, number)
);
CREATE TABLE IF NOT EXISTS trial_steps (
  study_id INTEGER NOT NULL,
  number INTEGER NOT NULL,
  step INTEGER NOT NULL,
  value REAL,
  metrics TEXT NOT NULL,
  PRIMARY KEY (study_id, number, step),
  FOREIGN KEY (study_id, number) REFERENCES trials(study_id, number) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS trial_attributes (
  study_id INTEGER NOT NULL,
  number INTEGER NOT NULL,
  key TEXT NOT NULL,
  value REAL,
  PRIMARY KEY (study_id, number, key),
  FOREIGN KEY (study_id, number) REFERENCES trials(study_id, number) ON DELETE CASCADE
);
CREATE TABLE IF NOT EXISTS study_spaces (
  study_id INTEGER PRIMARY KEY REFERENCES studies(id) ON DELETE CASCADE,
  description TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS trial_heartbeats (
  study_id INTEGER NOT NULL,
  number INTEGER NOT NULL,
  worker TEXT NOT NULL,
  heartbeat REAL NOT NULL,
  PRIMARY KEY (study_id, number),
  FOREIGN KEY (study_id, number) REFERENCES trials(study_id, number) ON DELETE CASCADE
);
CREATE INDEX IF NOT EXISTS trials_by_state ON trials (study_id, state);
)sql";

// SQLite turns a bound NaN into NULL, which would read back as "no value"; NaN is stored as
// this text instead (a REAL column keeps text it cannot parse as a number).
constexpr std::string_view kNanText = "NaN";


struct DatabaseCloser {
  void operator()(sqlite3* db) const { sqlite3_close_v2(db); }
};
struct StatementFinalizer {
  void operator()(sqlite3_stmt* statement) const { sqlite3_finalize(statement); }
};
using DatabasePtr = std::unique_ptr<sqlite3, DatabaseCloser>;
using StatementPtr = std::unique_ptr<sqlite3_stmt, StatementFinalizer>;

}  // namespace

namespace sqlite_detail {

class Connection {
 public:
  explicit Connection(std::filesystem::path path) : path_(std::move(path)) {}

  const std::filesystem::path& path() const { return path_; }
  sqlite3* db() const { return db_.get(); }
  void set_db(DatabasePtr db) {
    statements_.clear();  // prepared on the handle being replaced
    db_ = std::move(db);
  }

  [[noreturn]] void fail(std::string_view operation, std::string_view problem) const {
    throw StorageError("SQLite storage '" + path_.string() + "': " + std::string(operation) + ": " +
                       std::string(problem));
  }
  [[noreturn]] void fail_sqlite(std::string_view operation) const {
    if (!db_) fail(operation, "out of memory");
    std::string problem = sqlite3_errmsg(db_.get());
    // What was committed before stays; only this write is lost, and the run stops on it.
    const int code = sqlite3_extended_errcode(db_.get()) & 0xff;
    if (code == SQLITE_IOERR) {
      const int system_error = sqlite3_system_errno(db_.get());
      problem += system_error != 0 ? std::string(" (") + std::strerror(system_error) + ")"
                                   : std::string(" (reading or writing it or its -wal file failed: a full disk, a file "
                                                 "size limit or a failing device; what was recorded before is kept)");
    }
    if (code == SQLITE_FULL)
      problem += " (the file system holding it has no space left: free some and run the same command again; "
                 "what was recorded before is kept)";
    fail(operation, problem);
  }

  // The connection for this thread while the claim lives (connection_claim.h).
  ConnectionClaim claim(std::string_view operation) {
    return ConnectionClaim(user_, [&](const char* problem) { fail(operation, problem); });
  }

  // Inside write_batch, the batch's transaction holds every write: each operation's own
  // transaction is then only part of it.
  bool in_batch() const { return in_batch_; }
  void set_in_batch(bool in_batch) { in_batch_ = in_batch; }

  void exec(const char* sql, std::string_view operation) {
    if (sqlite3_exec(db_.get(), sql, nullptr, nullptr, nullptr) != SQLITE_OK) fail_sqlite(operation);
  }

  // Statements are prepared once per connection and reused.
  sqlite3_stmt* statement(const char* sql, std::string_view operation) {
    auto& cached = statements_[sql];
    if (!cached) {
      sqlite3_stmt* raw = nullptr;
      if (sqlite3_prepare_v2(db_.get(), sql, -1, &raw, nullptr) != SQLITE_OK) fail_sqlite(operation);
      cached.reset(raw);
    }
    return cached.get();
  }

 private:
  std::filesystem::path path_;
  DatabasePtr db_;
  std::unordered_map<std::string, StatementPtr> statements_;  // destroyed before db_
  bool in_batch_ = false;
  std::atomic<std::thread::id> user_{};  // the thread inside an operation (claim)
};

}  // namespace sqlite_detail

namespace {

using sqlite_detail::Connection;

// One execution of a cached statement: parameters bind in order, and the statement is reset
// when the query goes out of scope, so no read stays open past it.
class Query {
 public:
  Query(Connection& connection, const char* sql, std::string_view operation)
      : connection_(connection), operation_(operation), statement_(connection.statement(sql, operation)) {}
  ~Query() { sqlite3_reset(statement_); }
  Query(const Query&) = delete;
  Query& operator=(const Query&) = delete;

  Query& bind_int(int64_t value) { return check_bind(sqlite3_bind_int64(statement_, next_parameter(), value)); }
  Query& bind_real(double value) {
    if (std::isnan(value)) return bind_text(kNanText);
    return check_bind(sqlite3_bind_double(statement_, next_parameter(), value));
  }
  Query& bind_optional_real(std::optional<double> value) {
    if (!value) return check_bind(sqlite3_bind_null(statement_, next_parameter()));
    return bind_real(*value);
  }
  Query& bind_text(std::string_view value) {
    // A null pointer would bind NULL rather than an empty text.
    const char* bytes = value.data() ? value.data() : "";
    return check_bind(
        sqlite3_bind_text(statement_, next_parameter(), bytes, static_cast<int>(value.size()), SQLITE_TRANSIENT));
  }

  // True while there is a row to read.
  bool next_row() {
    const int result = sqlite3_step(statement_);
    if (result == SQLITE_ROW) return true;
    if (result == SQLITE_DONE) return false;
    connection_.fail_sqlite(operation_);
  }
  void run() {
    while (next_row()) {
    }
  }

  bool is_null(int column) const { return sqlite3_column_type(statement_, column) == SQLITE_NULL; }
  int64_t integer(int column) const { return sqlite3_column_int64(statement_, column); }
  double real(int column) const {
    if (sqlite3_column_type(statement_, column) == SQLITE_TEXT && text(column) == kNanText) {
      return std::numeric_limits<double>::quiet_NaN();
    }
    return sqlite3_column_double(statement_, column);
  }
  std::optional<double> optional_real(int column) const {
    if (is_null(column)) return std::nullopt;
    return real(column);
  }
  std::string text(int column) const {
    const auto* bytes = reinterpret_cast<const char*>(sqlite3_column_text(statement_, column));
    return bytes ? std::string(bytes, static_cast<size_t>(sqlite3_column_bytes(statement_, column))) : std::string();
  }

 private:
  int next_parameter() { return ++bound_; }
  Query& check_bind(int result) {
    if (result != SQLITE_OK) connection_.fail_sqlite(operation_);
    return *this;
  }

  Connection& connection_;
  std::string_view operation_;
  sqlite3_stmt* statement_;
  int bound_ = 0;
};

// Writers take the write lock up front (IMMEDIATE): a read that later upgrades to a write can
// fail at once with "database is locked" when another writer got there first, whatever the
// busy timeout. Readers use a DEFERRED transaction to see one consistent snapshot.
// Inside a write batch a transaction is the batch's: it neither begins nor commits, and a
// failure rolls back the whole batch (write_batch does that).
class Transaction {
 public:
  enum class Kind { kRead, kWrite };
  Transaction(Connection& connection, Kind kind, std::string_view operation)
      : claim_(connection.claim(operation)), connection_(connection), operation_(operation), nested_(connection.in_batch()) {
    if (!nested_) connection_.exec(kind == Kind::kWrite ? "BEGIN IMMEDIATE" : "BEGIN DEFERRED", operation_);
  }
  ~Transaction() {
    // Some errors already rolled the transaction back; only an open one needs it.
    if (!nested_ && !committed_ && !sqlite3_get_autocommit(connection_.db())) {
      sqlite3_exec(connection_.db(), "ROLLBACK", nullptr, nullptr, nullptr);
    }
  }
  Transaction(const Transaction&) = delete;
  Transaction& operator=(const Transaction&) = delete;

  void commit() {
    if (!nested_) connection_.exec("COMMIT", operation_);
    committed_ = true;
  }

 private:
  const ConnectionClaim claim_;  // first: held until the transaction has ended
  Connection& connection_;
  std::string_view operation_;
  const bool nested_;
  bool committed_ = false;
};


// Reads a study row selected as: id, name, direction, metric, config.
StudyInfo read_study(Connection& connection, const Query& row, std::string_view operation) {
  StudyInfo study;
  study.id = row.integer(0);
  study.name = row.text(1);
  const std::string direction = row.text(2);
  const auto parsed = parse_direction(direction);
  if (!parsed) connection.fail(operation, "study '" + study.name + "' has unknown direction '" + direction + "'");
  study.direction = *parsed;
  study.metric = row.text(3);
  study.config = row.text(4);
  return study;
}

std::optional<StudyInfo> select_study_by_name(Connection& connection, const std::string& name,
                                              std::string_view operation) {
  std::optional<StudyInfo> study;
  {
    Query query(connection, "SELECT id, name, direction, metric, config FROM studies WHERE name = ?", operation);
    query.bind_text(name);
    if (!query.next_row()) return std::nullopt;
    study = read_study(connection, query, operation);
  }
  Query space(connection, "SELECT description FROM study_spaces WHERE study_id = ?", operation);
  space.bind_int(study->id);
  if (space.next_row()) study->space = space.text(0);
  return study;
}

void insert_study_space(Connection& connection, int64_t study_id, const std::string& space, std::string_view operation) {
  Query(connection, "INSERT INTO study_spaces (study_id, description) VALUES (?, ?)", operation)
      .bind_int(study_id)
      .bind_text(space)
      .run();
}

std::string study_name(Connection& connection, int64_t study_id, std::string_view operation) {
  Query query(connection, "SELECT name FROM studies WHERE id = ?", operation);
  query.bind_int(study_id);
  if (!query.next_row()) connection.fail(operation, "no study with id " + std::to_string(study_id));
  return query.text(0);
}

// Call inside a write transaction, so the state cannot change before the write that follows.
void require_running(Connection& connection, int64_t study_id, int64_t number, std::string_view operation) {
  const std::string name = study_name(connection, study_id, operation);
  Query query(connection, "SELECT state FROM trials WHERE study_id = ? AND number = ?", operation);
  query.bind_int(study_id).bind_int(number);
  if (!query.next_row()) connection.fail(operation, "study " + std::to_string(study_id) + " ('" + name +
                                                        "') has no trial " + std::to_string(number));
  const std::string state = query.text(0);
  if (state != trial_state_name(TrialState::kRunning)) {
    connection.fail(operation, describe_trial(study_id, name, number) + " is " + state + ", not running");
  }
}

// Returns the journal mode in force afterwards. Switching a file to WAL needs it to itself, and
// SQLite answers "database is locked" at once, without waiting out the busy timeout, while
// another connection has it open (as when several writers open a new file together). So this
// waits here instead, up to the same timeout.
std::string switch_to_wal(Connection& connection) {
  constexpr std::string_view operation = "enable WAL";
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(kBusyTimeoutMs);
  for (auto pause = std::chrono::milliseconds(1);; pause = std::min(pause * 2, std::chrono::milliseconds(50))) {
    sqlite3_stmt* raw = nullptr;
    int result = sqlite3_prepare_v2(connection.db(), "PRAGMA journal_mode = WAL", -1, &raw, nullptr);
    const StatementPtr statement(raw);
    if (result == SQLITE_OK) result = sqlite3_step(statement.get());
    if (result == SQLITE_ROW) {
      const auto* mode = reinterpret_cast<const char*>(sqlite3_column_text(statement.get(), 0));
      return mode ? mode : "";
    }
    const int primary = result & 0xff;
    if ((primary != SQLITE_BUSY && primary != SQLITE_LOCKED) || std::chrono::steady_clock::now() > deadline) {
      connection.fail_sqlite(operation);
    }
    std::this_thread::sleep_for(pause);
  }
}

// The primary result code of the connection's last failure (SQLITE_READONLY for
// SQLITE_READONLY_CANTINIT, ...).
int last_error_code(const Connection& connection) { return sqlite3_extended_errcode(connection.db()) & 0xff; }

bool writable_by_this_user(const std::filesystem::path& path) {
  return ::faccessat(AT_FDCWD, path.c_str(), W_OK, AT_EACCESS) == 0;
}

std::filesystem::path beside(const std::filesystem::path& database_file, std::string_view suffix) {
  return database_file.string() + std::string(suffix);
}

void open_handle(Connection& connection, const std::string& name, int flags) {
  sqlite3* raw = nullptr;
  const int opened = sqlite3_open_v2(name.c_str(), &raw, flags, nullptr);
  connection.set_db(DatabasePtr(raw));  // owned even on failure, which still allocates a handle
  if (opened != SQLITE_OK) connection.fail_sqlite("open");
  sqlite3_extended_result_codes(raw, 1);
  if (sqlite3_busy_timeout(raw, kBusyTimeoutMs) != SQLITE_OK) connection.fail_sqlite("set busy timeout");
}

void require_directory(const Connection& connection) {
  const std::filesystem::path directory = connection.path().parent_path();
  std::error_code ignored;
  if (!directory.empty() && !std::filesystem::is_directory(directory, ignored)) {
    connection.fail("open", "directory '" + directory.string() + "' does not exist");
  }
}

// Said before SQLite's own "attempt to write a readonly database", which names neither the
// file nor what to do.
void require_writable(const Connection& connection) {
  const std::filesystem::path& path = connection.path();
  std::error_code ignored;
  if (std::filesystem::exists(path, ignored) && !writable_by_this_user(path)) {
    connection.fail("open", "the file is not writable by this user (status, best, trials, export and report only "
                            "read it, and work on a read-only study)");
  }
  // A -shm file this user cannot write makes SQLite fall back to reading only, whatever the
  // database file's own permissions. Removing it here is no cure: a program of another user may
  // be using it, and without it that program's log would no longer be seen by others.
  const std::filesystem::path shm = beside(path, "-shm");
  if (std::filesystem::exists(shm, ignored) && !writable_by_this_user(shm)) {
    connection.fail("open", "'" + shm.string() +
                                "' (SQLite's shared index of the write-ahead log) is not writable by this user, so "
                                "no change could be saved; once no program uses the study, delete that file (SQLite "
                                "makes a new one) or make it writable");
  }
}

// A file URI that opens `path` as immutable, every character but the safe ones escaped.
std::string immutable_uri(const std::filesystem::path& path) {
  std::string uri = "file:";
  for (const unsigned char c : std::filesystem::absolute(path).string()) {
    if (std::isalnum(c) || std::string_view("/-._~").find(static_cast<char>(c)) != std::string_view::npos) {
      uri += static_cast<char>(c);
    } else {
      char escaped[4];
      std::snprintf(escaped, sizeof escaped, "%%%02X", c);
      uri += escaped;
    }
  }
  return uri + "?immutable=1";
}

// A read-only connection to a WAL file needs the -shm index beside it, which SQLite creates
// when missing: in a folder this user may not write, it cannot, and the first read fails.
// Without a -wal file, every committed change is in the database file itself, so the file is
// then read as immutable: without the index or locks. A writer allowed to write the folder
// could start meanwhile and change pages during the read; that read would then fail or mix
// two states, never harm the file, and the reading commands take one short snapshot.
// (nolock=1 would not help: it still needs the index.)
void open_read_only(Connection& connection) {
  const std::filesystem::path& path = connection.path();
  std::error_code ignored;
  if (!std::filesystem::exists(path, ignored)) connection.fail("open", "no such file");
  open_handle(connection, path.string(), SQLITE_OPEN_READONLY);
  if (sqlite3_exec(connection.db(), "SELECT 1 FROM sqlite_master LIMIT 1", nullptr, nullptr, nullptr) == SQLITE_OK)
    return;
  const int code = last_error_code(connection);
  if (code != SQLITE_READONLY && code != SQLITE_CANTOPEN) return;  // the checks that follow say what it is
  const std::filesystem::path wal = beside(path, "-wal");
  if (std::filesystem::exists(wal, ignored)) {
    connection.fail("open", std::string("cannot read the write-ahead log '") + wal.string() + "' without creating '" +
                                beside(path, "-shm").string() + "' (" + sqlite3_errmsg(connection.db()) +
                                "); read it as a user who may write the folder");
  }
  open_handle(connection, immutable_uri(path), SQLITE_OPEN_READONLY | SQLITE_OPEN_URI);
}

[[noreturn]] void fail_damaged(const Connection& connection, const std::string& sqlite_says) {
  const std::string file = connection.path().string();
  connection.fail("open", "the file is damaged (SQLite: " + sqlite_says +
                              "); gpu_tune neither reads nor writes a damaged study: restore a copy, or save what "
                              "remains with: sqlite3 '" + file + "' .recover | sqlite3 NEW.db");
}

// The rows of a statement's first column, or the SQLite error that stopped it; a file that is
// not a database, or damaged, fails here with a message that says so.
std::vector<std::string> first_column(Connection& connection, const char* sql, std::string_view operation) {
  sqlite3_stmt* raw = nullptr;
  int result = sqlite3_prepare_v2(connection.db(), sql, -1, &raw, nullptr);
  const StatementPtr statement(raw);
  std::vector<std::string> rows;
  if (result == SQLITE_OK) {
    while ((result = sqlite3_step(statement.get())) == SQLITE_ROW) {
      const auto* text = reinterpret_cast<const char*>(sqlite3_column_text(statement.get(), 0));
      rows.emplace_back(text ? text : "");
    }
  }
  if (result == SQLITE_DONE) return rows;
  const int code = last_error_code(connection);
  if (code == SQLITE_NOTADB) {
    connection.fail("open", std::string("not a SQLite database (SQLite: ") + sqlite3_errmsg(connection.db()) + ")");
  }
  if (code == SQLITE_CORRUPT) fail_damaged(connection, sqlite3_errmsg(connection.db()));
  connection.fail_sqlite(operation);
}

// A file with tables must hold a study's: tables are never added to another program's database.
// Returns whether it holds any (none: a new file).
bool require_study_tables(Connection& connection) {
  const std::vector<std::string> tables = first_column(
      connection, "SELECT name FROM sqlite_master WHERE type = 'table' ORDER BY name", "read the table list");
  if (tables.empty()) return false;
  const auto holds = [&](std::string_view name) { return std::find(tables.begin(), tables.end(), name) != tables.end(); };
  if (holds("schema_version") && holds("studies")) return true;
  std::string listed;
  for (size_t i = 0; i < tables.size() && i < 5; ++i) listed += (i ? ", " : "") + tables[i];
  if (tables.size() > 5) listed += ", ...";
  connection.fail("open", "a SQLite database, but not a gpu_tune study: it holds the tables " + listed +
                              " and not 'studies' and 'schema_version'; give a new file or a study's database");
}

// quick_check reads every page and checks its structure (integrity_check also matches indexes
// against tables, at twice the time). On a 25 MB file of 10,000 trials of 20 steps each it took
// 0.05-0.15 s with the file cached and 0.7 s from disk. A storage is opened once per process,
// and the reading commands then read every trial anyway, so every open checks. Checking only
// when a read finds something odd would not do: a damaged page of an index can make a lookup
// find nothing instead of failing, so a damaged file looks like one without the study.
void require_intact(Connection& connection) {
  const std::vector<std::string> problems = first_column(connection, "PRAGMA quick_check(5)", "check integrity");
  if (problems.size() == 1 && problems.front() == "ok") return;
  std::string said;
  for (const std::string& problem : problems) said += (said.empty() ? "" : "; ") + problem;
  fail_damaged(connection, "quick_check found: " + said);
}

std::optional<int64_t> read_schema_version(Connection& connection) {
  Query query(connection, "SELECT MAX(version) FROM schema_version", "read schema version");
  if (query.next_row() && !query.is_null(0)) return query.integer(0);
  return std::nullopt;
}

void require_known_version(const Connection& connection, int64_t version) {
  if (version > kSchemaVersion) {
    connection.fail("open", "the file has schema version " + std::to_string(version) + ", newer than this program's " +
                                std::to_string(kSchemaVersion));
  }
}

void open_read_write(Connection& connection) {
  require_writable(connection);
  open_handle(connection, connection.path().string(), SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
  // Before anything writes: switching to WAL alone rewrites the file's header.
  require_study_tables(connection);
  require_intact(connection);

  // WAL lets readers work while one process writes; the setting persists in the file.
  const std::string mode = switch_to_wal(connection);
  if (mode != "wal") connection.fail("enable WAL", "the journal mode stayed '" + mode + "'");
  // FULL syncs the log at every commit: a finished trial survives even a power loss.
  connection.exec("PRAGMA synchronous = FULL", "set synchronous");
  connection.exec("PRAGMA foreign_keys = ON", "enable foreign keys");
}

void write_schema_version(Connection& connection, int version) {
  Query(connection, "INSERT INTO schema_version (version) VALUES (?)", "write schema version").bind_int(version).run();
}

// Version 1 -> 2: the trials' change numbers. A version-1 program refuses the file after
// this (its writes would not number their changes, and readers would miss them).
void migrate_schema(Connection& connection, int64_t version) {
  if (version < 2) {
    connection.exec("ALTER TABLE trials ADD COLUMN changed INTEGER NOT NULL DEFAULT 0", "migrate schema to version 2");
    write_schema_version(connection, 2);
  }
}

void create_schema(Connection& connection) {
  Transaction transaction(connection, Transaction::Kind::kWrite, "create schema");
  connection.exec(kCreateSchema, "create schema");
  if (const std::optional<int64_t> version = read_schema_version(connection)) {
    require_known_version(connection, *version);
    migrate_schema(connection, *version);
  } else {
    write_schema_version(connection, kSchemaVersion);
  }
  // After the migration: a version-1 table has no column to index before it.
  connection.exec("CREATE INDEX IF NOT EXISTS trials_by_change ON trials (study_id, changed)", "create schema");
  transaction.commit();
}

// The tables that came later within version 1 (see kCreateSchema) are missing from older
// files, where a writer adds them. A read-only connection cannot: it reads empty stand-ins in
// its own temporary schema instead, created only where the file lacks the table, since a
// temporary table would hide the file's own.
void stand_in_for_later_tables(Connection& connection) {
  constexpr std::string_view operation = "open read-only";
  static constexpr std::pair<const char*, const char*> kLaterTables[] = {
      {"trial_attributes", "CREATE TEMP TABLE trial_attributes (study_id INTEGER, number INTEGER, key TEXT, value REAL)"},
      {"study_spaces", "CREATE TEMP TABLE study_spaces (study_id INTEGER, description TEXT)"},
      {"trial_heartbeats",
       "CREATE TEMP TABLE trial_heartbeats (study_id INTEGER, number INTEGER, worker TEXT, heartbeat REAL)"},
  };
  for (const auto& [table, create] : kLaterTables) {
    bool present = false;
    {
      Query query(connection, "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", operation);
      query.bind_text(table);
      present = query.next_row();
    }
    if (!present) connection.exec(create, operation);
  }
}

// Returns the file's schema version (1 for a file that does not say).
int64_t open_for_reading(Connection& connection) {
  open_read_only(connection);
  if (!require_study_tables(connection)) connection.fail("open", "the file is empty: it holds no study yet");
  require_intact(connection);
  const int64_t version = read_schema_version(connection).value_or(1);
  require_known_version(connection, version);
  stand_in_for_later_tables(connection);
  return version;
}

}  // namespace

SqliteStorage::SqliteStorage(const std::filesystem::path& database_file, Access access)
    : connection_(std::make_unique<sqlite_detail::Connection>(database_file)) {
  require_directory(*connection_);
  if (access == Access::kReadOnly) {
    change_numbers_ = open_for_reading(*connection_) >= 2;
    return;
  }
  open_read_write(*connection_);
  create_schema(*connection_);
}

SqliteStorage::~SqliteStorage() = default;

const std::filesystem::path& SqliteStorage::database_file() const { return connection_->path(); }

StudyInfo SqliteStorage::create_or_load_study(const StudyInfo& requested) {
  constexpr std::string_view operation = "create_or_load_study";
  Connection& connection = *connection_;
  if (requested.name.empty()) connection.fail(operation, "a study needs a name");
  Transaction transaction(connection, Transaction::Kind::kWrite, operation);
  if (auto existing = select_study_by_name(connection, requested.name, operation)) {
    if (const std::string problem = study_mismatch(*existing, requested); !problem.empty())
      connection.fail(operation, problem);
    if (existing->space.empty() && !requested.space.empty()) {
      insert_study_space(connection, existing->id, requested.space, operation);
      existing->space = requested.space;
    }
    transaction.commit();
    return *existing;
  }
  Query(connection,
        "INSERT INTO studies (name, direction, metric, config, created_at) VALUES (?, ?, ?, ?, ?)", operation)
      .bind_text(requested.name)
      .bind_text(direction_name(requested.direction))
      .bind_text(requested.metric)
      .bind_text(requested.config)
      .bind_real(unix_time_now())
      .run();
  StudyInfo created = requested;
  created.id = sqlite3_last_insert_rowid(connection.db());
  if (!requested.space.empty()) insert_study_space(connection, created.id, requested.space, operation);
  transaction.commit();
  return created;
}

std::optional<StudyInfo> SqliteStorage::find_study(const std::string& name) {
  const ConnectionClaim claim = connection_->claim("find_study");
  return select_study_by_name(*connection_, name, "find_study");
}

namespace {

// Gives the trial the study's next change number, inside the caller's write transaction
// (which holds the write lock, so numbers follow the order of commits).
void mark_changed(Connection& connection, int64_t study_id, int64_t number, std::string_view operation) {
  Query(connection,
        "UPDATE trials SET changed = (SELECT COALESCE(MAX(changed), 0) + 1 FROM trials WHERE study_id = ?) "
        "WHERE study_id = ? AND number = ?",
        operation)
      .bind_int(study_id)
      .bind_int(study_id)
      .bind_int(number)
      .run();
}

// The new trial's row and its heartbeat, inside the caller's write transaction.
TrialRecord insert_trial(Connection& connection, int64_t study_id, const ParamMap& params, const std::string& device,
                         int slot, const std::string& worker, std::string_view operation) {
  TrialRecord trial;
  trial.state = TrialState::kRunning;
  trial.params = params;
  trial.device = device;
  trial.slot = slot;
  trial.worker = worker;
  const std::string params_json = stored_params(connection, params, operation);
  {
    Query query(connection, "SELECT COALESCE(MAX(number) + 1, 0) FROM trials WHERE study_id = ?", operation);
    query.bind_int(study_id);
    if (!query.next_row()) connection.fail_sqlite(operation);
    trial.number = query.integer(0);
  }
  trial.started_at = unix_time_now();
  Query(connection,
        "INSERT INTO trials (study_id, number, state, params, value, metrics, device, slot, started_at, "
        "finished_at, error) VALUES (?, ?, ?, ?, NULL, '{}', ?, ?, ?, NULL, '')",
        operation)
      .bind_int(study_id)
      .bind_int(trial.number)
      .bind_text(trial_state_name(TrialState::kRunning))
      .bind_text(params_json)
      .bind_text(device)
      .bind_int(slot)
      .bind_real(trial.started_at)
      .run();
  Query(connection, "INSERT INTO trial_heartbeats (study_id, number, worker, heartbeat) VALUES (?, ?, ?, ?)", operation)
      .bind_int(study_id)
      .bind_int(trial.number)
      .bind_text(worker)
      .bind_real(trial.started_at)
      .run();
  mark_changed(connection, study_id, trial.number, operation);
  return trial;
}

}  // namespace

TrialRecord SqliteStorage::start_trial(int64_t study_id, const ParamMap& params, const std::string& device,
                                       int slot) {
  constexpr std::string_view operation = "start_trial";
  Connection& connection = *connection_;
  // The number is read and taken under one write lock, so concurrent writers never share one.
  Transaction transaction(connection, Transaction::Kind::kWrite, operation);
  study_name(connection, study_id, operation);
  TrialRecord trial = insert_trial(connection, study_id, params, device, slot, worker_id(), operation);
  transaction.commit();
  return trial;
}

std::optional<TrialRecord> SqliteStorage::claim_trial(int64_t study_id, const ParamMap& params,
                                                      const std::string& device, int slot, int64_t budget,
                                                      const std::string& uncounted_error) {
  constexpr std::string_view operation = "claim_trial";
  Connection& connection = *connection_;
  Transaction transaction(connection, Transaction::Kind::kWrite, operation);
  study_name(connection, study_id, operation);
  // A waiting trial first: it already counts toward the budget.
  std::optional<std::pair<int64_t, std::string>> waiting;
  {
    Query query(connection, "SELECT number, params FROM trials WHERE study_id = ? AND state = ? ORDER BY number LIMIT 1",
                operation);
    query.bind_int(study_id).bind_text(trial_state_name(TrialState::kWaiting));
    if (query.next_row()) waiting = std::make_pair(query.integer(0), query.text(1));
  }
  if (waiting) {
    TrialRecord trial;
    trial.number = waiting->first;
    trial.state = TrialState::kRunning;
    try {
      trial.params = params_from_json_text(waiting->second);
    } catch (const std::invalid_argument& e) {
      connection.fail(operation, "trial " + std::to_string(trial.number) + ": " + e.what());
    }
    trial.device = device;
    trial.slot = slot;
    trial.worker = worker_id();
    trial.started_at = unix_time_now();
    Query(connection, "UPDATE trials SET state = ?, device = ?, slot = ?, started_at = ? WHERE study_id = ? AND number = ?",
          operation)
        .bind_text(trial_state_name(TrialState::kRunning))
        .bind_text(device)
        .bind_int(slot)
        .bind_real(trial.started_at)
        .bind_int(study_id)
        .bind_int(trial.number)
        .run();
    Query(connection, "INSERT INTO trial_heartbeats (study_id, number, worker, heartbeat) VALUES (?, ?, ?, ?)", operation)
        .bind_int(study_id)
        .bind_int(trial.number)
        .bind_text(worker_id())
        .bind_real(trial.started_at)
        .run();
    {
      Query query(connection, "SELECT key, value FROM trial_attributes WHERE study_id = ? AND number = ?", operation);
      query.bind_int(study_id).bind_int(trial.number);
      while (query.next_row()) trial.attributes[query.text(0)] = query.optional_real(1).value_or(0.0);
    }
    mark_changed(connection, study_id, trial.number, operation);
    transaction.commit();
    return trial;
  }
  int64_t counted = 0;
  {
    Query query(connection, "SELECT COUNT(*) FROM trials WHERE study_id = ? AND NOT (state = ? AND error = ?)",
                operation);
    query.bind_int(study_id).bind_text(trial_state_name(TrialState::kFailed)).bind_text(uncounted_error);
    if (!query.next_row()) connection.fail_sqlite(operation);
    counted = query.integer(0);
  }
  if (counted >= budget) return std::nullopt;  // the transaction rolls back: nothing written
  TrialRecord trial = insert_trial(connection, study_id, params, device, slot, worker_id(), operation);
  transaction.commit();
  return trial;
}

TrialRecord SqliteStorage::enqueue_trial(int64_t study_id, const ParamMap& params,
                                         const std::map<std::string, double>& attributes) {
  constexpr std::string_view operation = "enqueue_trial";
  Connection& connection = *connection_;
  Transaction transaction(connection, Transaction::Kind::kWrite, operation);
  study_name(connection, study_id, operation);
  TrialRecord trial = insert_trial(connection, study_id, params, "", -1, worker_id(), operation);
  Query(connection, "UPDATE trials SET state = ? WHERE study_id = ? AND number = ?", operation)
      .bind_text(trial_state_name(TrialState::kWaiting))
      .bind_int(study_id)
      .bind_int(trial.number)
      .run();
  Query(connection, "DELETE FROM trial_heartbeats WHERE study_id = ? AND number = ?", operation)
      .bind_int(study_id)
      .bind_int(trial.number)
      .run();
  for (const auto& [key, value] : attributes) {
    Query(connection, "INSERT INTO trial_attributes (study_id, number, key, value) VALUES (?, ?, ?, ?)", operation)
        .bind_int(study_id)
        .bind_int(trial.number)
        .bind_text(key)
        .bind_real(value)
        .run();
  }
  transaction.commit();
  trial.state = TrialState::kWaiting;
  trial.worker.clear();
  trial.attributes = attributes;
  return trial;
}

void SqliteStorage::heartbeat(int64_t study_id) {
  constexpr std::string_view operation = "heartbeat";
  Connection& connection = *connection_;
  Transaction transaction(connection, Transaction::Kind::kWrite, operation);
  Query(connection,
        "UPDATE trial_heartbeats SET heartbeat = ? WHERE study_id = ? AND worker = ? AND number IN "
        "(SELECT number FROM trials WHERE study_id = ? AND state = ?)",
        operation)
      .bind_real(unix_time_now())
      .bind_int(study_id)
      .bind_text(worker_id())
      .bind_int(study_id)
      .bind_text(trial_state_name(TrialState::kRunning))
      .run();
  transaction.commit();
}

std::vector<int64_t> SqliteStorage::fail_stale_trials(int64_t study_id, const std::string& reason,
                                                      double grace_seconds,
                                                      const std::function<bool(const std::string&)>& is_dead) {
  constexpr std::string_view operation = "fail_stale_trials";
  Connection& connection = *connection_;
  Transaction transaction(connection, Transaction::Kind::kWrite, operation);
  study_name(connection, study_id, operation);
  const double now = unix_time_now();
  std::vector<int64_t> stale;
  {
    Query query(connection,
                "SELECT t.number, h.worker, h.heartbeat FROM trials t LEFT JOIN trial_heartbeats h "
                "ON h.study_id = t.study_id AND h.number = t.number WHERE t.study_id = ? AND t.state = ? "
                "ORDER BY t.number",
                operation);
    query.bind_int(study_id).bind_text(trial_state_name(TrialState::kRunning));
    while (query.next_row()) {
      const bool without_heartbeat = query.is_null(2);
      if (without_heartbeat || query.real(2) < now - grace_seconds || (is_dead && is_dead(query.text(1))))
        stale.push_back(query.integer(0));
    }
  }
  for (const int64_t number : stale) {
    Query(connection, "UPDATE trials SET state = ?, error = ?, finished_at = ? WHERE study_id = ? AND number = ?",
          operation)
        .bind_text(trial_state_name(TrialState::kFailed))
        .bind_text(reason)
        .bind_real(now)
        .bind_int(study_id)
        .bind_int(number)
        .run();
    mark_changed(connection, study_id, number, operation);
  }
  transaction.commit();
  return stale;
}

void SqliteStorage::record_step(int64_t study_id, int64_t number, const StepRecord& step) {
  constexpr std::string_view operation = "record_step";
  Connection& connection = *connection_;
  const std::string metrics_json = stored_metrics(connection, step.metrics, operation);
  Transaction transaction(connection, Transaction::Kind::kWrite, operation);
  require_running(connection, study_id, number, operation);
  // A step reported again replaces the earlier report.
  Query(connection,
        "INSERT INTO trial_steps (study_id, number, step, value, metrics) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (study_id, number, step) DO UPDATE SET value = excluded.value, metrics = excluded.metrics",
        operation)
      .bind_int(study_id)
      .bind_int(number)
      .bind_int(step.step)
      .bind_real(step.value)
      .bind_text(metrics_json)
      .run();
  mark_changed(connection, study_id, number, operation);
  transaction.commit();
}

void SqliteStorage::set_trial_attributes(int64_t study_id, int64_t number,
                                         const std::map<std::string, double>& attributes) {
  constexpr std::string_view operation = "set_trial_attributes";
  Connection& connection = *connection_;
  Transaction transaction(connection, Transaction::Kind::kWrite, operation);
  require_running(connection, study_id, number, operation);
  for (const auto& [key, value] : attributes) {
    Query(connection,
          "INSERT INTO trial_attributes (study_id, number, key, value) VALUES (?, ?, ?, ?) "
          "ON CONFLICT (study_id, number, key) DO UPDATE SET value = excluded.value",
          operation)
        .bind_int(study_id)
        .bind_int(number)
        .bind_text(key)
        .bind_real(value)
        .run();
  }
  mark_changed(connection, study_id, number, operation);
  transaction.commit();
}

void SqliteStorage::finish_trial(int64_t study_id, int64_t number, TrialState state, std::optional<double> value,
                                 const std::map<std::string, double>& metrics, const std::string& error,
                                 std::optional<double> finished_at) {
  constexpr std::string_view operation = "finish_trial";
  Connection& connection = *connection_;
  if (const std::string problem = finish_state_problem(study_id, number, state); !problem.empty())
    connection.fail(operation, problem);
  const std::string metrics_json = stored_metrics(connection, metrics, operation);
  Transaction transaction(connection, Transaction::Kind::kWrite, operation);
  require_running(connection, study_id, number, operation);
  Query(connection,
        "UPDATE trials SET state = ?, value = ?, metrics = ?, error = ?, finished_at = ? "
        "WHERE study_id = ? AND number = ?",
        operation)
      .bind_text(trial_state_name(state))
      .bind_optional_real(value)
      .bind_text(metrics_json)
      .bind_text(error)
      .bind_real(finished_at.value_or(unix_time_now()))
      .bind_int(study_id)
      .bind_int(number)
      .run();
  mark_changed(connection, study_id, number, operation);
  transaction.commit();
}

namespace {

// The study's trials, or with changed_from those whose change number is at least that, whole,
// in number order, inside the caller's read transaction (so that steps and attributes belong
// to the same snapshot as the trials).
std::vector<TrialRecord> read_trials(Connection& connection, int64_t study_id, std::optional<int64_t> changed_from,
                                     std::string_view operation) {
  const std::string name = study_name(connection, study_id, operation);
  auto unreadable = [&](int64_t number, const std::string& what) {
    connection.fail(operation, describe_trial(study_id, name, number) + ": " + what);
  };
  // The changed trials are found by their change number (index trials_by_change), and their
  // steps and attributes by trial number: a read costs what changed, not the study's size.
  const std::string changed = changed_from ? " AND t.changed >= ?" : "";
  const std::string of_changed =
      changed_from ? " AND number IN (SELECT number FROM trials WHERE study_id = ? AND changed >= ?)" : "";
  const auto bind = [&](Query& query) {
    query.bind_int(study_id);
    if (changed_from) query.bind_int(study_id).bind_int(*changed_from);
  };
  std::vector<TrialRecord> trials;
  {
    const auto bind_trials = [&](Query& query) {
      query.bind_int(study_id);
      if (changed_from) query.bind_int(*changed_from);
    };
    Query query(connection,
                ("SELECT t.number, t.state, t.params, t.value, t.metrics, t.device, t.slot, t.started_at, "
                 "t.finished_at, t.error, h.worker FROM trials t LEFT JOIN trial_heartbeats h "
                 "ON h.study_id = t.study_id AND h.number = t.number WHERE t.study_id = ?" +
                 changed + " ORDER BY t.number")
                    .c_str(),
                operation);
    bind_trials(query);
    while (query.next_row()) {
      try {
        trials.push_back(decode_trial_row(query));
      } catch (const std::invalid_argument& e) {
        unreadable(query.integer(0), e.what());
      }
    }
  }
  if (trials.empty()) return trials;
  {
    Query query(connection,
                ("SELECT number, step, value, metrics FROM trial_steps WHERE study_id = ?" + of_changed +
                 " ORDER BY number, step")
                    .c_str(),
                operation);
    bind(query);
    // Both lists are ordered by number, so one pass pairs each step with its trial.
    TrialCursor cursor(trials);
    while (query.next_row()) {
      const int64_t number = query.integer(0);
      TrialRecord* trial = cursor.find(number);
      if (!trial) unreadable(number, "has steps but no trial row");
      try {
        trial->steps.push_back(decode_step_row(query));
      } catch (const std::invalid_argument& e) {
        unreadable(number, e.what());
      }
    }
  }
  {
    Query query(connection,
                ("SELECT number, key, value FROM trial_attributes WHERE study_id = ?" + of_changed + " ORDER BY number")
                    .c_str(),
                operation);
    bind(query);
    TrialCursor cursor(trials);
    while (query.next_row()) {
      const int64_t number = query.integer(0);
      TrialRecord* trial = cursor.find(number);
      if (!trial) unreadable(number, "has attributes but no trial row");
      trial->attributes[query.text(1)] = query.optional_real(2).value_or(std::numeric_limits<double>::quiet_NaN());
    }
  }
  return trials;
}

}  // namespace

std::vector<TrialRecord> SqliteStorage::trials(int64_t study_id) {
  constexpr std::string_view operation = "trials";
  Transaction transaction(*connection_, Transaction::Kind::kRead, operation);
  std::vector<TrialRecord> trials = read_trials(*connection_, study_id, std::nullopt, operation);
  transaction.commit();
  return trials;
}

TrialChanges SqliteStorage::trials_changed_since(int64_t study_id, uint64_t cursor) {
  constexpr std::string_view operation = "trials_changed_since";
  if (!change_numbers_) return {trials(study_id), 0};
  Connection& connection = *connection_;
  Transaction transaction(connection, Transaction::Kind::kRead, operation);
  TrialChanges changes;
  // The cursor is the first change number not read yet: 0 reads every trial, those of
  // version 1 (change number 0) too.
  changes.trials = read_trials(connection, study_id, static_cast<int64_t>(cursor), operation);
  Query query(connection, "SELECT COALESCE(MAX(changed), 0) + 1 FROM trials WHERE study_id = ?", operation);
  query.bind_int(study_id);
  if (!query.next_row()) connection.fail_sqlite(operation);
  changes.cursor = static_cast<uint64_t>(query.integer(0));
  transaction.commit();
  return changes;
}

uint64_t SqliteStorage::others_version() {
  constexpr std::string_view operation = "others_version";
  const ConnectionClaim claim = connection_->claim(operation);
  Query query(*connection_, "PRAGMA data_version", operation);
  if (!query.next_row()) connection_->fail(operation, "PRAGMA data_version returned no row");
  return static_cast<uint64_t>(query.integer(0));
}

void SqliteStorage::write_batch(const std::function<void()>& writes) {
  constexpr std::string_view operation = "write_batch";
  Connection& connection = *connection_;
  if (connection.in_batch()) connection.fail(operation, "a write batch is already open on this connection");
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
}

}  // namespace gpu_tune::search
