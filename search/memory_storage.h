#pragma once
// Storage kept in memory: the same semantics as SqliteStorage, for tests and for runs that
// need no record once the process ends. Thread-safe; nothing survives the object.
#include <cstdint>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "search/storage.h"

namespace gpu_tune::search {

class MemoryStorage final : public Storage {
 public:
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
  // One object is one writer: code that shares a MemoryStorage shares its view of every
  // write, so there are no others to see (several writers of one study use SQLite files).
  uint64_t others_version() override { return 0; }

 private:
  struct Study {
    StudyInfo info;
    std::vector<TrialRecord> trials;  // trials[i].number == i
    std::map<int64_t, double> heartbeats;  // by trial number
    std::vector<uint64_t> changed;         // by trial number: the change that last touched it
    uint64_t changes = 0;                  // changes so far, counted from 1
  };

  static void check_params(const ParamMap& params);
  // Callers hold mutex_.
  TrialRecord add_trial_locked(Study& target, const ParamMap& params, const std::string& device, int slot);
  static void mark_changed(Study& target, int64_t number);
  Study& study(int64_t study_id);
  TrialRecord& running_trial(int64_t study_id, int64_t number, const char* operation);

  std::mutex mutex_;
  std::map<int64_t, Study> studies_;  // ids from 1, as SQLite assigns them
};

}  // namespace gpu_tune::search
