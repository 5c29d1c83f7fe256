// The gpu_tune command: one subcommand per job, each a thin layer over the libraries.
#include <CLI/CLI.hpp>  // command-line parsing

#include <exception>
#include <iostream>
#include <new>

#include "apps/model_commands.h"
#include "apps/report_command.h"
#include "apps/study_commands.h"
#include "apps/train_command.h"
#include "apps/tune_command.h"

#ifndef GPU_TUNE_VERSION
#define GPU_TUNE_VERSION "unknown"  // set by the top-level CMakeLists.txt
#endif

namespace {

// The exit status for bad input, whether CLI11 finds it (an unknown flag, a missing value)
// or a command does: one code for "nothing was run, fix the command line" (README.md lists
// every code).
constexpr int kBadInput = 2;

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"gpu_tune: tunes small image classifiers by training many models at once"};
  app.require_subcommand(1);
  app.set_version_flag("--version", std::string("gpu_tune ") + GPU_TUNE_VERSION);
  int exit_code = 0;
  gpu_tune::app::TrainOptions train_options;
  gpu_tune::app::TuneOptions tune_options;
  tune_options.invocation.assign(argv, argv + argc);
  gpu_tune::app::StudyCommandOptions study_options;
  gpu_tune::app::ModelCommandOptions model_options;
  gpu_tune::app::add_train_command(app, train_options, exit_code);
  gpu_tune::app::add_tune_command(app, tune_options, exit_code);
  gpu_tune::app::add_study_commands(app, study_options, exit_code);
  gpu_tune::app::ReportOptions report_options;
  gpu_tune::app::add_report_command(app, report_options, exit_code);
  gpu_tune::app::add_model_commands(app, model_options, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // CLI11 prints the message (and --help or --version) and gives its own codes, 104-109
    // for errors; ours is one code for all bad input.
    return app.exit(e) == 0 ? 0 : kBadInput;
  } catch (const std::bad_alloc&) {
    // Each command sizes its work before allocating it; this is the last resort.
    std::cerr << "gpu_tune: error: out of memory (std::bad_alloc)\n";
    return kBadInput;
  } catch (const std::exception& e) {
    std::cerr << "gpu_tune: error: " << e.what() << "\n";
    return kBadInput;
  }
  return exit_code;
}
