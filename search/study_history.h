#pragma once
// A study's trials as one process knows them: read from storage once, then kept up to date
// by the process's own writes, applied here as storage applies them. So asking for the next
// trial or for a pruning decision costs no storage read; when another writer changed the
// study (Storage::others_version), what changed is read and merged.
#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "search/storage.h"
#include "search/trial.h"

namespace gpu_tune::search {

class StudyHistory {
 public:
  // Replaces everything with the trials as stored.
  void reset(std::vector<TrialRecord> trials);
  // Takes the trials as stored again (Storage::trials_changed_since): each replaces the copy
  // of that number, or joins in number order.
  void merge(std::vector<TrialRecord> changed);
  // Applies a read of what changed since changes_cursor(): the first read (cursor 0) replaces
  // everything, a later one merges; then keeps the read's cursor for the next.
  void apply(TrialChanges changes);
  uint64_t changes_cursor() const { return changes_cursor_; }

  // In number order, as Storage::trials returns them.
  const std::vector<TrialRecord>& trials() const { return trials_; }
  const TrialRecord* find(int64_t number) const;

  // The same changes, with the same checks, as the Storage methods of those names; the checks
  // throw StorageError naming the operation, the trial and the problem.
  void add_started(const TrialRecord& trial);
  void record_step(int64_t number, const StepRecord& step);
  void set_attributes(int64_t number, const std::map<std::string, double>& attributes);
  void finish(int64_t number, TrialState state, std::optional<double> value, const std::map<std::string, double>& metrics,
              const std::string& error);

 private:
  TrialRecord& running(int64_t number, const char* operation);

  std::vector<TrialRecord> trials_;
  std::map<int64_t, size_t> index_;  // number -> position in trials_
  uint64_t changes_cursor_ = 0;      // Storage::trials_changed_since's, of the last apply
};

}  // namespace gpu_tune::search
