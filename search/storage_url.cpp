#include "search/storage_url.h"

#include <stdexcept>

#include "search/sqlite_storage.h"
#ifdef GPU_TUNE_HAVE_POSTGRES
#include "search/postgres_storage.h"
#endif

namespace gpu_tune::search {
namespace {

constexpr std::string_view kSqliteScheme = "sqlite:///";

bool starts_with_any(std::string_view text, std::initializer_list<std::string_view> prefixes) {
  for (std::string_view prefix : prefixes) {
    if (text.starts_with(prefix)) return true;
  }
  return false;
}

}  // namespace

std::string StorageLocation::description() const {
  return is_sqlite() ? sqlite_file.string() : redact_storage_url(postgres_url);
}

StorageLocation parse_storage_location(std::string_view text) {
  const std::string quoted = "storage '" + redact_storage_url(text) + "'";
  if (text.empty()) throw std::invalid_argument("the storage is empty: give a file or a URL");
  StorageLocation location;
  if (starts_with_any(text, {"postgresql://", "postgres://"})) {
    location.kind = StorageLocation::Kind::kPostgres;
    location.postgres_url = std::string(text);
    return location;
  }
  if (text.starts_with(kSqliteScheme)) {
    const std::string_view path = text.substr(kSqliteScheme.size());
    if (path.empty()) throw std::invalid_argument(quoted + " names no file after sqlite:///");
    location.sqlite_file = std::filesystem::path(std::string(path));
    return location;
  }
  if (text.starts_with("sqlite:")) {
    throw std::invalid_argument(quoted + ": write sqlite:///relative/path.db or sqlite:////absolute/path.db");
  }
  if (const size_t scheme_end = text.find("://"); scheme_end != std::string_view::npos) {
    throw std::invalid_argument(quoted + " has scheme '" + std::string(text.substr(0, scheme_end)) +
                                "'; gpu_tune keeps studies in sqlite:/// files or postgresql:// databases");
  }
  location.sqlite_file = std::filesystem::path(std::string(text));
  return location;
}

std::string redact_storage_url(std::string_view url) {
  std::string redacted(url);
  // user:password@ in the authority part (between "://" and the next '/', '?' or '#').
  if (const size_t scheme_end = redacted.find("://"); scheme_end != std::string::npos) {
    const size_t authority = scheme_end + 3;
    const size_t authority_end = redacted.find_first_of("/?#", authority);
    const size_t at = redacted.rfind('@', authority_end == std::string::npos ? std::string::npos : authority_end);
    if (at != std::string::npos && at >= authority) {
      const size_t colon = redacted.find(':', authority);
      if (colon != std::string::npos && colon < at) redacted.replace(colon + 1, at - colon - 1, "***");
    }
  }
  // password=... as a query parameter (or a keyword=value connection string).
  for (size_t at = redacted.find("password="); at != std::string::npos; at = redacted.find("password=", at + 1)) {
    const size_t value = at + 9;
    const size_t end = redacted.find_first_of("& ", value);
    redacted.replace(value, (end == std::string::npos ? redacted.size() : end) - value, "***");
  }
  return redacted;
}

std::unique_ptr<Storage> open_storage(const StorageLocation& location, StorageAccess access) {
  if (location.is_sqlite()) {
    return std::make_unique<SqliteStorage>(location.sqlite_file, access == StorageAccess::kReadOnly
                                                                     ? SqliteStorage::Access::kReadOnly
                                                                     : SqliteStorage::Access::kReadWrite);
  }
  (void)access;  // PostgreSQL: see the header
#ifdef GPU_TUNE_HAVE_POSTGRES
  return std::make_unique<PostgresStorage>(location.postgres_url);
#else
  throw StorageError("storage '" + location.description() +
                     "': this gpu_tune was built without PostgreSQL (GPU_TUNE_POSTGRES=OFF); "
                     "build it with libpq-dev installed");
#endif
}

}  // namespace gpu_tune::search
