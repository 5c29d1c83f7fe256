#include "search/study_service.h"

#include <algorithm>
#include <sstream>
#include <utility>
#include <vector>

namespace gpu_tune::search {

StudyService::StudyService(Storage& storage, StudyInfo study, const SearchSpace& space, Sampler& sampler,
                           StudyBudget budget, ProgressCallback on_progress, const Pruner* pruner)
    : storage_(storage),
      study_(std::move(study)),
      space_(space),
      sampler_(sampler),
      budget_(budget),
      on_progress_(std::move(on_progress)),
      pruner_(pruner),
      started_(std::chrono::steady_clock::now()) {}

bool StudyService::should_stop() const {
  return stop_requested_.load(std::memory_order_relaxed) || (stop_condition_ && stop_condition_());
}

int StudyService::recover_interrupted_trials() {
  std::lock_guard lock(mutex_);
  const int interrupted = storage_.fail_running_trials(study_.id, kInterruptedError);
  if (interrupted > 0)
    publish_locked("resuming: " + std::to_string(interrupted) + " trial(s) left running by a stopped process marked failed");
  return interrupted;
}

std::optional<TrialRequest> StudyService::ask(const std::string& device, int slot) {
  if (should_stop()) return std::nullopt;
  std::lock_guard lock(mutex_);
  if (budget_.time_limit_seconds) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (out_of_time_ || elapsed >= *budget_.time_limit_seconds) {
      if (!out_of_time_) publish_locked("time limit reached: no new trials start");
      out_of_time_ = true;
      return std::nullopt;
    }
  }
  const std::vector<TrialRecord> history = storage_.trials(study_.id);
  const StudyProgress progress = summarize(history, study_.direction);
  if (progress.done() + progress.running >= budget_.trials) return std::nullopt;
  // The next number in a single-writer study; with several writers storage may assign
  // another, which only changes the sampler's random stream.
  const int64_t expected_number = static_cast<int64_t>(history.size());
  const ParamMap params = sampler_.sample(space_, history, study_.direction, expected_number);
  const TrialRecord trial = storage_.start_trial(study_.id, params, device, slot);
  in_flight_.insert(trial.number);
  std::ostringstream event;
  event << "trial " << trial.number << " started in slot " << slot;
  // A study with one device says nothing more; with several, which one.
  if (device.find(':') != std::string::npos) event << " of " << device;
  event << ":";
  for (const auto& [name, value] : params) event << " " << name << "=" << to_display_string(value);
  publish_locked(event.str());
  return TrialRequest{trial.number, params};
}

bool StudyService::report(int64_t number, const StepRecord& step) {
  std::lock_guard lock(mutex_);
  storage_.record_step(study_.id, number, step);
  if (!pruner_) return true;
  // The pruner reads the study as stored, so other processes' trials count too.
  const std::vector<TrialRecord> history = storage_.trials(study_.id);
  const auto trial = std::find_if(history.begin(), history.end(), [&](const TrialRecord& t) { return t.number == number; });
  if (trial == history.end()) return true;  // unreachable: record_step found it running
  const PruneDecision decision = pruner_->decide({study_.name, study_.direction, history}, *trial);
  // Only what changed is written: most reports pass no new rung.
  std::map<std::string, double> changed;
  for (const auto& [key, value] : decision.attributes) {
    const auto stored = trial->attributes.find(key);
    if (stored == trial->attributes.end() || stored->second != value) changed.emplace(key, value);
  }
  if (!changed.empty()) storage_.set_trial_attributes(study_.id, number, changed);
  if (decision.prune) prune_reasons_[number] = decision.reason;
  return !decision.prune;
}

void StudyService::finish(int64_t number, const TrialOutcome& outcome) {
  std::lock_guard lock(mutex_);
  storage_.finish_trial(study_.id, number, outcome.state, outcome.value, outcome.metrics, outcome.error);
  in_flight_.erase(number);
  std::ostringstream event;
  event << "trial " << number << " " << trial_state_name(outcome.state);
  if (outcome.value) event << ": value " << *outcome.value;
  if (!outcome.error.empty()) event << ": " << outcome.error;
  if (const auto reason = prune_reasons_.find(number); reason != prune_reasons_.end()) {
    if (outcome.state == TrialState::kPruned && !reason->second.empty()) event << "; " << reason->second;
    prune_reasons_.erase(reason);
  }
  publish_locked(event.str());
}

int StudyService::interrupt_unfinished_trials() {
  std::lock_guard lock(mutex_);
  const std::set<int64_t> unfinished = std::exchange(in_flight_, {});
  for (const int64_t number : unfinished) {
    storage_.finish_trial(study_.id, number, TrialState::kFailed, std::nullopt, {}, kInterruptedError);
    prune_reasons_.erase(number);
    publish_locked("trial " + std::to_string(number) + " interrupted: not counted toward the budget");
  }
  return static_cast<int>(unfinished.size());
}

int64_t StudyService::in_flight() const {
  std::lock_guard lock(mutex_);
  return static_cast<int64_t>(in_flight_.size());
}

StudyProgress StudyService::progress() {
  std::lock_guard lock(mutex_);
  return progress_locked();
}

StudyProgress StudyService::progress_locked() {
  StudyProgress progress = summarize(storage_.trials(study_.id), study_.direction);
  progress.budget = budget_.trials;
  progress.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return progress;
}

void StudyService::publish_locked(const std::string& event) {
  if (on_progress_) on_progress_(progress_locked(), event);
}

}  // namespace gpu_tune::search
