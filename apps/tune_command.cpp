#include "apps/tune_command.h"

#include <unistd.h>  // isatty

#include <algorithm>
#include <chrono>
#include <cmath>
#include <csignal>
#include <filesystem>
#include <iostream>
#include <new>
#include <stdexcept>

#include "apps/cpu_core_share.h"
#include "apps/engine_objective.h"
#include "apps/engine_study_check.h"
#include "apps/interrupt.h"
#include "apps/largest_slot.h"
#include "apps/seed_study.h"
#include "apps/tune_devices.h"
#include "apps/tune_events.h"
#include "apps/tune_progress.h"
#include "engine/data/idx_reader.h"
#include "search/command_objective.h"
#include "search/pruner_factory.h"
#include "search/sampler_factory.h"
#include "search/space_description.h"
#include "search/training_changes.h"
#include "apps/study_location.h"
#include "search/storage_url.h"
#include "search/study_config.h"
#include "search/study_runner.h"

namespace gpu_tune::app {

namespace {

// Without a GPU the seed study would take hours on a CPU; this budget ends in minutes.
constexpr int64_t kReducedTrials = 20;
constexpr int kReducedEpochs = 3;
constexpr const char* kReducedSuffix = "-reduced";  // the reduced run's study: NAME-reduced

search::StudyConfig load_study(const TuneOptions& options) {
  if (options.join_study) {
    // `gpu_tune worker`: the study file is the copy kept with the study in its database.
    const search::StorageLocation location = study_storage_location(options.storage, *options.join_study);
    const std::string where = location.description();
    if (location.is_sqlite() && !std::filesystem::exists(location.sqlite_file))
      throw std::invalid_argument("no study database at " + where + " (pass --storage FILE or URL)");
    const std::unique_ptr<search::Storage> storage = search::open_storage(location);
    const std::optional<search::StudyInfo> info = storage->find_study(*options.join_study);
    if (!info) throw std::invalid_argument(where + " holds no study named '" + *options.join_study + "'");
    if (info->config.empty())
      throw std::invalid_argument("study '" + info->name + "' in " + where + " keeps no study file to join it by");
    return search::parse_study_config(info->config, where + " (study '" + info->name + "')");
  }
  if (options.study_file) return search::load_study_config(*options.study_file);
  return search::parse_study_config(kSeedStudyYaml, kSeedStudyName);
}

// Quoted for a POSIX shell where it needs to be.
std::string shell_word(const std::string& word) {
  const bool plain = !word.empty() && word.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                                             "0123456789_-+=/.,:@%") == std::string::npos;
  if (plain) return word;
  std::string quoted = "'";
  for (char c : word) quoted += c == '\'' ? std::string("'\\''") : std::string(1, c);
  return quoted + "'";
}

// The command that picks the study up where it stopped: the same command, from the same
// folder (relative paths in it stay right).
// A password in a storage URL is shown as *** (storage_url.h): never printed.
std::string resume_command(const TuneOptions& options, const search::StorageLocation& location) {
  std::vector<std::string> words = options.invocation;
  if (words.empty()) {
    words = {"gpu_tune", "tune"};
    if (options.study_file) words.push_back(*options.study_file);
    words.insert(words.end(), {"--storage", location.is_sqlite() ? location.sqlite_file.string() : location.postgres_url});
    if (options.objective_command) words.insert(words.end(), {"--objective-command", *options.objective_command});
  }
  for (std::string& word : words) {
    if (word.find("://") != std::string::npos) word = search::redact_storage_url(word);
  }
  std::error_code error;
  const std::filesystem::path here = std::filesystem::current_path(error);
  std::string text = error ? "" : "cd " + shell_word(here.string()) + " && ";
  for (size_t i = 0; i < words.size(); ++i) text += (i ? " " : "") + shell_word(words[i]);
  return text;
}

// "trial 3 (value 0.3121): batch=64 lr=0.00231", or nothing before a trial completes.
std::string best_trial_line(const std::vector<search::TrialRecord>& trials, const search::StudyInfo& info,
                            const search::StudyProgress& progress) {
  if (progress.best_trial < 0) return "";
  for (const search::TrialRecord& t : trials) {
    if (t.number != progress.best_trial) continue;
    std::string text = "best: trial " + std::to_string(t.number) + " (" + info.metric + " " +
                       search::to_display_string(*t.value) + "):";
    for (const auto& [name, value] : t.params) text += " " + name + "=" + search::to_display_string(value);
    return text;
  }
  return "";
}

std::string mib(size_t bytes) { return std::to_string(bytes >> 20) + " MiB"; }

// Without --slots, a GPU runs no more slots than its free memory holds of the study's
// largest model, measured before anything is placed on it; the CPU, which reports no free
// memory, keeps its share.
void fit_slots_to_memory(const std::vector<TuneDevice>& devices, const search::SearchSpace& space,
                         const EngineObjectiveOptions& options, int64_t train_count, std::vector<int>& slots,
                         std::ostream& log) {
  std::optional<std::optional<size_t>> largest;  // worked out once, when a device first needs it
  for (size_t i = 0; i < devices.size(); ++i) {
    const std::optional<size_t> free = devices[i].backend->free_memory_bytes();
    if (!free || slots[i] == 0) continue;
    if (!largest) largest = largest_slot_bytes(space, options, train_count);
    if (!*largest) return;  // no trial can be built; each fails on its own
    const int fitting = slots_for_free_memory(*free, **largest, slots[i]);
    if (fitting < slots[i])
      log << "gpu_tune: " << devices[i].label << ": " << mib(*free) << " free holds " << fitting
          << (fitting == 1 ? " slot" : " slots") << " of the study's largest model (" << mib(**largest)
          << " each), fewer than its share of --parallel (" << slots[i] << ")\n";
    slots[i] = fitting;
  }
}

// Refuses a placement whose slots would not fit where they go, before any is allocated: a
// device's slots against its free memory (a GPU) or, for the CPU workers together, against
// the machine's physical memory. `largest` is the study's largest slot (largest_slot_bytes).
void require_slots_fit_memory(const std::vector<TuneDevice>& devices, const std::vector<int>& slots, size_t largest) {
  const std::string advice = "lower --parallel (or the study file's budget.parallel) or --slots, or shrink the space's "
                             "largest model or batch";
  int64_t cpu_slots = 0;
  for (size_t i = 0; i < devices.size(); ++i) {
    const std::optional<size_t> free = devices[i].backend->free_memory_bytes();
    if (!free) {
      cpu_slots += slots[i];
      continue;
    }
    require_memory(slots_bytes(slots[i], largest), *slot_memory_limit(free, devices[i].label),
                   std::to_string(slots[i]) + " slots of the study's largest model (" + mib(largest) + " each) on " +
                       devices[i].label,
                   advice);
  }
  if (cpu_slots == 0) return;
  if (const std::optional<MemoryLimit> limit = slot_memory_limit(std::nullopt, "cpu"))
    require_memory(slots_bytes(cpu_slots, largest), *limit,
                   std::to_string(cpu_slots) + " slots of the study's largest model (" + mib(largest) + " each) on the CPU",
                   advice);
}

// Why every trial failed, from the first failure, for the exit message.
std::string first_failure(const std::vector<search::TrialRecord>& trials) {
  for (const search::TrialRecord& t : trials)
    if (t.state == search::TrialState::kFailed && t.error != search::kInterruptedError)
      return "trial " + std::to_string(t.number) + ": " + t.error;
  return "";
}

}  // namespace

