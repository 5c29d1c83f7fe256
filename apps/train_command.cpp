#include "apps/train_command.h"

#include <cstdint>
#include <iostream>
#include <new>
#include <stdexcept>

#include "apps/largest_slot.h"
#include "apps/slot_spec.h"
#include "apps/training_log.h"
#include "engine/backend_factory.h"
#include "engine/bundle.h"
#include "engine/slot.h"
#include "engine/trainer.h"

namespace gpu_tune::app {

void add_engine_options(CLI::App& command, EngineOptions& options) {
  command.add_option("--dataset", options.dataset.name, "IDX dataset name (fashion-mnist, mnist, kmnist, ...)")
      ->capture_default_str();
  command.add_option_function<std::string>(
      "--data", [&options](const std::string& dir) { options.dataset.data_dir = dir; },
      "folder holding the four IDX files (else $GPU_TUNE_DATA, ./data/NAME, /usr/share/datasets/NAME)");
  command.add_option("--validation-size", options.dataset.validation_size,
                     "images held out of the end of the training set for validation")
      ->capture_default_str();
  command.add_option_function<int64_t>(
      "--train-size", [&options](int64_t n) { options.train_size = n; },
      "train on only the first N training images (for quick runs)");
  command.add_option("--backend", options.backend, "auto | cpu | cuda")->capture_default_str();
  command.add_option("--precision", options.precision,
                     "fp32 | tf32: the layers' matrix products; tf32 uses the GPU's tensor cores (the CPU "
                     "emulates it, slowly), faster with about 1e-3 relative error")
      ->capture_default_str();
  command.add_option("--gemm", options.gemm, "own | cublas: whose grouped matrix multiply the CUDA backend runs")
      ->capture_default_str();
  command.add_option("--conv", options.conv,
                     "own | cudnn: whose convolution the CUDA backend runs (cudnn needs a build with cuDNN and "
                     "issues every step afresh; the CPU backend has only its reference and ignores this)")
      ->capture_default_str();
  command.add_flag("--no-cuda-graphs", options.no_cuda_graphs,
                   "issue every training step's kernels afresh instead of replaying a captured CUDA graph");
  command.add_flag("--standardize", options.standardize, "standardise pixels with the training split's mean and std");
}

void add_train_command(CLI::App& app, TrainOptions& options, int& exit_code) {
  CLI::App* train = app.add_subcommand("train", "train a list of configurations together in one bundle");
  std::string keys_help = "a slot's settings as KEY=VALUE,... (repeat for more slots); keys:";
  for (const auto& [key, help] : slot_spec_keys()) keys_help += "\n  " + key + ": " + help;
  train->add_option("--slot", options.slots, keys_help)->required();
  train->add_option("--epochs", options.epochs, "default epoch budget of every slot")->capture_default_str();
  train->add_option_function<int>(
      "--patience", [&options](int p) { options.patience = p; }, "default early-stopping patience (off unless given)");
  train->add_option("--min-delta", options.min_delta, "default early-stopping min_delta")->capture_default_str();
  train->add_option_function<int>(
      "--capacity", [&options](int c) { options.capacity = c; }, "slots in the bundle (default: one per --slot)");
  train->add_flag("--json", options.json, "print JSON lines instead of text");
  add_engine_options(*train, options.engine);
  train->callback([&options, &exit_code] { exit_code = run_train(options, std::cout, std::cerr); });
}

BackendChoice engine_backend_choice(const EngineOptions& options) {
  const auto choice = parse_backend_choice(options.backend);
  if (!choice) throw std::invalid_argument("--backend '" + options.backend + "' is not one of auto, cpu, cuda");
  return *choice;
}

BackendOptions engine_backend_options(const EngineOptions& options) {
  const auto precision = kernels::parse_precision(options.precision);
  if (!precision) throw std::invalid_argument("--precision '" + options.precision + "' is not one of fp32, tf32");
  const auto gemm = parse_gemm_library(options.gemm);
  if (!gemm) throw std::invalid_argument("--gemm '" + options.gemm + "' is not one of own, cublas");
  const auto conv = parse_conv_library(options.conv);
  if (!conv) throw std::invalid_argument("--conv '" + options.conv + "' is not one of own, cudnn");
  return BackendOptions{.precision = *precision, .gemm = *gemm, .conv = *conv, .cuda_graphs = !options.no_cuda_graphs};
}

BackendSelection select_engine_backend(const EngineOptions& options, std::ostream& log) {
  const BackendChoice choice = engine_backend_choice(options);
  BackendSelection selection = select_backend(choice, engine_backend_options(options));
  log << "gpu_tune: " << selection.notice << "\n";
  return selection;
}

data::Dataset load_engine_dataset(const EngineOptions& options, std::ostream& log) {
  data::Dataset dataset = data::load_dataset(options.dataset);
  if (options.train_size) {
    const int64_t n = *options.train_size;
    if (n < 1 || n > dataset.train.count)
      throw std::invalid_argument("--train-size " + std::to_string(n) + " is outside 1.." + std::to_string(dataset.train.count));
    dataset.train.count = n;
    dataset.train.images.resize(static_cast<size_t>(n) * dataset.train.features());
    dataset.train.labels.resize(static_cast<size_t>(n));
  }
  log << "gpu_tune: dataset " << dataset.name << " from " << dataset.directory.string() << ": " << dataset.train.count
      << " train, " << dataset.validation.count << " validation, " << dataset.test.count << " test images\n";
  return dataset;
}

void require_validation_images(const EngineOptions& options, const std::string& why) {
  if (options.dataset.validation_size > 0) return;
  throw std::invalid_argument("--validation-size " + std::to_string(options.dataset.validation_size) + ": " + why +
                              ", so it needs at least 1 validation image (the default is 10000)");
}

int run_train(const TrainOptions& options, std::ostream& out, std::ostream& log) {
  try {
    // Without validation images every loss is NaN: no epoch is ever best and early stopping
    // never fires, which reads like a result.
    require_validation_images(options.engine, "train picks each slot's best epoch by its validation loss");
    TrainingConfig defaults;
    defaults.max_epochs = options.epochs;
    defaults.early_stopping.patience = options.patience;
    defaults.early_stopping.min_delta = options.min_delta;
    std::vector<TrainingConfig> configs;
    for (const std::string& spec : options.slots) configs.push_back(parse_slot_spec(spec, defaults));

    BackendSelection selection = select_engine_backend(options.engine, log);  // bad flags fail before the load
    data::Dataset dataset = load_engine_dataset(options.engine, log);

    TrainerOptions trainer_options;
    trainer_options.bundle.capacity = options.capacity.value_or(static_cast<int>(configs.size()));
    trainer_options.bundle.standardize = options.engine.standardize;
    // Sized from the model specs before any slot is allocated: a huge model is an error
    // saying how much it needs, not a bare std::bad_alloc.
    size_t needed = 0;
    for (const TrainingConfig& config : configs) {
      const size_t slot = Slot::bytes_needed(config, dataset.train.count,
                                             Bundle::eval_chunk_rows(trainer_options.bundle, config.model));
      needed = slot > SIZE_MAX - needed ? SIZE_MAX : needed + slot;
    }
    if (const std::optional<MemoryLimit> limit =
            slot_memory_limit(selection.backend->free_memory_bytes(), selection.backend->name()))
      require_memory(needed, *limit, configs.size() == 1 ? std::string("training this slot")
                                             : "training these " + std::to_string(configs.size()) + " slots",
                     "train fewer slots or smaller models (layer widths, batch)");
    Trainer trainer(*selection.backend, dataset, trainer_options);
    TrainingLog training_log(out, options.json);
    const std::vector<SlotResult> results = trainer.train_all(configs, &training_log);
    for (const SlotResult& r : results)
      if (r.outcome == SlotOutcome::kFailed) return 3;  // every result was still printed
    return 0;
  } catch (const std::bad_alloc&) {
    log << "gpu_tune train: error: out of memory (std::bad_alloc): train fewer slots or smaller models\n";
    return 2;
  } catch (const std::exception& e) {
    log << "gpu_tune train: error: " << e.what() << "\n";
    return 2;
  }
}

}  // namespace gpu_tune::app
