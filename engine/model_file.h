#pragma once
// A trained model on disk (.gtm): its architecture, how it reads its input, its parameters
// and where it came from, in the small binary format docs/model-format.md describes byte
// by byte, closed by a CRC-32. What a saved model needs to run is all here: evaluate and
// predict rebuild the very slot that was tested, without the study or its settings.
#include <cstdint>
#include <filesystem>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "engine/bundle.h"
#include "engine/model_spec.h"
#include "engine/training_config.h"

namespace gpu_tune {

// Every problem reading a model file; the message names the file and the problem.
class ModelFileError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

// Where a model came from and how it did; informational, except test_accuracy and
// test_count, which `gpu_tune evaluate` checks itself against.
struct ModelOrigin {
  std::string study;
  int64_t trial = -1;
  std::string dataset;              // the dataset's name, e.g. "fashion-mnist"
  std::string device;               // where the trial trained, e.g. "cpu", "cuda:1"
  std::string metric;               // the study's metric, e.g. "validation_loss"
  double value = 0;                 // the trial's value of it (the best epoch's)
  int best_epoch = 0;
  double test_accuracy = 0, test_loss = 0;
  int64_t test_count = 0;           // images the test metrics were measured on
  std::string description;          // TrainingConfig::describe() of the trial
  bool operator==(const ModelOrigin&) const = default;
};

struct SavedModel {
  static constexpr uint32_t kVersion = 1;  // the format version this code writes and reads

  // The hidden layers as parse_model reads them ("c32k3-p-d128"); the output layer is
  // `classes` units.
  std::string architecture;
  TensorShape input;
  int classes = 10;
  kernels::Activation activation = kernels::Activation::kRelu;
  InputNormalization normalization;
  bool standardized = false;        // informational: normalization came from the data's statistics
  std::string precision = "fp32";   // the matrix products' precision in training (kernels::GemmPrecision's name)
  std::vector<float> parameters;    // ModelSpec::storage_size() floats, Bundle::parameters' layout
  ModelOrigin origin;

  // The model as the engine runs it. Throws std::invalid_argument when the architecture is
  // not one parse_model reads.
  ModelSpec model() const;
  // Throws std::invalid_argument naming the problem: an invalid architecture, parameters
  // that do not match it, an unknown precision, a normalization that is not finite.
  void check() const;
  bool operator==(const SavedModel&) const = default;
};

// The text parse_model reads back into `model`'s hidden layers; throws std::logic_error
// when it would not give the same layers.
std::string architecture_text(const ModelSpec& model);

// The trial's model as trained: `config`'s architecture and activation, its parameters,
// and the bundle's normalization. `origin` is copied as given; the precision stays fp32
// for the caller to set.
SavedModel saved_model_from(const TrainingConfig& config, std::vector<float> parameters,
                            InputNormalization normalization, bool standardized, ModelOrigin origin);

// The file's bytes, exactly as given (no check: tests make broken files with it).
std::string encode_model(const SavedModel& model);
// Reads `bytes`, checking everything: magic, version, length, checksum, then the contents
// (SavedModel::check). Throws ModelFileError "SOURCE: problem".
SavedModel decode_model(std::string_view bytes, const std::string& source);

// Checks the model (ModelFileError naming `path` when it is not valid), then writes it
// whole or not at all: to a temporary file beside `path`, synced, then renamed over it.
void write_model_file(const std::filesystem::path& path, const SavedModel& model);
SavedModel read_model_file(const std::filesystem::path& path);
// Only the fields before the parameters (which stay empty), without reading the rest or
// checking the checksum: for ranking many files quickly. Throws ModelFileError.
SavedModel read_model_header(const std::filesystem::path& path);

}  // namespace gpu_tune
