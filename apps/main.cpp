// The gpu_tune command: one subcommand per job, each a thin layer over the libraries.
#include <CLI/CLI.hpp>  // command-line parsing

#include "apps/train_command.h"

int main(int argc, char** argv) {
  CLI::App app{"gpu_tune: tunes small image classifiers by training many models at once"};
  app.require_subcommand(1);
  int exit_code = 0;
  gpu_tune::app::TrainOptions train_options;
  gpu_tune::app::add_train_command(app, train_options, exit_code);
  CLI11_PARSE(app, argc, argv);
  return exit_code;
}
