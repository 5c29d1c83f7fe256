#pragma once
// Reading a study back: `gpu_tune status`, `best`, `trials [--csv|--json]` and
// `export --format csv|json|optuna-journal [--output FILE]`.
#include <CLI/CLI.hpp>  // subcommand registration

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "apps/output_file.h"  // write_output, for the commands that include this
#include "apps/study_location.h"
#include "search/trial.h"

namespace gpu_tune::app {

struct StudyCommandOptions {
  StudySelector selector;
  std::string format = "table";  // table | csv | json | optuna-journal
  std::optional<std::string> output;
};

void add_study_commands(CLI::App& app, StudyCommandOptions& options, int& exit_code);

int run_status(const StudyCommandOptions& options, std::ostream& out, std::ostream& log);
int run_best(const StudyCommandOptions& options, std::ostream& out, std::ostream& log);
int run_trials(const StudyCommandOptions& options, std::ostream& out, std::ostream& log);
int run_export(const StudyCommandOptions& options, std::ostream& out, std::ostream& log);

// Every trial as CSV (one row per trial; a column per parameter and metric) or JSON.
void write_trials_csv(const std::vector<search::TrialRecord>& trials, std::ostream& out);
void write_trials_json(const std::vector<search::TrialRecord>& trials, std::ostream& out);

}  // namespace gpu_tune::app
