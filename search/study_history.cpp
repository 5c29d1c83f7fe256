#include "search/study_history.h"

#include <algorithm>

#include "search/storage.h"

namespace gpu_tune::search {

void StudyHistory::reset(std::vector<TrialRecord> trials) {
  trials_ = std::move(trials);
  index_.clear();
  for (size_t i = 0; i < trials_.size(); ++i) index_[trials_[i].number] = i;
}

void StudyHistory::merge(std::vector<TrialRecord> changed) {
  bool in_order = true;
  for (TrialRecord& trial : changed) {
    if (const auto known = index_.find(trial.number); known != index_.end()) {
      trials_[known->second] = std::move(trial);
      continue;
    }
    in_order = in_order && (trials_.empty() || trials_.back().number < trial.number);
    index_[trial.number] = trials_.size();
    trials_.push_back(std::move(trial));
  }
  if (in_order) return;
  // Another writer's trial numbered below ones this process started since its last read.
  std::sort(trials_.begin(), trials_.end(), [](const TrialRecord& a, const TrialRecord& b) { return a.number < b.number; });
  for (size_t i = 0; i < trials_.size(); ++i) index_[trials_[i].number] = i;
}

void StudyHistory::apply(TrialChanges changes) {
  if (changes_cursor_ == 0) {
    reset(std::move(changes.trials));
  } else {
    merge(std::move(changes.trials));
  }
  changes_cursor_ = changes.cursor;
}

const TrialRecord* StudyHistory::find(int64_t number) const {
  const auto found = index_.find(number);
  return found == index_.end() ? nullptr : &trials_[found->second];
}

void StudyHistory::add_started(const TrialRecord& trial) {
  if (const auto known = index_.find(trial.number); known != index_.end()) {
    // A waiting trial (enqueued to be run again) that a claim has now started.
    if (trials_[known->second].state != TrialState::kWaiting)
      throw StorageError("start_trial: trial " + std::to_string(trial.number) + " is already in the study");
    trials_[known->second] = trial;
    return;
  }
  // Numbers grow, so appending keeps number order unless another writer's trial came in
  // between (then the merge that reads it puts it in place).
  index_[trial.number] = trials_.size();
  trials_.push_back(trial);
}

TrialRecord& StudyHistory::running(int64_t number, const char* operation) {
  const auto found = index_.find(number);
  if (found == index_.end()) throw StorageError(std::string(operation) + ": the study has no trial " + std::to_string(number));
  TrialRecord& trial = trials_[found->second];
  if (trial.state != TrialState::kRunning)
    throw StorageError(std::string(operation) + ": trial " + std::to_string(number) + " is " +
                       std::string(trial_state_name(trial.state)) + ", not running");
  return trial;
}

void StudyHistory::record_step(int64_t number, const StepRecord& step) {
  std::vector<StepRecord>& steps = running(number, "record_step").steps;
  const auto at = std::lower_bound(steps.begin(), steps.end(), step.step,
                                   [](const StepRecord& s, int64_t wanted) { return s.step < wanted; });
  if (at != steps.end() && at->step == step.step) {
    *at = step;  // a re-report of that step replaces it
  } else {
    steps.insert(at, step);
  }
}

void StudyHistory::set_attributes(int64_t number, const std::map<std::string, double>& attributes) {
  TrialRecord& trial = running(number, "set_trial_attributes");
  for (const auto& [key, value] : attributes) trial.attributes[key] = value;
}

void StudyHistory::finish(int64_t number, TrialState state, std::optional<double> value,
                          const std::map<std::string, double>& metrics, const std::string& error) {
  if (!is_finished(state))
    throw StorageError("finish_trial: trial " + std::to_string(number) + " cannot finish as '" +
                       std::string(trial_state_name(state)) + "'; it must be complete, pruned or failed");
  TrialRecord& trial = running(number, "finish_trial");
  trial.state = state;
  trial.value = value;
  trial.metrics = metrics;
  trial.error = error;
  trial.finished_at = unix_time_now();
}

}  // namespace gpu_tune::search
