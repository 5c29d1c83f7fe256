// The gpu_tune command: one subcommand per job, each a thin layer over the libraries.
#include <CLI/CLI.hpp>  // command-line parsing

#include "apps/model_commands.h"
#include "apps/report_command.h"
#include "apps/study_commands.h"
#include "apps/train_command.h"
#include "apps/tune_command.h"

int main(int argc, char** argv) {
  CLI::App app{"gpu_tune: tunes small image classifiers by training many models at once"};
  app.require_subcommand(1);
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
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
