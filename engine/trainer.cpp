#include "engine/trainer.h"

#include <chrono>
#include <cmath>
#include <sstream>
#include <utility>

#include "engine/early_stopping.h"

namespace gpu_tune {

using Clock = std::chrono::steady_clock;

std::string_view outcome_name(SlotOutcome outcome) {
  switch (outcome) {
    case SlotOutcome::kCompleted: return "completed";
    case SlotOutcome::kEarlyStopped: return "early_stopped";
    case SlotOutcome::kStoppedByObserver: return "stopped";
    case SlotOutcome::kFailed: return "failed";
  }
  return "?";
}

std::optional<RefillStrategy> parse_refill_strategy(std::string_view text) {
  if (text == "continuous") return RefillStrategy::kContinuous;
  if (text == "waves") return RefillStrategy::kWaves;
  return std::nullopt;
}

namespace {
double seconds_since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

void add(kernels::MetricSums& total, const kernels::MetricSums& part) {
  total.loss_sum += part.loss_sum;
  total.correct += part.correct;
  total.count += part.count;
}
}  // namespace

Trainer::Trainer(Backend& backend, const data::Dataset& dataset, TrainerOptions options)
    : bundle_(backend, dataset, options.bundle), options_(options), running_(options.bundle.capacity) {}

void Trainer::start(const TrainingJob& job, TrainingObserver& observer) {
  int slot = -1;
  try {
    slot = bundle_.add(job.config, job.id);
  } catch (const OutOfDeviceMemory& e) {
    out_of_memory(job, e, observer);
    return;
  } catch (const std::exception& e) {
    // An invalid config, a model that does not fit the dataset, a backend that refuses it:
    // this job's problem alone, so it fails and the others go on.
    capacity_before_waiting_.reset();
    fail_unstarted(job, e.what(), observer);
    return;
  }
  // It fits: any reductions it caused stand, as the device's limit.
  capacity_before_waiting_.reset();
  Running r{job, SlotResult{}, EarlyStopping(job.config.early_stopping), Clock::now(), Clock::now(), {}, {}};
  r.result.job_id = job.id;
  r.result.config = job.config;
  r.result.slot = slot;
  running_[slot].emplace(std::move(r));
  observer.on_slot_started(job, slot);
}

// Beside other slots, out of memory is the device's limit: run as many as are running now
// and let the job wait for the next free slot (the bundle left unchanged by the failed add).
// Alone, it is the model's: it fails, and the reductions it caused are given back.
void Trainer::out_of_memory(const TrainingJob& job, const OutOfDeviceMemory& error, TrainingObserver& observer) {
  const int occupied = static_cast<int>(bundle_.occupied_slots().size());
  if (occupied == 0) {
    const std::optional<int> before = std::exchange(capacity_before_waiting_, std::nullopt);
    fail_unstarted(job,
                   "the model " + job.config.model.describe() + " with batch size " + std::to_string(job.config.batch_size) +
                       " does not fit in the device's memory, even alone: " + error.what(),
                   observer);
    if (before && *before > bundle_.usable_capacity()) {
      bundle_.limit_capacity(*before);
      observer.on_capacity_restored(*before, "job " + std::to_string(job.id) + " (" + job.config.model.describe() +
                                                 ") did not fit even alone, so the slots it cost are given back");
    }
    return;
  }
  if (!capacity_before_waiting_) capacity_before_waiting_ = bundle_.usable_capacity();
  bundle_.limit_capacity(occupied);  // below the usable capacity, since a slot was free
  waiting_ = job;
  observer.on_capacity_reduced(occupied, error.what());
}

void Trainer::fail_unstarted(const TrainingJob& job, const std::string& why, TrainingObserver& observer) {
  SlotResult result;
  result.job_id = job.id;
  result.config = job.config;
  result.slot = -1;
  result.outcome = SlotOutcome::kFailed;
  result.error = why;
  result.test_loss = result.test_accuracy = std::nan("");
  observer.on_slot_finished(result);
}

void Trainer::fill(const std::function<std::optional<TrainingJob>(int slot)>& next_job, TrainingObserver& observer,
                   bool& jobs_left) {
  // Waves: nothing starts while a slot of the current wave still runs.
  if (options_.refill == RefillStrategy::kWaves && !bundle_.occupied_slots().empty()) return;
  while (bundle_.has_free_slot()) {
    // A waiting job goes first; while one waits, no new job is asked for.
    std::optional<TrainingJob> job = std::exchange(waiting_, std::nullopt);
    if (!job && jobs_left) {
      job = next_job(bundle_.first_free_slot());
      jobs_left = job.has_value();
    }
    if (!job) return;
    start(*job, observer);
  }
}

void Trainer::run(const std::function<std::optional<TrainingJob>(int slot)>& next_job, TrainingObserver& observer) {
  bool jobs_left = true;
  int64_t steps = 0;
  waiting_.reset();
  capacity_before_waiting_.reset();
  for (;;) {
    // A job waiting for memory when the run stops is left like the running ones: asked
    // for, never finished, for the caller to record as interrupted.
    if (options_.stop_requested && options_.stop_requested()) return;
    fill(next_job, observer, jobs_left);
    // A job waits only beside running slots, so an empty bundle here means no jobs left.
    if (bundle_.occupied_slots().empty()) break;
    if (options_.before_step) options_.before_step();
    const std::vector<int> epoch_ended = bundle_.step();
    steps += 1;
    if (!epoch_ended.empty()) end_epochs(epoch_ended, observer);
    if (options_.divergence_check_interval > 0 && steps % options_.divergence_check_interval == 0) check_divergence(observer);
  }
}

std::vector<SlotResult> Trainer::train_all(const std::vector<TrainingConfig>& configs, TrainingObserver* observer) {
  struct Collector : TrainingObserver {
    TrainingObserver* inner;
    std::vector<SlotResult>* results;
    void on_slot_started(const TrainingJob& job, int slot) override {
      if (inner) inner->on_slot_started(job, slot);
    }
    bool on_epoch_end(const TrainingJob& job, const EpochMetrics& m) override { return inner ? inner->on_epoch_end(job, m) : true; }
    void on_slot_finished(const SlotResult& result) override {
      (*results)[result.job_id] = result;
      if (inner) inner->on_slot_finished(result);
    }
    void on_capacity_reduced(int capacity, const std::string& why) override {
      if (inner) inner->on_capacity_reduced(capacity, why);
    }
    void on_capacity_restored(int capacity, const std::string& why) override {
      if (inner) inner->on_capacity_restored(capacity, why);
    }
  };
  std::vector<SlotResult> results(configs.size());
  Collector collector;
  collector.inner = observer;
  collector.results = &results;
  size_t next = 0;
  run(
      [&](int) -> std::optional<TrainingJob> {
        if (next >= configs.size()) return std::nullopt;
        TrainingJob job{next, configs[next]};
        ++next;
        return job;
      },
      collector);
  return results;
}

void Trainer::check_divergence(TrainingObserver& observer) {
  for (int slot : bundle_.occupied_slots()) {
    Running& r = *running_[slot];
    add(r.epoch_train_sums, bundle_.take_train_sums(slot));
    if (!std::isfinite(r.epoch_train_sums.loss_sum)) {
      std::ostringstream why;
      why << "training loss became " << (std::isnan(r.epoch_train_sums.loss_sum) ? "NaN" : "infinite") << " in epoch "
          << bundle_.slot(slot).epochs_done + 1 << " (by step " << bundle_.slot(slot).steps << ")";
      fail(slot, why.str(), observer);
    }
  }
}

void Trainer::fail(int slot, const std::string& why, TrainingObserver& observer) {
  Running& r = *running_[slot];
  r.result.outcome = SlotOutcome::kFailed;
  r.result.error = why;
  r.result.test_loss = r.result.test_accuracy = std::nan("");
  r.result.seconds = seconds_since(r.started);
  const SlotResult result = r.result;
  bundle_.remove(slot);
  running_[slot].reset();
  observer.on_slot_finished(result);
}

void Trainer::end_epochs(const std::vector<int>& slots, TrainingObserver& observer) {
  // Divergence first: a failed slot is not validated.
  std::vector<int> healthy;
  for (int slot : slots) {
    Running& r = *running_[slot];
    add(r.epoch_train_sums, bundle_.take_train_sums(slot));
    if (!std::isfinite(r.epoch_train_sums.loss_sum)) {
      fail(slot, "training loss became non-finite in epoch " + std::to_string(bundle_.slot(slot).epochs_done), observer);
    } else {
      healthy.push_back(slot);
    }
  }
  const std::vector<kernels::MetricSums> validation = bundle_.evaluate(healthy, Split::kValidation);
  std::vector<int> finishing;
  for (size_t i = 0; i < healthy.size(); ++i) {
    const int slot = healthy[i];
    Running& r = *running_[slot];
    const Slot& s = bundle_.slot(slot);
    EpochMetrics m;
    m.epoch = s.epochs_done;
    m.train_loss = r.epoch_train_sums.loss_sum / std::max(r.epoch_train_sums.count, 1.0);
    m.train_accuracy = r.epoch_train_sums.correct / std::max(r.epoch_train_sums.count, 1.0);
    m.validation_loss = validation[i].count > 0 ? validation[i].loss_sum / validation[i].count : std::nan("");
    m.validation_accuracy = validation[i].count > 0 ? validation[i].correct / validation[i].count : std::nan("");
    m.seconds = seconds_since(r.epoch_started);
    m.learning_rate = s.learning_rate(s.steps - 1, bundle_.train_count());
    r.epoch_train_sums = {};
    r.epoch_started = Clock::now();
    r.result.history.push_back(m);

    if (r.early_stopping.record(m.epoch, m.validation_loss)) {
      r.result.best_epoch = m.epoch;
      r.result.best_validation_loss = m.validation_loss;
      r.result.best_validation_accuracy = m.validation_accuracy;
      if (r.job.config.early_stopping.restore_best_weights) bundle_.save_best_parameters(slot);
    }
    const bool keep_going = observer.on_epoch_end(r.job, m);
    if (!keep_going) {
      r.finishing = SlotOutcome::kStoppedByObserver;
    } else if (r.early_stopping.should_stop()) {
      r.finishing = SlotOutcome::kEarlyStopped;
    } else if (m.epoch >= r.job.config.max_epochs) {
      r.finishing = SlotOutcome::kCompleted;
    }
    if (r.finishing) finishing.push_back(slot);
  }
  if (!finishing.empty()) finish(finishing, observer);
}

void Trainer::finish(std::vector<int> slots, TrainingObserver& observer) {
  for (int slot : slots) {
    Running& r = *running_[slot];
    if (r.job.config.early_stopping.restore_best_weights && r.result.best_epoch > 0) bundle_.restore_best_parameters(slot);
  }
  // A slot the observer stopped (a pruned trial) is not tested: nobody keeps its model, and
  // under ASHA most trials end so, each test pass as long as a validation pass.
  std::vector<int> tested;
  for (int slot : slots)
    if (*running_[slot]->finishing != SlotOutcome::kStoppedByObserver) tested.push_back(slot);
  const std::vector<kernels::MetricSums> test = bundle_.evaluate(tested, Split::kTest);
  for (size_t i = 0, t = 0; i < slots.size(); ++i) {
    Running& r = *running_[slots[i]];
    r.result.outcome = *r.finishing;
    const kernels::MetricSums sums = r.result.outcome == SlotOutcome::kStoppedByObserver ? kernels::MetricSums{} : test[t++];
    r.result.test_loss = sums.count > 0 ? sums.loss_sum / sums.count : std::nan("");
    r.result.test_accuracy = sums.count > 0 ? sums.correct / sums.count : std::nan("");
    if (options_.keep_parameters && sums.count > 0) r.result.parameters = bundle_.parameters(slots[i]);
    r.result.seconds = seconds_since(r.started);
    const SlotResult result = r.result;
    bundle_.remove(slots[i]);
    running_[slots[i]].reset();
    observer.on_slot_finished(result);
  }
}

}  // namespace gpu_tune
