#include "search/study_service.h"

#include <algorithm>
#include <exception>
#include <sstream>
#include <utility>
#include <vector>

#include "search/worker_id.h"

namespace gpu_tune::search {
namespace {

bool reaches(double value, double target, Direction direction) {
  return direction == Direction::kMinimize ? value <= target : value >= target;
}

}  // namespace

StudyService::StudyService(Storage& storage, StudyInfo study, const SearchSpace& space, Sampler& sampler,
                           StudyBudget budget, ProgressCallback on_progress, const Pruner* pruner)
    : study_(std::move(study)),
      space_(space),
      sampler_(sampler),
      budget_(budget),
      on_progress_(std::move(on_progress)),
      pruner_(pruner),
      started_(std::chrono::steady_clock::now()),
      writer_(storage) {
  writer_.set_on_held([this](size_t writes, const std::string& error) {
    note("storage unreachable; " + std::to_string(writes) +
         " writes (finished trials' results among them) are held and tried again until it answers: " + error);
  });
  others_version_ = writer_.use([](Storage& s) { return s.others_version(); });
  worker_id_ = writer_.use([](Storage& s) { return s.worker_id(); });
  read_changes_locked();  // no other thread yet
  beat_thread_ = std::thread([this] { heartbeat_loop(); });
}

StudyService::~StudyService() {
  {
    std::lock_guard lock(beat_mutex_);
    beat_stopping_ = true;
  }
  beat_wake_.notify_all();
  beat_thread_.join();
}

void StudyService::set_heartbeat(std::chrono::duration<double> interval, std::chrono::duration<double> grace) {
  {
    std::lock_guard lock(beat_mutex_);
    beat_interval_ = interval;
    grace_ = grace;
  }
  beat_wake_.notify_all();
}

void StudyService::heartbeat_loop() {
  std::unique_lock lock(beat_mutex_);
  while (!beat_stopping_) {
    const auto interval = beat_interval_;
    if (beat_wake_.wait_for(lock, interval, [&] { return beat_stopping_ || beat_interval_ != interval; })) continue;
    lock.unlock();
    try {
      bool ours_running = false, others_running = false;
      {
        std::lock_guard service_lock(mutex_);
        ours_running = !in_flight_.empty();
        for (const TrialRecord& t : history_.trials())
          if (t.state == TrialState::kRunning && t.worker != worker_id_ && !in_flight_.contains(t.number))
            others_running = true;
      }
      if (ours_running) writer_.use([this](Storage& s) { s.heartbeat(study_.id); });
      if (others_running) fail_stale(is_dead_local_worker);
    } catch (const std::exception&) {
      // The next beat tries again; a storage that stays broken fails the next real write.
    }
    lock.lock();
  }
}

void StudyService::fail_stale(const std::function<bool(const std::string& worker)>& is_dead) {
  double grace_seconds;
  {
    std::lock_guard lock(beat_mutex_);
    grace_seconds = grace_.count();
  }
  const std::vector<int64_t> stale = writer_.use(
      [&](Storage& s) { return s.fail_stale_trials(study_.id, kInterruptedError, grace_seconds, is_dead); });
  if (stale.empty()) return;
  std::lock_guard lock(mutex_);
  std::vector<TrialRecord> before;
  for (const int64_t number : stale) {
    const TrialRecord* trial = history_.find(number);
    if (!trial) continue;
    before.push_back(*trial);
    if (trial->state == TrialState::kRunning)
      history_.finish(number, TrialState::kFailed, std::nullopt, {}, kInterruptedError);
  }
  retry_locked(before);
  publish_note_locked(std::to_string(stale.size()) + " trial(s) whose worker stopped marked interrupted");
}

void StudyService::set_prepared_suggestions(int count) {
  std::lock_guard lock(mutex_);
  prepared_ = std::max(count, 0);
  if (prepared_ > 0 && !suggestions_) suggestions_ = std::make_unique<SuggestionQueue>(sampler_, space_, study_.direction);
}

bool StudyService::should_stop() const {
  return stop_requested_.load(std::memory_order_relaxed) || (stop_condition_ && stop_condition_());
}

int StudyService::recover_interrupted_trials() {
  std::lock_guard lock(mutex_);
  double grace_seconds;
  {
    std::lock_guard beat_lock(beat_mutex_);
    grace_seconds = grace_.count();
  }
  // Before any ask, no trial of this storage object's own worker can be running here.
  const auto left = [&](const std::string& worker) { return worker == worker_id_ || is_dead_local_worker(worker); };
  const std::vector<int64_t> stale =
      writer_.use([&](Storage& s) { return s.fail_stale_trials(study_.id, kInterruptedError, grace_seconds, left); });
  const int interrupted = static_cast<int>(stale.size());
  std::vector<TrialRecord> before;
  for (const int64_t number : stale)
    if (const TrialRecord* trial = history_.find(number)) before.push_back(*trial);
  retry_locked(before);
  if (interrupted > 0) {
    others_version_ = writer_.use([](Storage& s) { return s.others_version(); });
    read_changes_locked();
    publish_note_locked("resuming: " + std::to_string(interrupted) +
                        " trial(s) left running by a stopped process marked failed");
  }
  return interrupted;
}

void StudyService::retry_locked(const std::vector<TrialRecord>& before) {
  if (max_retries_ == 0) return;
  int enqueued = 0;
  for (const TrialRecord& trial : before) {
    const auto retries = trial.attributes.find("retries");
    const double done = retries == trial.attributes.end() ? 0.0 : retries->second;
    if (done >= max_retries_) continue;
    const std::map<std::string, double> attributes = {{"retry_of", static_cast<double>(trial.number)},
                                                      {"retries", done + 1}};
    writer_.use([&](Storage& s) { return s.enqueue_trial(study_.id, trial.params, attributes); });
    ++enqueued;
  }
  if (enqueued == 0) return;
  writer_.flush();
  read_changes_locked();
  publish_note_locked(std::to_string(enqueued) + " interrupted trial(s) queued to run again");
}

void StudyService::refresh_locked(bool wait) {
  // The version first: a change after it is read makes the next refresh read again.
  const auto read_version = [](Storage& s) { return s.others_version(); };
  const std::optional<uint64_t> version = wait ? writer_.use(read_version) : writer_.try_use(read_version);
  if (!version || *version == others_version_) return;
  writer_.flush();  // this process's queued writes belong in what is read
  read_changes_locked();
  others_version_ = *version;
}

void StudyService::read_changes_locked() {
  history_.apply(
      writer_.use([this](Storage& s) { return s.trials_changed_since(study_.id, history_.changes_cursor()); }));
}

bool StudyService::may_start_locked(const StudyProgress& progress) {
  if (closed_) return false;
  if (budget_.time_limit_seconds && progress.elapsed_seconds >= *budget_.time_limit_seconds) {
    closed_ = "time limit reached: no new trials start";
  } else if (budget_.target && progress.best_value && reaches(*progress.best_value, *budget_.target, study_.direction)) {
    std::ostringstream why;
    why << "target reached (" << study_.metric << " " << *progress.best_value << ", trial " << progress.best_trial
        << "): no new trials start";
    closed_ = why.str();
  }
  if (closed_) {
    publish_note_locked(*closed_);
    return false;
  }
  return progress.done() + progress.running + reserved_ < budget_.trials;
}

void StudyService::prepare_locked() {
  if (!suggestions_) return;
  const StudyProgress progress = progress_locked();
  // Never more than the budget can still start: a suggestion is a TPE fit.
  int64_t left = budget_.trials - progress.done() - progress.running - reserved_ - static_cast<int64_t>(suggestions_->size());
  while (left-- > 0 && suggestions_->size() < static_cast<size_t>(prepared_)) {
    // In a single-writer study the numbers these trials will get.
    const int64_t number = static_cast<int64_t>(history_.trials().size()) + reserved_ + static_cast<int64_t>(suggestions_->size());
    suggestions_->prepare(history_.trials(), number);
  }
}

std::optional<TrialRequest> StudyService::ask(const std::string& device, int slot) {
  if (should_stop()) return std::nullopt;
  std::unique_lock lock(mutex_);
  refresh_locked();
  if (!may_start_locked(progress_locked())) return std::nullopt;
  ParamMap params;
  if (!suggestions_) {
    // The next number in a single-writer study; with several writers storage may assign
    // another, which only changes the sampler's random stream.
    params = sampler_.sample(space_, history_.trials(), study_.direction, static_cast<int64_t>(history_.trials().size()));
  } else {
    prepare_locked();  // at least this ask's
    std::future<ParamMap> next = suggestions_->take();
    reserved_ += 1;  // this ask's place in the budget, while the lock is let go
    prepare_locked();  // the next ones, sampled while this one trains
    lock.unlock();
    std::optional<ParamMap> sampled;
    std::exception_ptr error;
    try {
      sampled = next.get();
    } catch (...) {
      error = std::current_exception();
    }
    lock.lock();
    reserved_ -= 1;
    if (error) std::rethrow_exception(error);
    if (should_stop()) return std::nullopt;
    params = std::move(*sampled);
  }
  // The budget is checked again where the trial is created: other processes on the study
  // may have taken the rest since the history was read.
  const std::optional<TrialRecord> claimed = writer_.use(
      [&](Storage& s) { return s.claim_trial(study_.id, params, device, slot, budget_.trials, kInterruptedError); });
  if (!claimed) {
    refresh_locked();
    return std::nullopt;
  }
  const TrialRecord& trial = *claimed;
  params = trial.params;  // a waiting trial (a retry) runs its own parameters
  history_.add_started(trial);
  in_flight_.insert(trial.number);
  std::ostringstream event;
  event << "trial " << trial.number << " started in slot " << slot;
  // A study with one device says nothing more; with several, which one.
  if (device.find(':') != std::string::npos) event << " of " << device;
  event << ":";
  for (const auto& [name, value] : params) event << " " << name << "=" << to_display_string(value);
  publish_locked(event.str());
  StudyEvent started;
  started.kind = StudyEvent::Kind::kTrialStarted;
  started.trial = trial.number;
  started.device = device;
  started.slot = slot;
  started.params = params;
  emit_locked(started);
  return TrialRequest{trial.number, params};
}

bool StudyService::report(int64_t number, const StepRecord& step) {
  std::lock_guard lock(mutex_);
  history_.record_step(number, step);
  writer_.enqueue([id = study_.id, number, step](Storage& s) { s.record_step(id, number, step); });
  if (event_listener_) {
    StudyEvent stepped;
    stepped.kind = StudyEvent::Kind::kStep;
    stepped.trial = number;
    stepped.step = step.step;
    stepped.step_value = step.value;
    emit_locked(stepped);
  }
  if (!pruner_) return true;
  // The pruner sees other processes' trials too, as of the last refresh; a device's thread
  // does not wait for a commit to look.
  refresh_locked(false);
  const TrialRecord* trial = history_.find(number);
  const PruneDecision decision = pruner_->decide({study_.name, study_.direction, history_.trials()}, *trial);
  // Only what changed is written: most reports pass no new rung.
  std::map<std::string, double> changed;
  for (const auto& [key, value] : decision.attributes) {
    const auto stored = trial->attributes.find(key);
    if (stored == trial->attributes.end() || stored->second != value) changed.emplace(key, value);
  }
  if (!changed.empty()) {
    history_.set_attributes(number, changed);
    writer_.enqueue([id = study_.id, number, changed](Storage& s) { s.set_trial_attributes(id, number, changed); });
  }
  if (decision.prune) prune_reasons_[number] = decision.reason;
  return !decision.prune;
}

void StudyService::finish(int64_t number, const TrialOutcome& outcome) {
  std::lock_guard lock(mutex_);
  in_flight_.erase(number);
  std::ostringstream text;
  text << "trial " << number << " " << trial_state_name(outcome.state);
  if (outcome.value) text << ": value " << *outcome.value;
  if (!outcome.error.empty()) text << ": " << outcome.error;
  StudyEvent finished;
  finished.kind = StudyEvent::Kind::kTrialFinished;
  finished.trial = number;
  finished.state = outcome.state;
  finished.value = outcome.value;
  finished.detail = outcome.error;
  if (const auto reason = prune_reasons_.find(number); reason != prune_reasons_.end()) {
    if (outcome.state == TrialState::kPruned && !reason->second.empty()) {
      text << "; " << reason->second;
      finished.detail = reason->second;
    }
    prune_reasons_.erase(reason);
  }
  finish_locked(number, outcome, text.str(), finished);
}

void StudyService::finish_locked(int64_t number, const TrialOutcome& outcome, std::string text, StudyEvent event) {
  history_.finish(number, outcome.state, outcome.value, outcome.metrics, outcome.error);
  const StudyProgress after = progress_locked();
  // Told from the writer's thread after the commit: a process killed between the two has
  // told nothing that its study lacks.
  auto tell = [this, text = std::move(text), event = std::move(event), after] {
    std::lock_guard told(tell_mutex_);
    if (on_progress_) on_progress_(after, text);
    if (event_listener_) event_listener_(event, after);
  };
  writer_.enqueue(
      [id = study_.id, number, outcome, at = history_.find(number)->finished_at](Storage& s) {
        s.finish_trial(id, number, outcome.state, outcome.value, outcome.metrics, outcome.error, at);
      },
      std::move(tell));
}

void StudyService::note(const std::string& event) {
  std::lock_guard lock(mutex_);
  publish_note_locked(event);
}

void StudyService::publish_note_locked(const std::string& text) {
  publish_locked(text);
  StudyEvent note;
  note.kind = StudyEvent::Kind::kNote;
  note.detail = text;
  emit_locked(note);
}

int StudyService::interrupt_unfinished_trials() {
  std::lock_guard lock(mutex_);
  const std::set<int64_t> unfinished = std::exchange(in_flight_, {});
  for (const int64_t number : unfinished) {
    prune_reasons_.erase(number);
    TrialOutcome outcome;
    outcome.state = TrialState::kFailed;
    outcome.error = kInterruptedError;
    StudyEvent interrupted;
    interrupted.kind = StudyEvent::Kind::kTrialFinished;
    interrupted.trial = number;
    interrupted.state = TrialState::kFailed;
    interrupted.detail = kInterruptedError;
    finish_locked(number, outcome, "trial " + std::to_string(number) + " interrupted: not counted toward the budget",
                  interrupted);
  }
  writer_.flush();
  return static_cast<int>(unfinished.size());
}

void StudyService::flush() { writer_.flush(); }

int64_t StudyService::in_flight() const {
  std::lock_guard lock(mutex_);
  return static_cast<int64_t>(in_flight_.size());
}

std::vector<TrialRecord> StudyService::trials() const {
  std::lock_guard lock(mutex_);
  return history_.trials();
}

StudyProgress StudyService::progress() {
  std::lock_guard lock(mutex_);
  return progress_locked();
}

StudyProgress StudyService::progress_locked() {
  StudyProgress progress = summarize(history_.trials(), study_.direction);
  progress.budget = budget_.trials;
  progress.elapsed_seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started_).count();
  return progress;
}

void StudyService::emit_locked(const StudyEvent& event) {
  if (!event_listener_) return;
  const StudyProgress progress = progress_locked();
  std::lock_guard told(tell_mutex_);
  event_listener_(event, progress);
}

void StudyService::publish_locked(const std::string& event) {
  if (!on_progress_) return;
  const StudyProgress progress = progress_locked();
  std::lock_guard told(tell_mutex_);
  on_progress_(progress, event);
}

}  // namespace gpu_tune::search
