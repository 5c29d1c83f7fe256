#include "search/storage_url.h"

#include <gtest/gtest.h>

#include <stdexcept>
#include <string>

namespace gpu_tune::search {
namespace {

TEST(StorageLocation, APlainPathAndSqliteUrlsAreSqliteFiles) {
  EXPECT_TRUE(parse_storage_location("studies/a/study.db").is_sqlite());
  EXPECT_EQ(parse_storage_location("studies/a/study.db").sqlite_file, "studies/a/study.db");
  // As in SQLAlchemy and Optuna: three slashes, then the path; a fourth makes it absolute.
  EXPECT_EQ(parse_storage_location("sqlite:///studies/a/study.db").sqlite_file, "studies/a/study.db");
  EXPECT_EQ(parse_storage_location("sqlite:////srv/study.db").sqlite_file, "/srv/study.db");
}

TEST(StorageLocation, PostgresUrlsKeepEverythingForLibpq) {
  for (const std::string url : {"postgresql://u@db.example:5432/studies", "postgres://u:pw@h/d?sslmode=require"}) {
    const StorageLocation location = parse_storage_location(url);
    EXPECT_EQ(location.kind, StorageLocation::Kind::kPostgres);
    EXPECT_EQ(location.postgres_url, url);
  }
}

TEST(StorageLocation, RefusalsNameTheInputAndHideThePassword) {
  auto message_for = [](const std::string& text) {
    try {
      parse_storage_location(text);
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("accepted");
  };
  EXPECT_NE(message_for("mysql://u:hunter2@h/d").find("scheme 'mysql'"), std::string::npos);
  EXPECT_EQ(message_for("mysql://u:hunter2@h/d").find("hunter2"), std::string::npos);
  EXPECT_NE(message_for("sqlite://study.db").find("sqlite:///relative/path.db"), std::string::npos);
  EXPECT_NE(message_for("sqlite:///").find("names no file"), std::string::npos);
  EXPECT_NE(message_for("").find("empty"), std::string::npos);
}

TEST(StorageLocation, RedactsPasswordsWhereverTheyAre) {
  EXPECT_EQ(redact_storage_url("postgresql://u:secret@h:5432/d"), "postgresql://u:***@h:5432/d");
  EXPECT_EQ(redact_storage_url("postgresql://u@h:5432/d"), "postgresql://u@h:5432/d");
  EXPECT_EQ(redact_storage_url("postgresql://h:5432/d"), "postgresql://h:5432/d");
  EXPECT_EQ(redact_storage_url("postgresql://u@h/d?password=secret&sslmode=require"),
            "postgresql://u@h/d?password=***&sslmode=require");
  EXPECT_EQ(redact_storage_url("postgresql://u:p%40ss@h/d?host=/tmp/s"), "postgresql://u:***@h/d?host=/tmp/s");
  EXPECT_EQ(parse_storage_location("postgresql://u:secret@h/d").description(), "postgresql://u:***@h/d");
}

}  // namespace
}  // namespace gpu_tune::search
