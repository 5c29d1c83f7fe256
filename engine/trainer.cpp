#include "engine/trainer.h"

#include <chrono>
#include <cmath>
#include <sstream>

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
  const int slot = bundle_.add(job.config, job.id);
  Running r{job, SlotResult{}, EarlyStopping(job.config.early_stopping), Clock::now(), Clock::now(), {}, {}};
  r.result.job_id = job.id;
  r.result.config = job.config;
  r.result.slot = slot;
  running_[slot].emplace(std::move(r));
  observer.on_slot_started(job, slot);
}

void Trainer::run(const std::function<std::optional<TrainingJob>(int slot)>& next_job, TrainingObserver& observer) {
  bool jobs_left = true;
  int64_t steps = 0;
  for (;;) {
    if (options_.stop_requested && options_.stop_requested()) return;
    while (jobs_left && bundle_.has_free_slot()) {
      std::optional<TrainingJob> job = next_job(bundle_.first_free_slot());
      if (!job) {
        jobs_left = false;
        break;
      }
      start(*job, observer);
    }
    if (bundle_.occupied_slots().empty()) break;
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
  const std::vector<kernels::MetricSums> test = bundle_.evaluate(slots, Split::kTest);
  for (size_t i = 0; i < slots.size(); ++i) {
    Running& r = *running_[slots[i]];
    r.result.outcome = *r.finishing;
    r.result.test_loss = test[i].count > 0 ? test[i].loss_sum / test[i].count : std::nan("");
    r.result.test_accuracy = test[i].count > 0 ? test[i].correct / test[i].count : std::nan("");
    r.result.seconds = seconds_since(r.started);
    const SlotResult result = r.result;
    bundle_.remove(slots[i]);
    running_[slots[i]].reset();
    observer.on_slot_finished(result);
  }
}

}  // namespace gpu_tune
