#pragma once
// Reading a study back: `gpu_tune status`, `best`, `trials [--csv|--json]` and
// `export --format csv|json|optuna-journal [--output FILE]`.
#include <CLI/CLI.hpp>  // subcommand registration

#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

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

// Writes `text` to `out` and flushes it; throws std::runtime_error naming `name` ("standard
// output" or the file) and the system's reason when the write fails (a full disk, /dev/full,
// a closed pipe). Also what the model and report commands write their output with.
void write_output(std::ostream& out, const std::string& text, const std::string& name);
// `text` as the whole of file `path`, which is created or truncated; throws as above.
void write_output_file(const std::string& path, const std::string& text);

// Every trial as CSV (one row per trial; a column per parameter and metric) or JSON.
void write_trials_csv(const std::vector<search::TrialRecord>& trials, std::ostream& out);
void write_trials_json(const std::vector<search::TrialRecord>& trials, std::ostream& out);

}  // namespace gpu_tune::app
