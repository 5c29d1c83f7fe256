#pragma once
// Storage in a PostgreSQL database, for studies that workers on several nodes share. The
// same semantics as SqliteStorage (storage.h); each object holds its own connection and is
// used from one thread at a time. Every state change is one transaction, and every statement
// is parameterised. Write transactions take one row lock first (the change counter), so
// writers take turns as in SQLite: trial numbers are unique and claims meet the budget
// exactly, whatever the number of workers.
//
// A lost connection (the server restarted, a network cut) is reconnected with exponential
// backoff and the whole operation run again, for up to `reconnect_seconds`; then
// StorageUnavailable says what was lost and for how long it was tried (StorageWriter keeps
// the writes and tries them again). The URL's password never appears in a
// message: descriptions use redact_storage_url (storage_url.h).
#include <memory>
#include <string>

#include "search/storage.h"

namespace gpu_tune::search {

namespace postgres_detail {
class Connection;  // defined in the .cpp, which keeps libpq-fe.h out of this header
}

struct PostgresOptions {
  double reconnect_seconds = 120;  // how long a lost connection is retried before giving up
  double open_retry_seconds = 10;  // how long the first connection is tried (a server starting)
  double connect_timeout_seconds = 10;  // each connection attempt
};

class PostgresStorage final : public Storage {
 public:
  // `url`: a libpq connection URI (postgresql://user@host:port/db?...). The password comes
  // from the URL, PGPASSWORD or ~/.pgpass (libpq's own rules). Creates or migrates the schema.
  explicit PostgresStorage(const std::string& url, PostgresOptions options = {});
  ~PostgresStorage() override;
  PostgresStorage(const PostgresStorage&) = delete;
  PostgresStorage& operator=(const PostgresStorage&) = delete;

  // The URL without its password.
  const std::string& description() const;

  StudyInfo create_or_load_study(const StudyInfo& study) override;
  std::optional<StudyInfo> find_study(const std::string& name) override;

  TrialRecord start_trial(int64_t study_id, const ParamMap& params, const std::string& device, int slot) override;
  std::optional<TrialRecord> claim_trial(int64_t study_id, const ParamMap& params, const std::string& device, int slot,
                                         int64_t budget, const std::string& uncounted_error) override;
  TrialRecord enqueue_trial(int64_t study_id, const ParamMap& params,
                            const std::map<std::string, double>& attributes) override;
  void heartbeat(int64_t study_id) override;
  std::vector<int64_t> fail_stale_trials(int64_t study_id, const std::string& reason, double grace_seconds,
                                         const std::function<bool(const std::string& worker)>& is_dead) override;
  void record_step(int64_t study_id, int64_t number, const StepRecord& step) override;
  void set_trial_attributes(int64_t study_id, int64_t number, const std::map<std::string, double>& attributes) override;
  void finish_trial(int64_t study_id, int64_t number, TrialState state, std::optional<double> value,
                    const std::map<std::string, double>& metrics, const std::string& error,
                    std::optional<double> finished_at = std::nullopt) override;
  std::vector<TrialRecord> trials(int64_t study_id) override;
  TrialChanges trials_changed_since(int64_t study_id, uint64_t cursor) override;
  // The database's change counter, less the changes this object committed.
  uint64_t others_version() override;
  void write_batch(const std::function<void()>& writes) override;

  // The server process of this object's connection (for tests that cut it).
  int backend_pid();

 private:
  std::unique_ptr<postgres_detail::Connection> connection_;
};

}  // namespace gpu_tune::search
