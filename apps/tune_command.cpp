#include "apps/tune_command.h"

#include <unistd.h>  // isatty

#include <iostream>
#include <stdexcept>

#include "apps/engine_objective.h"
#include "apps/seed_study.h"
#include "apps/tune_progress.h"
#include "engine/backend_factory.h"
#include "search/command_objective.h"
#include "search/pruner_factory.h"
#include "search/sampler_factory.h"
#include "search/sqlite_storage.h"
#include "search/study_config.h"
#include "search/study_runner.h"

namespace gpu_tune::app {

namespace {

// Without a GPU the seed study would take hours on a CPU; this budget ends in minutes.
constexpr int64_t kReducedTrials = 20;
constexpr int kReducedEpochs = 3;

search::StudyConfig load_study(const TuneOptions& options) {
  if (options.study_file) return search::load_study_config(*options.study_file);
  return search::parse_study_config(kSeedStudyYaml, kSeedStudyName);
}

}  // namespace

std::filesystem::path default_storage_path(const std::string& study_name) {
  return std::filesystem::path("studies") / study_name / "study.db";
}

void add_tune_command(CLI::App& app, TuneOptions& options, int& exit_code) {
  CLI::App* tune = app.add_subcommand("tune", "run or resume a study (default: the seed study, examples/fashion_mnist.yaml)");
  tune->add_option_function<std::string>(
      "study", [&options](const std::string& f) { options.study_file = f; }, "the study file (YAML)");
  tune->add_option_function<std::string>(
      "--objective-command", [&options](const std::string& c) { options.objective_command = c; },
      "tune this program instead of the engine: it gets --NAME=VALUE arguments and GPU_TUNE_NAME variables, "
      "and prints the objective as its last numeric line (gpu_tune:step=N value=V lines are intermediate values)");
  tune->add_option_function<int>("--parallel", [&options](int n) { options.parallel = n; }, "trials at once (slots)");
  tune->add_option_function<int64_t>("--trials", [&options](int64_t n) { options.trials = n; }, "trial budget");
  tune->add_option_function<int>("--epochs", [&options](int n) { options.epochs = n; }, "cap on every trial's epochs");
  tune->add_option_function<double>(
      "--time-limit", [&options](double s) { options.time_limit_seconds = s; }, "seconds after which no trial starts");
  tune->add_option_function<std::string>(
      "--storage", [&options](const std::string& s) { options.storage = s; }, "SQLite file (default studies/STUDY/study.db)");
  tune->add_flag("--full", options.full, "run the study's whole budget even without a GPU");
  tune->add_flag_function(
      "--progress,!--no-progress", [&options](int64_t n) { options.live_progress = n > 0; },
      "live progress line (default: when standard output is a terminal)");
  add_engine_options(*tune, options.engine);
  tune->callback([&options, &exit_code, tune] {
    options.dataset_given = tune->count("--dataset") > 0 || tune->count("--data") > 0;
    exit_code = run_tune(options, std::cout, std::cerr);
  });
}

int run_tune(const TuneOptions& options, std::ostream& out, std::ostream& log) {
  try {
    search::StudyConfig study = load_study(options);
    search::StudyBudget budget{study.budget.trials, study.budget.time_limit_seconds};
    int parallel = options.parallel.value_or(study.budget.parallel);
    if (options.trials) budget.trials = *options.trials;
    if (options.time_limit_seconds) budget.time_limit_seconds = *options.time_limit_seconds;
    if (budget.trials < 1) throw std::invalid_argument("--trials must be at least 1");
    if (parallel < 1) throw std::invalid_argument("--parallel must be at least 1");

    const std::filesystem::path storage_path = options.storage ? std::filesystem::path(*options.storage)
                                                               : default_storage_path(study.name);
    if (storage_path.has_parent_path()) std::filesystem::create_directories(storage_path.parent_path());
    search::SqliteStorage storage(storage_path);
    search::StudyInfo info;
    info.name = study.name;
    info.direction = study.direction;
    info.metric = options.objective_command ? "objective" : study.metric;
    info.config = study.source_text;
    info = storage.create_or_load_study(info);
    const std::unique_ptr<search::Sampler> sampler = search::make_sampler(study.sampler);
    const std::unique_ptr<search::Pruner> pruner = search::make_pruner(study.pruner);  // null: none

    std::unique_ptr<Backend> backend;
    std::optional<data::Dataset> dataset;
    std::unique_ptr<search::Objective> objective;
    std::optional<int> epoch_cap = options.epochs;
    if (options.objective_command) {
      objective = std::make_unique<search::CommandObjective>(
          search::CommandObjectiveOptions{*options.objective_command, parallel});
    } else {
      EngineOptions engine = options.engine;
      if (!options.dataset_given) {
        engine.dataset.name = study.dataset;
        if (study.data_dir) engine.dataset.data_dir = *study.data_dir;
      }
      backend = select_engine_backend(engine, log).backend;  // bad flags fail before the load
      dataset = load_engine_dataset(engine, log);
      if (backend->name() == "cpu" && !options.full && !options.trials && !options.epochs) {
        budget.trials = std::min(budget.trials, kReducedTrials);
        epoch_cap = kReducedEpochs;
        log << "gpu_tune: on the CPU this runs a reduced budget of " << budget.trials << " trials, at most "
            << kReducedEpochs << " epochs each, so it ends in minutes; add --full for the whole study ("
            << study.budget.trials << " trials)\n";
      }
      EngineObjectiveOptions engine_options;
      engine_options.capacity = parallel;
      engine_options.standardize = engine.standardize;
      engine_options.metric = study.metric;
      engine_options.training_defaults = study.training;
      engine_options.max_epochs_override = epoch_cap;
      objective = std::make_unique<EngineObjective>(*backend, *dataset, engine_options);
    }
    log << "gpu_tune: study '" << info.name << "' in " << storage_path.string() << ": " << study.space.flat().size()
        << " parameters, " << search::direction_name(info.direction) << " " << info.metric << ", sampler "
        << sampler->name() << ", pruner " << (pruner ? pruner->name() : "none") << ", budget " << budget.trials
        << " trials, " << parallel << " at a time\n";

    TuneProgress progress(out, options.live_progress.value_or(isatty(STDOUT_FILENO) == 1));
    search::StudyRunner runner(storage, info, study.space, *sampler, budget,
                               [&](const search::StudyProgress& p, const std::string& event) { progress.update(p, event); },
                               pruner.get());
    const search::StudyProgress final_progress = runner.run(*objective);
    progress.close();
    out << "study '" << info.name << "': " << progress_summary(final_progress) << "\n";
    return 0;
  } catch (const std::exception& e) {
    log << "gpu_tune tune: error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace gpu_tune::app
