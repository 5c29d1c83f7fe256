#include "search/memory_storage.h"

#include <algorithm>
#include <stdexcept>

#include "search/param_json.h"
#include "search/storage_rows.h"

namespace gpu_tune::search {
namespace {

std::string describe(const StudyInfo& study) {
  return "study " + std::to_string(study.id) + " ('" + study.name + "')";
}

}  // namespace

StudyInfo MemoryStorage::create_or_load_study(const StudyInfo& requested) {
  if (requested.name.empty()) throw StorageError("create_or_load_study: a study needs a name");
  std::lock_guard lock(mutex_);
  for (const auto& [id, existing] : studies_) {
    if (existing.info.name != requested.name) continue;
    if (const std::string problem = study_mismatch(existing.info, requested); !problem.empty())
      throw StorageError(problem);
    if (existing.info.space.empty()) studies_.at(id).info.space = requested.space;
    return studies_.at(id).info;
  }
  const int64_t id = studies_.empty() ? 1 : studies_.rbegin()->first + 1;
  Study& created = studies_[id];
  created.info = requested;
  created.info.id = id;
  return created.info;
}

std::optional<StudyInfo> MemoryStorage::find_study(const std::string& name) {
  std::lock_guard lock(mutex_);
  for (const auto& [id, existing] : studies_) {
    if (existing.info.name == name) return existing.info;
  }
  return std::nullopt;
}

TrialRecord MemoryStorage::start_trial(int64_t study_id, const ParamMap& params, const std::string& device, int slot) {
  check_params(params);
  std::lock_guard lock(mutex_);
  return add_trial_locked(study(study_id), params, device, slot);
}

std::optional<TrialRecord> MemoryStorage::claim_trial(int64_t study_id, const ParamMap& params,
                                                      const std::string& device, int slot, int64_t budget,
                                                      const std::string& uncounted_error) {
  check_params(params);
  std::lock_guard lock(mutex_);
  Study& target = study(study_id);
  for (TrialRecord& trial : target.trials) {
    if (trial.state != TrialState::kWaiting) continue;  // the oldest waiting trial first
    trial.state = TrialState::kRunning;
    trial.device = device;
    trial.slot = slot;
    trial.worker = worker_id();
    trial.started_at = unix_time_now();
    target.heartbeats[trial.number] = trial.started_at;
    mark_changed(target, trial.number);
    return trial;
  }
  const auto counted = std::count_if(target.trials.begin(), target.trials.end(), [&](const TrialRecord& t) {
    return !(t.state == TrialState::kFailed && t.error == uncounted_error);
  });
  if (counted >= budget) return std::nullopt;
  return add_trial_locked(target, params, device, slot);
}

TrialRecord MemoryStorage::enqueue_trial(int64_t study_id, const ParamMap& params,
                                         const std::map<std::string, double>& attributes) {
  check_params(params);
  std::lock_guard lock(mutex_);
  Study& target = study(study_id);
  TrialRecord trial = add_trial_locked(target, params, "", -1);
  target.heartbeats.erase(trial.number);
  TrialRecord& stored = target.trials.back();
  stored.state = TrialState::kWaiting;
  stored.worker.clear();
  stored.attributes = attributes;
  return stored;
}

void MemoryStorage::heartbeat(int64_t study_id) {
  std::lock_guard lock(mutex_);
  Study& target = study(study_id);
  const double now = unix_time_now();
  for (const TrialRecord& trial : target.trials)
    if (trial.state == TrialState::kRunning && trial.worker == worker_id()) target.heartbeats[trial.number] = now;
}

std::vector<int64_t> MemoryStorage::fail_stale_trials(int64_t study_id, const std::string& reason,
                                                      double grace_seconds,
                                                      const std::function<bool(const std::string&)>& is_dead) {
  std::lock_guard lock(mutex_);
  Study& target = study(study_id);
  const double now = unix_time_now();
  std::vector<int64_t> stale;
  for (TrialRecord& trial : target.trials) {
    if (trial.state != TrialState::kRunning) continue;
    const auto beat = target.heartbeats.find(trial.number);
    if (beat != target.heartbeats.end() && beat->second >= now - grace_seconds && !(is_dead && is_dead(trial.worker)))
      continue;
    trial.state = TrialState::kFailed;
    trial.error = reason;
    trial.finished_at = now;
    mark_changed(target, trial.number);
    stale.push_back(trial.number);
  }
  return stale;
}

void MemoryStorage::check_params(const ParamMap& params) {
  // The same check SqliteStorage makes by writing them, so both accept the same parameters.
  try {
    params_to_json_text(params);
  } catch (const std::invalid_argument& e) {
    throw StorageError(std::string("start_trial: ") + e.what());
  }
}

TrialRecord MemoryStorage::add_trial_locked(Study& target, const ParamMap& params, const std::string& device, int slot) {
  TrialRecord trial;
  trial.number = static_cast<int64_t>(target.trials.size());
  trial.state = TrialState::kRunning;
  trial.params = params;
  trial.device = device;
  trial.slot = slot;
  trial.worker = worker_id();
  trial.started_at = unix_time_now();
  target.heartbeats[trial.number] = trial.started_at;
  target.trials.push_back(trial);
  target.changed.push_back(0);
  mark_changed(target, trial.number);
  return trial;
}

void MemoryStorage::mark_changed(Study& target, int64_t number) {
  target.changed.at(static_cast<size_t>(number)) = ++target.changes;
}

void MemoryStorage::record_step(int64_t study_id, int64_t number, const StepRecord& step) {
  std::lock_guard lock(mutex_);
  auto& steps = running_trial(study_id, number, "record_step").steps;
  auto at = std::lower_bound(steps.begin(), steps.end(), step.step,
                             [](const StepRecord& s, int64_t wanted) { return s.step < wanted; });
  if (at != steps.end() && at->step == step.step) {
    *at = step;  // a re-report of that step replaces it
  } else {
    steps.insert(at, step);
  }
  mark_changed(study(study_id), number);
}

void MemoryStorage::set_trial_attributes(int64_t study_id, int64_t number,
                                         const std::map<std::string, double>& attributes) {
  std::lock_guard lock(mutex_);
  TrialRecord& trial = running_trial(study_id, number, "set_trial_attributes");
  for (const auto& [key, value] : attributes) trial.attributes[key] = value;
  mark_changed(study(study_id), number);
}

void MemoryStorage::finish_trial(int64_t study_id, int64_t number, TrialState state, std::optional<double> value,
                                 const std::map<std::string, double>& metrics, const std::string& error,
                                 std::optional<double> finished_at) {
  if (const std::string problem = finish_state_problem(study_id, number, state); !problem.empty())
    throw StorageError("finish_trial: " + problem);
  std::lock_guard lock(mutex_);
  TrialRecord& trial = running_trial(study_id, number, "finish_trial");
  trial.state = state;
  trial.value = value;
  trial.metrics = metrics;
  trial.error = error;
  trial.finished_at = finished_at.value_or(unix_time_now());
  mark_changed(study(study_id), number);
}

std::vector<TrialRecord> MemoryStorage::trials(int64_t study_id) {
  std::lock_guard lock(mutex_);
  return study(study_id).trials;
}

TrialChanges MemoryStorage::trials_changed_since(int64_t study_id, uint64_t cursor) {
  std::lock_guard lock(mutex_);
  const Study& target = study(study_id);
  TrialChanges changes;
  for (size_t i = 0; i < target.trials.size(); ++i)
    if (target.changed[i] >= cursor) changes.trials.push_back(target.trials[i]);
  changes.cursor = target.changes + 1;  // the next change's number
  return changes;
}

MemoryStorage::Study& MemoryStorage::study(int64_t study_id) {
  auto found = studies_.find(study_id);
  if (found == studies_.end()) throw StorageError("no study with id " + std::to_string(study_id));
  return found->second;
}

TrialRecord& MemoryStorage::running_trial(int64_t study_id, int64_t number, const char* operation) {
  Study& target = study(study_id);
  if (number < 0 || number >= static_cast<int64_t>(target.trials.size())) {
    throw StorageError(std::string(operation) + ": " + describe(target.info) + " has no trial " +
                       std::to_string(number));
  }
  TrialRecord& trial = target.trials[static_cast<size_t>(number)];
  if (trial.state != TrialState::kRunning) {
    throw StorageError(std::string(operation) + ": " + describe(target.info) + " trial " + std::to_string(number) +
                       " is " + std::string(trial_state_name(trial.state)) + ", not running");
  }
  return trial;
}

}  // namespace gpu_tune::search
