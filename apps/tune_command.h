#pragma once
// `gpu_tune tune [STUDY.yaml]`: runs (or resumes) a study on the engine, or on any
// program with --objective-command.
#include <CLI/CLI.hpp>  // subcommand registration

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>

#include "apps/train_command.h"

namespace gpu_tune::app {

struct TuneOptions {
  EngineOptions engine;
  bool dataset_given = false;  // --dataset or --data on the command line beats the study file
  std::optional<std::string> study_file;  // default: the built-in seed study (examples/fashion_mnist.yaml)
  std::optional<std::string> objective_command;
  std::optional<int> parallel;
  std::optional<int64_t> trials;
  std::optional<int> epochs;
  std::optional<double> time_limit_seconds;
  std::optional<std::string> storage;  // SQLite file; default studies/<study>/study.db
  bool full = false;                   // the whole budget even without a GPU
  std::optional<bool> live_progress;   // default: when standard output is a terminal
};

void add_tune_command(CLI::App& app, TuneOptions& options, int& exit_code);
int run_tune(const TuneOptions& options, std::ostream& out, std::ostream& log);

// Where a study's database lives unless --storage says otherwise.
std::filesystem::path default_storage_path(const std::string& study_name);

}  // namespace gpu_tune::app
