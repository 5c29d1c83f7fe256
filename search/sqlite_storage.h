#pragma once
// Storage in one SQLite file. Each object holds its own connection and is used from one
// thread at a time; any number of objects, in threads or processes, may share the file.
// Every state change is its own committed transaction (WAL, synchronous=FULL), or part of a
// write_batch committed as one, so a process killed at any instant leaves a consistent file
// that loses at most its running trials' latest changes.
#include <filesystem>
#include <memory>

#include "search/storage.h"

namespace gpu_tune::search {

namespace sqlite_detail {
class Connection;  // defined in the .cpp, which keeps sqlite3.h out of this header
}

class SqliteStorage final : public Storage {
 public:
  enum class Access {
    kReadWrite,  // creates the file and its tables if missing (its directory must exist)
    // Never changes the file: no tables created, no switch to WAL. For commands that only
    // read, so that they work on a study the user may not write.
    kReadOnly,
  };
  // Refuses (StorageError) a file that is not a SQLite database, one that holds other tables
  // than a study's, and a damaged one, which it checks with SQLite's quick_check.
  explicit SqliteStorage(const std::filesystem::path& database_file, Access access = Access::kReadWrite);
  ~SqliteStorage() override;
  SqliteStorage(const SqliteStorage&) = delete;
  SqliteStorage& operator=(const SqliteStorage&) = delete;

  const std::filesystem::path& database_file() const;

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
  uint64_t others_version() override;  // SQLite's data_version of this connection
  void write_batch(const std::function<void()>& writes) override;

 private:
  std::unique_ptr<sqlite_detail::Connection> connection_;
  // False for a version-1 file opened read-only: it has no change numbers to read by, so
  // trials_changed_since reads every trial.
  bool change_numbers_ = true;
};

}  // namespace gpu_tune::search
