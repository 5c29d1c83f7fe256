#pragma once
// `gpu_tune train`: trains a list of configurations together in one bundle.
#include <CLI/CLI.hpp>  // subcommand registration

#include <cstdint>
#include <iosfwd>
#include <optional>
#include <string>
#include <vector>

#include "engine/backend_factory.h"
#include "engine/data/dataset.h"

namespace gpu_tune::app {

// Options every command that trains shares: data, backend, bundle.
struct EngineOptions {
  data::DatasetOptions dataset;
  std::optional<int64_t> train_size;  // use only the first N training images (quick runs)
  std::string backend = "auto";
  std::string precision = "fp32";
  std::string gemm = "own";
  std::string conv = "own";
  bool no_cuda_graphs = false;
  bool standardize = false;
};

struct TrainOptions {
  EngineOptions engine;
  std::vector<std::string> slots;
  int epochs = 10;
  std::optional<int> patience;
  double min_delta = 0.0;
  std::optional<int> capacity;
  bool json = false;
};

void add_engine_options(CLI::App& command, EngineOptions& options);
void add_train_command(CLI::App& app, TrainOptions& options, int& exit_code);

// --backend, and the options every backend takes (--precision, --gemm, --conv, --no-cuda-graphs).
// Throw std::invalid_argument naming the flag for a value they do not know.
BackendChoice engine_backend_choice(const EngineOptions& options);
BackendOptions engine_backend_options(const EngineOptions& options);

// The backend the options ask for, with its one-line notice written to `log`. Throws
// std::invalid_argument naming the flag for a value it does not know.
BackendSelection select_engine_backend(const EngineOptions& options, std::ostream& log);

// Loads the dataset named by the options, trimming the training split when asked.
data::Dataset load_engine_dataset(const EngineOptions& options, std::ostream& log);

// Throws std::invalid_argument naming --validation-size and `why` a validation set is needed
// when the options hold out no validation images.
void require_validation_images(const EngineOptions& options, const std::string& why);

// Runs the command; returns the process exit code: 0, 2 on bad input or an error (nothing
// trained), 3 when a slot failed (every slot's result is still printed). Progress goes to
// `out`, notices to `log`.
int run_train(const TrainOptions& options, std::ostream& out, std::ostream& log);

}  // namespace gpu_tune::app
