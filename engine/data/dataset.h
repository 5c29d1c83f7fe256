#pragma once
// Finds an MNIST-style IDX dataset on disk and splits it into train / validation / test.
#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "engine/data/idx_reader.h"

namespace gpu_tune::data {

struct ImageSet {
  int64_t count = 0;
  int rows = 0, cols = 0;
  std::vector<uint8_t> images;  // count*rows*cols, row-major image after image
  std::vector<uint8_t> labels;  // count
  int features() const { return rows * cols; }
};

struct DatasetOptions {
  std::string name = "fashion-mnist";             // also "mnist", "kmnist", or any IDX dataset folder name
  std::optional<std::filesystem::path> data_dir;  // --data DIR
  int64_t validation_size = 10000;                // held out of the END of the official training set
};

struct Dataset {
  std::string name;
  std::filesystem::path directory;
  int classes = 10;                    // max label + 1 over train+test, at least 2
  ImageSet train, validation, test;    // test = official t10k; never used to choose anything
  float pixel_mean = 0, pixel_std = 1; // of the train split's pixels scaled to [0,1]
};

// Where Debian's dataset-* packages install, e.g. /usr/share/datasets/fashion-mnist.
inline constexpr const char* kSystemDatasetRoot = "/usr/share/datasets";

// Returns the folder holding the four IDX files, trying in order: options.data_dir, then
// $GPU_TUNE_DATA, then ./data/<name>, then <system_root>/<name>. An explicitly given folder that
// lacks the files is an error rather than a reason to keep looking, so a typo is never masked
// by some other copy of the data.
std::filesystem::path locate_dataset(const DatasetOptions& options,
                                     const std::filesystem::path& system_root);
inline std::filesystem::path locate_dataset(const DatasetOptions& options) {
  return locate_dataset(options, kSystemDatasetRoot);
}

Dataset load_dataset(const DatasetOptions& options, const std::filesystem::path& system_root);
inline Dataset load_dataset(const DatasetOptions& options) { return load_dataset(options, kSystemDatasetRoot); }

}  // namespace gpu_tune::data
