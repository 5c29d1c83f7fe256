#include "engine/data/dataset.h"

#include <algorithm>
#include <array>
#include <climits>
#include <cmath>
#include <cstdlib>
#include <system_error>
#include <utility>

namespace gpu_tune::data {
namespace {

namespace fs = std::filesystem;

constexpr std::array<const char*, 4> kFiles = {"train-images-idx3-ubyte", "train-labels-idx1-ubyte",
                                               "t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"};
// Labels are bytes, so this can only trip if the limit is ever lowered; it documents the
// assumption that the output layer never needs more than 256 units.
constexpr int kMaxClasses = 256;

std::optional<fs::path> find_file(const fs::path& dir, const std::string& base) {
  std::error_code ec;
  for (const fs::path& candidate : {dir / base, dir / (base + ".gz")}) {
    if (fs::is_regular_file(candidate, ec)) return candidate;
  }
  return std::nullopt;
}

// Names of the files a folder lacks; empty when it holds the whole dataset.
std::string missing_files(const fs::path& dir) {
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) return "the folder does not exist";
  std::string missing;
  for (const char* base : kFiles) {
    if (!find_file(dir, base)) missing += (missing.empty() ? "" : ", ") + std::string(base) + "[.gz]";
  }
  return missing.empty() ? "" : "missing " + missing;
}

std::string how_to_get(const std::string& name) {
  std::string text = "To get it: ";
  if (name == "fashion-mnist") text += "sudo apt-get install dataset-fashion-mnist, or ";
  text += "download the four official IDX files (";
  for (size_t i = 0; i < kFiles.size(); ++i) text += std::string(i ? ", " : "") + kFiles[i] + ".gz";
  text += ") into ./data/" + name + " or into a folder given by --data DIR or GPU_TUNE_DATA.";
  return text;
}

ImageSet read_split(const fs::path& dir, const char* images_base, const char* labels_base) {
  const fs::path images_path = *find_file(dir, images_base);
  const fs::path labels_path = *find_file(dir, labels_base);
  IdxArray images = read_idx_file(images_path);
  IdxArray labels = read_idx_file(labels_path);
  if (images.dims.size() != 3) {
    throw DataError(images_path.string() + ": expected a 3-D image array (count x rows x cols), got " +
                    std::to_string(images.dims.size()) + "-D");
  }
  if (labels.dims.size() != 1) {
    throw DataError(labels_path.string() + ": expected a 1-D label array, got " +
                    std::to_string(labels.dims.size()) + "-D");
  }
  if (images.dims[0] != labels.dims[0]) {
    throw DataError("image and label counts disagree: " + images_path.string() + " has " +
                    std::to_string(images.dims[0]) + " images but " + labels_path.string() + " has " +
                    std::to_string(labels.dims[0]) + " labels");
  }
  const uint64_t rows = images.dims[1], cols = images.dims[2];
  if (rows == 0 || cols == 0 || rows * cols > static_cast<uint64_t>(INT_MAX)) {
    throw DataError(images_path.string() + ": unusable image size " + std::to_string(rows) + "x" +
                    std::to_string(cols));
  }
  ImageSet set;
  set.count = images.dims[0];
  set.rows = static_cast<int>(rows);
  set.cols = static_cast<int>(cols);
  set.images = std::move(images.values);
  set.labels = std::move(labels.values);
  return set;
}

// Moves the last n examples of `from` into a new set, leaving the first count-n behind.
ImageSet split_tail(ImageSet& from, int64_t n) {
  const size_t keep = static_cast<size_t>(from.count - n);
  const size_t pixels = static_cast<size_t>(from.features());
  ImageSet tail;
  tail.count = n;
  tail.rows = from.rows;
  tail.cols = from.cols;
  tail.images.assign(from.images.begin() + keep * pixels, from.images.end());
  tail.labels.assign(from.labels.begin() + keep, from.labels.end());
  from.count = static_cast<int64_t>(keep);
  from.images.resize(keep * pixels);
  from.labels.resize(keep);
  from.images.shrink_to_fit();
  from.labels.shrink_to_fit();
  return tail;
}

// A byte histogram makes the statistics exact and independent of summation order.
void pixel_statistics(const std::vector<uint8_t>& pixels, float& mean, float& stddev) {
  if (pixels.empty()) return;
  std::array<uint64_t, 256> histogram{};
  for (uint8_t p : pixels) ++histogram[p];
  const double n = static_cast<double>(pixels.size());
  double sum = 0;
  for (int v = 0; v < 256; ++v) sum += static_cast<double>(histogram[v]) * (v / 255.0);
  const double m = sum / n;
  double squares = 0;
  for (int v = 0; v < 256; ++v) squares += static_cast<double>(histogram[v]) * (v / 255.0 - m) * (v / 255.0 - m);
  const double s = std::sqrt(squares / n);
  mean = static_cast<float>(m);
  // Constant images would make standardisation divide by zero; leaving the scale alone is harmless.
  stddev = s > 1e-6 ? static_cast<float>(s) : 1.0f;
}

}  // namespace