std::filesystem::path default_storage_path(const std::string& study_name) {
  return std::filesystem::path("studies") / study_name / "study.db";
}

namespace {

// The flags `tune` and `worker` share.
void add_run_flags(CLI::App* tune, TuneOptions& options) {
  tune->add_option_function<std::string>(
      "--objective-command", [&options](const std::string& c) { options.objective_command = c; },
      "tune this program instead of the engine: it gets --NAME=VALUE arguments and GPU_TUNE_NAME variables, "
      "and prints the objective as its last numeric line (gpu_tune:step=N value=V lines are intermediate values). "
      "The arguments are appended to the whole shell text, so 'sleep 1; ./train' passes them to the last command "
      "only; write {params} where they belong instead, as in './train {params} | tail -1' (nothing is appended then)");
  tune->add_option_function<double>(
      "--trial-timeout", [&options](double seconds) { options.trial_timeout_seconds = seconds; },
      "with --objective-command: a trial still running after this many seconds fails as timed out, and its "
      "process group gets SIGTERM, then SIGKILL 2 s later (default: no limit)");
  tune->add_option_function<std::string>(
      "--devices", [&options](const std::string& d) { options.devices = d; },
      "where the engine trains, one worker and bundle per device: all (every GPU, or the CPU when there is none; "
      "the default) | cpu | cpu:N (N CPU workers of one thread each; a worker out of trials hands its thread to the others) | GPU numbers such as 0,2");
  tune->add_option_function<int>(
      "--slots", [&options](int n) { options.slots = n; },
      "trials at once per device (default: --parallel split across the devices)");
  tune->add_option_function<int>(
      "--parallel", [&options](int n) { options.parallel = n; }, "trials at once across all devices (default: the study's budget.parallel)");
  tune->add_option_function<std::string>(
      "--refill", [&options](const std::string& r) { options.refill = r; },
      "when a freed slot takes a new trial: continuous (at once; the default) | waves (only once every slot of "
      "the device is free: static waves, slower, for comparison benchmarks)");
  tune->add_option_function<int64_t>("--trials", [&options](int64_t n) { options.trials = n; }, "trial budget");
  tune->add_option_function<int>("--epochs", [&options](int n) { options.epochs = n; }, "cap on every trial's epochs");
  tune->add_option_function<double>(
      "--time-limit", [&options](double s) { options.time_limit_seconds = s; },
      "seconds after which no trial starts (positive and finite)");
  tune->add_option_function<double>(
      "--target", [&options](double v) { options.target = v; },
      "no trial starts once the best value reaches this (at or below it when minimizing, at or above when maximizing)");
  tune->add_option_function<std::string>(
      "--storage", [&options](const std::string& s) { options.storage = s; }, "where the study is kept: a SQLite file or sqlite:///FILE (default studies/STUDY/study.db), or postgresql://USER@HOST:PORT/DB (password from PGPASSWORD or ~/.pgpass)");
  tune->add_flag("--full", options.full, "run the study's whole budget even without a GPU");
  tune->add_flag_function(
      "--progress,!--no-progress", [&options](int64_t n) { options.live_progress = n > 0; },
      "live progress line (default: when standard output is a terminal)");
  tune->add_flag("--json", options.json,
                 "print one JSON object per line for each event (trial started, epoch, pruned, finished, note, "
                 "study done) on standard output instead of progress lines");
  add_engine_options(*tune, options.engine);
}

}  // namespace

