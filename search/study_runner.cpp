#include "search/study_runner.h"

#include <algorithm>
#include <cmath>
#include <sstream>

namespace gpu_tune::search {

StudyProgress summarize(const std::vector<TrialRecord>& trials, Direction direction) {
  StudyProgress p;
  for (const TrialRecord& t : trials) {
    switch (t.state) {
      case TrialState::kComplete: ++p.complete; break;
      case TrialState::kPruned: ++p.pruned; break;
      case TrialState::kFailed:
        ++p.failed;
        if (t.error == kInterruptedError) ++p.interrupted;
        break;
      case TrialState::kRunning: ++p.running; break;
      case TrialState::kWaiting: break;
    }
    if (t.state == TrialState::kComplete && t.value && std::isfinite(*t.value)) {
      const bool better = !p.best_value || (direction == Direction::kMinimize ? *t.value < *p.best_value
                                                                               : *t.value > *p.best_value);
      if (better) {
        p.best_value = t.value;
        p.best_trial = t.number;
      }
    }
  }
  return p;
}

StudyRunner::StudyRunner(Storage& storage, StudyInfo study, const SearchSpace& space, Sampler& sampler,
                         StudyBudget budget, ProgressCallback on_progress, const Pruner* pruner)
    : storage_(storage),
      study_(std::move(study)),
      space_(space),
      sampler_(sampler),
      budget_(budget),
      on_progress_(std::move(on_progress)),
      pruner_(pruner),
      started_(std::chrono::steady_clock::now()) {}

StudyProgress StudyRunner::run(Objective& objective) {
  const int interrupted = storage_.fail_running_trials(study_.id, kInterruptedError);
  if (interrupted > 0) publish("resuming: " + std::to_string(interrupted) + " trial(s) left running by a stopped process marked failed");
  const std::string device = objective.device();
  objective.run([&](int slot) { return next_trial(slot, device); }, *this);
  StudyProgress progress = summarize(storage_.trials(study_.id), study_.direction);
  progress.budget = budget_.trials;
  progress.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return progress;
}

std::optional<TrialRequest> StudyRunner::next_trial(int slot, const std::string& device) {
  if (budget_.time_limit_seconds) {
    const double elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
    if (elapsed >= *budget_.time_limit_seconds) {
      if (!out_of_time_) publish("time limit reached: no new trials start");
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
  ++started_this_run_;
  std::ostringstream event;
  event << "trial " << trial.number << " started in slot " << slot << ":";
  for (const auto& [name, value] : params) event << " " << name << "=" << to_display_string(value);
  publish(event.str());
  return TrialRequest{trial.number, params};
}

bool StudyRunner::report(int64_t number, const StepRecord& step) {
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

void StudyRunner::finish(int64_t number, const TrialOutcome& outcome) {
  storage_.finish_trial(study_.id, number, outcome.state, outcome.value, outcome.metrics, outcome.error);
  std::ostringstream event;
  event << "trial " << number << " " << trial_state_name(outcome.state);
  if (outcome.value) event << ": value " << *outcome.value;
  if (!outcome.error.empty()) event << ": " << outcome.error;
  if (const auto reason = prune_reasons_.find(number); reason != prune_reasons_.end()) {
    if (outcome.state == TrialState::kPruned && !reason->second.empty()) event << "; " << reason->second;
    prune_reasons_.erase(reason);
  }
  publish(event.str());
}

void StudyRunner::publish(const std::string& event) {
  if (!on_progress_) return;
  StudyProgress progress = summarize(storage_.trials(study_.id), study_.direction);
  progress.budget = budget_.trials;
  progress.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  on_progress_(progress, event);
}

}  // namespace gpu_tune::search
