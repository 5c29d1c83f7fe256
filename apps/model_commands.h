#pragma once
// Using a saved model (engine/model_file.h): `gpu_tune evaluate --model FILE` measures its
// test accuracy again and says whether it equals the one recorded in training; `gpu_tune
// predict --model FILE IMAGES` prints the class it predicts for each image of an IDX file.
// Both run the model in a one-slot bundle, through the forward pass training tested it with.
#include <CLI/CLI.hpp>  // subcommand registration

#include <iosfwd>
#include <optional>
#include <string>

namespace gpu_tune::app {

struct ModelCommandOptions {
  std::string model_file;               // --model FILE
  std::optional<std::string> data_dir;  // evaluate --data DIR: else the model's dataset found by name
  std::string images;                   // predict: an IDX file of images (gzip too)
  std::optional<std::string> output;    // predict -o FILE: else standard output
  std::string backend = "cpu";          // --backend cpu | cuda | auto
};

void add_model_commands(CLI::App& app, ModelCommandOptions& options, int& exit_code);

// Exit code 0 when the accuracy equals the recorded one, 1 when it does not, 2 on an error.
int run_evaluate(const ModelCommandOptions& options, std::ostream& out, std::ostream& log);
// One predicted class per line, in the images' order. Exit code 0, or 2 on an error.
int run_predict(const ModelCommandOptions& options, std::ostream& out, std::ostream& log);

}  // namespace gpu_tune::app