fs::path locate_dataset(const DatasetOptions& options, const fs::path& system_root) {
  const std::string& name = options.name;
  if (name.empty() || name.find('/') != std::string::npos || name == "." || name == "..") {
    throw DataError("invalid dataset name '" + name + "': it must be a plain folder name such as fashion-mnist");
  }
  if (options.data_dir) {
    const std::string missing = missing_files(*options.data_dir);
    if (missing.empty()) return *options.data_dir;
    throw DataError("--data " + options.data_dir->string() + " does not hold the " + name + " IDX files (" +
                    missing + "). " + how_to_get(name));
  }
  if (const char* env = std::getenv("GPU_TUNE_DATA"); env != nullptr && *env != '\0') {
    const fs::path dir = env;
    const std::string missing = missing_files(dir);
    if (missing.empty()) return dir;
    throw DataError("GPU_TUNE_DATA=" + dir.string() + " does not hold the " + name + " IDX files (" + missing +
                    "). " + how_to_get(name));
  }
  std::vector<std::string> looked;
  for (const fs::path& dir : {fs::path(".") / "data" / name, system_root / name}) {
    const std::string missing = missing_files(dir);
    // Absolute, so the recorded location stays meaningful whatever the working directory later is.
    if (missing.empty()) return fs::absolute(dir).lexically_normal();
    looked.push_back(dir.string() + " (" + missing + ")");
  }
  std::string message = "dataset '" + name + "' not found. Looked in (no --data given, GPU_TUNE_DATA not set): ";
  for (size_t i = 0; i < looked.size(); ++i) message += (i ? "; " : "") + looked[i];
  throw DataError(message + ". " + how_to_get(name));
}

Dataset load_dataset(const DatasetOptions& options, const fs::path& system_root) {
  Dataset dataset;
  dataset.name = options.name;
  dataset.directory = locate_dataset(options, system_root);
  dataset.train = read_split(dataset.directory, kFiles[0], kFiles[1]);
  dataset.test = read_split(dataset.directory, kFiles[2], kFiles[3]);

  if (dataset.train.rows != dataset.test.rows || dataset.train.cols != dataset.test.cols) {
    throw DataError("image sizes differ: " + find_file(dataset.directory, kFiles[0])->string() + " has " +
                    std::to_string(dataset.train.rows) + "x" + std::to_string(dataset.train.cols) + " images but " +
                    find_file(dataset.directory, kFiles[2])->string() + " has " + std::to_string(dataset.test.rows) +
                    "x" + std::to_string(dataset.test.cols));
  }

  int max_label = 0;
  for (const ImageSet* set : {&dataset.train, &dataset.test}) {
    for (uint8_t label : set->labels) max_label = std::max<int>(max_label, label);
  }
  if (max_label >= kMaxClasses) {
    throw DataError(dataset.directory.string() + ": label " + std::to_string(max_label) + " exceeds the limit of " +
                    std::to_string(kMaxClasses) + " classes");
  }
  dataset.classes = std::max(2, max_label + 1);

  const int64_t n = options.validation_size;
  if (n < 0 || n >= dataset.train.count) {
    throw DataError("validation_size " + std::to_string(n) + " must be >= 0 and smaller than the " +
                    std::to_string(dataset.train.count) + " training images in " +
                    find_file(dataset.directory, kFiles[0])->string());
  }
  dataset.validation = split_tail(dataset.train, n);
  pixel_statistics(dataset.train.images, dataset.pixel_mean, dataset.pixel_std);
  return dataset;
}

}  // namespace gpu_tune::data
