#pragma once
// `gpu_tune report [STUDY | --study NAME --storage FILE] -o report.html`: one self-contained
// HTML page about a study (optimisation history, parallel coordinates, each parameter
// against the objective, learning curves, trial durations, parameter importances, the best
// trial and a sortable table of every trial) that opens offline in any browser.
#include <CLI/CLI.hpp>  // subcommand registration

#include <iosfwd>
#include <string>

#include "apps/study_commands.h"

namespace gpu_tune::app {

struct ReportOptions {
  StudySelector selector;
  std::string output = "report.html";
};

void add_report_command(CLI::App& app, ReportOptions& options, int& exit_code);

// Writes the report; returns the exit status (2 with the reason on `log` when it cannot).
int run_report(const ReportOptions& options, std::ostream& log);

}  // namespace gpu_tune::app
