#pragma once
// `gpu_tune tune [STUDY.yaml]`: runs (or resumes) a study on the engine, or on any
// program with --objective-command.
#include <CLI/CLI.hpp>  // subcommand registration

#include <filesystem>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "apps/train_command.h"

namespace gpu_tune::app {

struct TuneOptions {
  EngineOptions engine;
  bool dataset_given = false;  // --dataset or --data on the command line beats the study file
  std::optional<std::string> study_file;  // default: the built-in seed study (examples/fashion_mnist.yaml)
  // `gpu_tune worker --study NAME`: join this study, reading its study file from the database.
  std::optional<std::string> join_study;
  std::optional<std::string> objective_command;
  std::optional<double> trial_timeout_seconds;  // --trial-timeout: an objective command running longer fails
  std::optional<std::string> devices;  // --devices: all | cpu | cpu:N | 0,2 (see tune_devices.h)
  std::optional<int> slots;            // --slots: trials at once per device
  std::optional<int> parallel;         // trials at once across all devices
  std::optional<std::string> refill;   // --refill: continuous | waves (RefillStrategy; default continuous)
  std::optional<int64_t> trials;
  std::optional<int> epochs;
  std::optional<double> time_limit_seconds;
  std::optional<double> target;       // --target: no trial starts once the best value reaches it
  std::optional<std::string> storage;  // SQLite file; default studies/<study>/study.db
  bool full = false;                   // the whole budget even without a GPU
  std::optional<bool> live_progress;   // default: when standard output is a terminal
  bool json = false;                   // --json: events as JSON lines on standard output (tune_events.h)
  // The command line as typed (argv), printed as the command that resumes an interrupted
  // study; empty when run_tune is called otherwise (a shorter command is printed then).
  std::vector<std::string> invocation;
};

inline constexpr int kAllTrialsFailed = 3;  // as `gpu_tune train` when a slot failed

void add_tune_command(CLI::App& app, TuneOptions& options, int& exit_code);
// Returns the exit code: 0 when the study ran to its budget, 2 on an error (nothing run),
// kAllTrialsFailed when it ran but every trial failed (the first failure is logged),
// 128 + the signal's number when SIGINT or SIGTERM stopped it (the study is intact and the
// same command resumes it).
int run_tune(const TuneOptions& options, std::ostream& out, std::ostream& log);

// Where a study's database lives unless --storage says otherwise.
std::filesystem::path default_storage_path(const std::string& study_name);

}  // namespace gpu_tune::app
