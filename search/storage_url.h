#pragma once
// Where a study is kept, as the user writes it after --storage:
//   postgresql://user@host:port/db   (or postgres://): PostgreSQL, for studies shared by nodes
//   sqlite:///path/study.db          SQLite; the path after the third slash, so relative
//                                    (sqlite:////abs/study.db is absolute), as in SQLAlchemy
//                                    and Optuna
//   path/study.db                    a plain path: SQLite
#include <filesystem>
#include <memory>
#include <string>
#include <string_view>

#include "search/storage.h"

namespace gpu_tune::search {

struct StorageLocation {
  enum class Kind { kSqlite, kPostgres };
  Kind kind = Kind::kSqlite;
  std::filesystem::path sqlite_file;  // kSqlite
  std::string postgres_url;           // kPostgres: the URL as given, password included

  bool is_sqlite() const { return kind == Kind::kSqlite; }
  // For messages and logs: the file, or the URL without its password.
  std::string description() const;
};

// Throws std::invalid_argument naming the text and the problem (an empty path, an unknown
// scheme such as mysql://).
StorageLocation parse_storage_location(std::string_view text);

// The URL with any password (user:PASSWORD@, or a password= parameter) replaced by "***".
std::string redact_storage_url(std::string_view url);

enum class StorageAccess {
  kReadWrite,  // creates the SQLite file and its tables if need be
  kReadOnly,   // for commands that only read: a SQLite file is never changed (nor created)
};

// Opens the storage. Throws StorageError. PostgreSQL needs no read-only mode: reading there
// writes nothing, whatever the access.
std::unique_ptr<Storage> open_storage(const StorageLocation& location,
                                      StorageAccess access = StorageAccess::kReadWrite);

}  // namespace gpu_tune::search