void add_tune_command(CLI::App& app, TuneOptions& options, int& exit_code) {
  CLI::App* tune = app.add_subcommand("tune", "run or resume a study (default: the seed study, examples/fashion_mnist.yaml)");
  tune->add_option_function<std::string>(
      "study", [&options](const std::string& f) { options.study_file = f; }, "the study file (YAML)");
  add_run_flags(tune, options);
  tune->callback([&options, &exit_code, tune] {
    options.dataset_given = tune->count("--dataset") > 0 || tune->count("--data") > 0;
    exit_code = run_tune(options, std::cout, std::cerr);
  });

  CLI::App* worker = app.add_subcommand(
      "worker", "join a study another gpu_tune began, with the study file kept in its database: one more worker "
                "on the same budget (start it on as many machines or devices as you like)");
  worker->add_option_function<std::string>(
            "--study", [&options](const std::string& name) { options.join_study = name; }, "the study's name")
      ->required();
  add_run_flags(worker, options);
  worker->callback([&options, &exit_code, worker] {
    options.dataset_given = worker->count("--dataset") > 0 || worker->count("--data") > 0;
    exit_code = run_tune(options, std::cout, std::cerr);
  });
}

int run_tune(const TuneOptions& options, std::ostream& out, std::ostream& log) {
  // From the start, so that a Ctrl-C while the data loads also ends cleanly.
  const InterruptHandlers interrupts;
  try {
    // The name is a folder under studies/ (default_storage_path): checked like a study file's.
    if (options.join_study)
      if (const std::optional<std::string> problem = search::study_name_problem(*options.join_study))
        throw std::invalid_argument("--study: " + *problem);
    search::StudyConfig study = load_study(options);
    search::StudyBudget budget{study.budget.trials, study.budget.time_limit_seconds, study.budget.target};
    int parallel = options.parallel.value_or(study.budget.parallel);
    if (options.trials) budget.trials = *options.trials;
    if (options.time_limit_seconds) {
      // NaN would compare as "never reached": no limit at all, silently.
      if (!(std::isfinite(*options.time_limit_seconds) && *options.time_limit_seconds > 0))
        throw std::invalid_argument("--time-limit " + search::to_display_string(*options.time_limit_seconds) +
                                    " must be a positive, finite number of seconds");
      budget.time_limit_seconds = *options.time_limit_seconds;
    }
    if (options.target) budget.target = *options.target;
    if (budget.target && !std::isfinite(*budget.target)) throw std::invalid_argument("--target must be a finite number");
    if (budget.trials < 1) throw std::invalid_argument("--trials must be at least 1");
    if (parallel < 1) throw std::invalid_argument("--parallel must be at least 1");
    if (options.slots && *options.slots < 1) throw std::invalid_argument("--slots must be at least 1");
    // No more trials run at once than the budget holds: slots beyond it would only take memory.
    parallel = static_cast<int>(std::min<int64_t>(parallel, budget.trials));
    std::optional<int> slots_per_device_flag = options.slots;
    if (slots_per_device_flag) slots_per_device_flag = static_cast<int>(std::min<int64_t>(*slots_per_device_flag, budget.trials));
    std::optional<RefillStrategy> refill = RefillStrategy::kContinuous;
    if (options.refill) {
      refill = parse_refill_strategy(*options.refill);
      if (!refill) throw std::invalid_argument("--refill '" + *options.refill + "' is not continuous or waves");
      if (options.objective_command)
        throw std::invalid_argument("--refill is how the engine refills its bundles; an --objective-command has none");
    }
    if (options.trial_timeout_seconds) {
      if (!options.objective_command)
        throw std::invalid_argument("--trial-timeout limits an --objective-command's trials; the engine's end by epochs");
      if (!(std::isfinite(*options.trial_timeout_seconds) && *options.trial_timeout_seconds > 0))
        throw std::invalid_argument("--trial-timeout " + search::to_display_string(*options.trial_timeout_seconds) +
                                    " must be a positive, finite number of seconds");
    }
    if (options.objective_command && (options.devices || options.slots))
      throw std::invalid_argument("--devices and --slots place the engine's trials; an --objective-command runs "
                                  "--parallel commands at once on this machine");

    // The engine's settings, checked against the study before anything is opened or loaded.
    EngineOptions engine = options.engine;
    EngineObjectiveOptions engine_options;
    if (!options.objective_command) {
      require_validation_images(engine, "the engine's objective (" + study.metric +
                                            ") and each trial's best epoch are measured on the validation set");
      if (!options.dataset_given) {
        engine.dataset.name = study.dataset;
        if (study.data_dir) engine.dataset.data_dir = *study.data_dir;
      }
      engine_options.standardize = engine.standardize;
      engine_options.refill = *refill;
      engine_options.metric = study.metric;
      engine_options.training_defaults = study.training;
      if (options.epochs && *options.epochs < 1)
        throw std::invalid_argument("--epochs " + std::to_string(*options.epochs) + " must be at least 1");
      engine_options.max_epochs_override = options.epochs;
      engine_options.precision = engine.precision;
      check_engine_study(study, engine_options);
    }

    // Where the engine trains, and whether that makes this a reduced run: without a GPU the
    // seed study would take hours, so unless told otherwise a CPU runs a reduced budget, kept
    // as a study of its own so that a later full run never mixes its trials with these.
    std::vector<TuneDevice> devices;
    bool reduced = false;
    if (!options.objective_command) {
      devices = open_tune_devices(options.devices, engine, log, parallel);  // bad flags fail before the load
      const bool cpu_only =
          std::all_of(devices.begin(), devices.end(), [](const TuneDevice& d) { return d.backend->name() == "cpu"; });
      reduced = cpu_only && !options.full && !options.trials && !options.epochs;
    }
    // A worker joins the study it names as it is: a reduced run's study (named after its
    // study file's study, plus the suffix) keeps its caps; any other study, whatever its
    // name ends with, runs as its file says.
    if (options.join_study)
      reduced = *options.join_study == study.name + kReducedSuffix && !options.trials && !options.epochs;
    const std::string study_name = options.join_study ? *options.join_study : reduced ? study.name + kReducedSuffix : study.name;
    if (reduced) {
      budget.trials = std::min(budget.trials, kReducedTrials);
      parallel = static_cast<int>(std::min<int64_t>(parallel, budget.trials));
      engine_options.max_epochs_override = kReducedEpochs;
      log << "gpu_tune: on the CPU this runs a reduced budget of " << budget.trials << " trials, at most "
          << kReducedEpochs << " epochs each, so it ends in minutes, recorded as study '" << study_name
          << "' apart from the full one; add --full for the whole study (" << study.budget.trials << " trials)\n";
    }

    // The data and the memory are checked before the study is opened, so that a bad data
    // folder or slots that cannot fit leave no study behind.
    std::optional<data::Dataset> dataset;
    std::vector<int> slots;
    if (!options.objective_command) {
      try {
        dataset = load_engine_dataset(engine, log);
      } catch (const data::DataError& e) {
        // The engine names the flag; the folder came from the study file's `data:` here.
        const std::string message = e.what();
        if (options.dataset_given || !study.data_dir || !message.starts_with("--data ")) throw;
        throw std::invalid_argument(study.locate("data") + message.substr(std::string("--data ").size()));
      }
      slots = slots_per_device(static_cast<int>(devices.size()), parallel, slots_per_device_flag);
      if (!options.slots) fit_slots_to_memory(devices, study.space, engine_options, dataset->train.count, slots, log);
      if (const std::optional<size_t> largest = largest_slot_bytes(study.space, engine_options, dataset->train.count))
        require_slots_fit_memory(devices, slots, *largest);
    }

    const search::StorageLocation location = study_storage_location(options.storage, study_name);
    if (location.is_sqlite() && location.sqlite_file.has_parent_path())
      std::filesystem::create_directories(location.sqlite_file.parent_path());
    const std::unique_ptr<search::Storage> storage_owner = search::open_storage(location);
    search::Storage& storage = *storage_owner;
    // Files of the study's own (saved models): beside a SQLite file, else in studies/NAME/.
    const std::filesystem::path storage_path = location.is_sqlite() ? location.sqlite_file : default_storage_path(study_name);
    search::StudyInfo info;
    info.name = study_name;
    info.direction = study.direction;
    info.metric = options.objective_command ? "objective" : study.metric;
    info.config = study.source_text;
    info.space = search::describe_space(study.space);
    info = storage.create_or_load_study(info);
    if (const std::string changes = search::space_changes(info.space, search::describe_space(study.space)); !changes.empty())
      throw std::invalid_argument(study.locate("space") + "the space of study '" + info.name + "' in " + location.description() +
                                  " changed since the study began: " + changes +
                                  ". Its trials would mislead the sampler; restore the space, or start a new study "
                                  "(another study name or --storage)");
    if (const std::optional<search::TrainingDefaults> began = search::stored_training_defaults(info.config))
      if (const std::string changes = search::training_changes(*began, study.training); !changes.empty())
        throw std::invalid_argument(study.locate("training") + "the training defaults of study '" + info.name + "' in " +
                                    location.description() + " changed since the study began: " + changes +
                                    ". Its trials were trained otherwise and would be ranked with the new ones; "
                                    "restore them, or start a new study (another study name or --storage)");
    const std::unique_ptr<search::Sampler> sampler = search::make_sampler(study.sampler);
    const std::unique_ptr<search::Pruner> pruner = search::make_pruner(study.pruner);  // null: none

    std::vector<std::unique_ptr<search::Objective>> objectives;
    std::string placement;
    if (options.objective_command) {
      search::CommandObjectiveOptions command;
      command.command = *options.objective_command;
      command.parallel = parallel;
      command.timeout_seconds = options.trial_timeout_seconds;
      objectives.push_back(std::make_unique<search::CommandObjective>(command));
      placement = std::to_string(parallel) + " commands at a time";
    } else {
      if (!study.models.keep || *study.models.keep > 0)  // keep: 0 keeps none
        engine_options.model_keeper = std::make_shared<ModelKeeper>(
            study_models_folder(storage_path, info.name), info.name, info.direction, study.models.keep);
      // CPU workers of one thread each share their cores: a worker out of trials hands its
      // core to those still training (apps/cpu_core_share.h).
      std::vector<size_t> cpu_workers;
      for (size_t i = 0; i < devices.size(); ++i)
        if (devices[i].cpu_threads && slots[i] > 0) cpu_workers.push_back(i);
      std::shared_ptr<CpuCoreShare> core_share;
      if (cpu_workers.size() > 1) {
        int cores = 0;
        for (const size_t i : cpu_workers) cores += *devices[i].cpu_threads;
        core_share = std::make_shared<CpuCoreShare>(static_cast<int>(cpu_workers.size()), cores);
      }
      std::string named;
      int total = 0;
      for (size_t i = 0; i < devices.size(); ++i) {
        TuneDevice& device = devices[i];
        named += (i ? ", " : "") + device.label + " (" + device.description + ", " + std::to_string(slots[i]) + " slots)";
        if (slots[i] == 0) continue;  // --parallel is filled by the devices before it
        EngineObjectiveOptions worker = engine_options;
        worker.capacity = slots[i];
        worker.device_label = device.label;
        worker.cpu_threads = device.cpu_threads;
        if (core_share) {
          worker.core_share = core_share;
          worker.core_share_index =
              static_cast<int>(std::find(cpu_workers.begin(), cpu_workers.end(), i) - cpu_workers.begin());
        }
        objectives.push_back(std::make_unique<EngineObjective>(*device.backend, *dataset, worker));
        total += slots[i];
      }
      log << "gpu_tune: " << devices.size() << (devices.size() == 1 ? " device: " : " devices: ") << named << "\n";
      placement = std::to_string(total) + " at a time on " + std::to_string(objectives.size()) +
                  (objectives.size() == 1 ? " device" : " devices") +
                  (*refill == RefillStrategy::kWaves ? ", refilled in waves" : "");
    }
    log << "gpu_tune: study '" << info.name << "' in " << location.description() << ": " << study.space.flat().size()
        << " parameters, " << search::direction_name(info.direction) << " " << info.metric << ", sampler "
        << sampler->name() << ", pruner " << (pruner ? pruner->name() : "none") << ", budget " << budget.trials
        << " trials, " << placement << "\n";

    TuneProgress progress(out, !options.json && options.live_progress.value_or(isatty(STDOUT_FILENO) == 1));
    search::StudyRunner runner(storage, info, study.space, *sampler, budget,
                               [&](const search::StudyProgress& p, const std::string& event) {
                                 if (!options.json) progress.update(p, event);
                               },
                               pruner.get());
    runner.set_stop_condition(interrupt_requested);
    runner.set_heartbeat(std::chrono::duration<double>(study.workers.heartbeat_seconds),
                         std::chrono::duration<double>(study.workers.grace_seconds));
    runner.set_retry_interrupted(study.workers.retry_interrupted);
    if (options.json)
      runner.set_event_listener([&out](const search::StudyEvent& event, const search::StudyProgress& p) {
        out << study_event_json(event, p) << std::endl;  // flushed: a reader follows it live
      });
    std::vector<search::Objective*> workers;
    for (const auto& objective : objectives) workers.push_back(objective.get());
    const search::StudyProgress final_progress = runner.run(workers);
    progress.close();
    // From the runner, not the storage: the runner's threads may still be using it.
    const std::vector<search::TrialRecord> trials = runner.trials();
    const std::string best = best_trial_line(trials, info, final_progress);
    if (options.json) {
      std::optional<std::string> stopped_by, resume;
      if (interrupt_requested()) {
        stopped_by = interrupt_signal() == SIGTERM ? "SIGTERM" : "SIGINT";
        resume = resume_command(options, location);
      }
      out << study_done_json(final_progress, stopped_by, resume) << std::endl;
      if (interrupt_requested()) return 128 + interrupt_signal();
    }
    if (interrupt_requested()) {
      const int signal_number = interrupt_signal();
      out << "study '" << info.name << "' stopped by " << (signal_number == SIGTERM ? "SIGTERM" : "SIGINT") << ": "
          << progress_summary(final_progress, false) << "; trials stopped while running are recorded as interrupted and "
          << "do not count toward the budget\n";
      if (!best.empty()) out << best << "\n";
      out << "to resume: " << resume_command(options, location) << "\n";
      return 128 + signal_number;
    }
    if (!options.json) {
      out << "study '" << info.name << "': " << progress_summary(final_progress, false) << "\n";
      if (!best.empty()) out << best << "\n";
    }
    // A study whose every trial failed has no result: a script must not take it for one.
    const bool all_failed = final_progress.complete == 0 && final_progress.pruned == 0 &&
                            final_progress.failed > final_progress.interrupted;
    if (all_failed) {
      log << "gpu_tune tune: error: every trial of study '" << info.name << "' failed; the first: "
          << first_failure(trials) << "\n";
      return kAllTrialsFailed;
    }
    return 0;
  } catch (const std::bad_alloc&) {
    log << "gpu_tune tune: error: out of memory (std::bad_alloc): lower --parallel or --slots, or shrink the "
           "space's largest model or batch\n";
    return 2;
  } catch (const std::exception& e) {
    log << "gpu_tune tune: error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace gpu_tune::app
