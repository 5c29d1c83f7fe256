#include "engine/data/dataset.h"

#include <gtest/gtest.h>
#include <unistd.h>
#include <zlib.h>

#include <cmath>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string>
#include <vector>

namespace fs = std::filesystem;
using gpu_tune::data::DataError;
using gpu_tune::data::Dataset;
using gpu_tune::data::DatasetOptions;
using gpu_tune::data::load_dataset;
using gpu_tune::data::locate_dataset;

namespace {

std::vector<uint8_t> idx_bytes(const std::vector<uint32_t>& dims, const std::vector<uint8_t>& values) {
  std::vector<uint8_t> bytes = {0, 0, 0x08, static_cast<uint8_t>(dims.size())};
  for (uint32_t d : dims) {
    for (int shift = 24; shift >= 0; shift -= 8) bytes.push_back(static_cast<uint8_t>(d >> shift));
  }
  bytes.insert(bytes.end(), values.begin(), values.end());
  return bytes;
}

void write_idx(const fs::path& path, const std::vector<uint32_t>& dims, const std::vector<uint8_t>& values,
               bool gzip) {
  const auto bytes = idx_bytes(dims, values);
  if (gzip) {
    gzFile gz = gzopen((path.string() + ".gz").c_str(), "wb");
    ASSERT_NE(gz, nullptr);
    ASSERT_EQ(gzwrite(gz, bytes.data(), static_cast<unsigned>(bytes.size())), static_cast<int>(bytes.size()));
    ASSERT_EQ(gzclose(gz), Z_OK);
  } else {
    std::ofstream out(path, std::ios::binary);
    out.write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
    ASSERT_TRUE(out.good());
  }
}

// Deterministic but varied content, distinct per split so a mix-up shows.
std::vector<uint8_t> pixels(int count, int rows, int cols, int salt) {
  std::vector<uint8_t> v(static_cast<size_t>(count) * rows * cols);
  for (size_t i = 0; i < v.size(); ++i) v[i] = static_cast<uint8_t>((i * 31 + i / 7 + salt) % 256);
  return v;
}

std::vector<uint8_t> labels(int count, int classes, int salt) {
  std::vector<uint8_t> v(count);
  for (int i = 0; i < count; ++i) v[i] = static_cast<uint8_t>((i * 3 + salt) % classes);
  return v;
}

struct Spec {
  int train = 50, test = 20, rows = 4, cols = 3, classes = 10;
  int test_rows = 4;
  int train_labels = 50;
  bool gzip = false;
};

void make_dataset(const fs::path& dir, const Spec& s = {}) {
  fs::create_directories(dir);
  write_idx(dir / "train-images-idx3-ubyte", {uint32_t(s.train), uint32_t(s.rows), uint32_t(s.cols)},
            pixels(s.train, s.rows, s.cols, 1), s.gzip);
  write_idx(dir / "train-labels-idx1-ubyte", {uint32_t(s.train_labels)}, labels(s.train_labels, s.classes, 0),
            s.gzip);
  write_idx(dir / "t10k-images-idx3-ubyte", {uint32_t(s.test), uint32_t(s.test_rows), uint32_t(s.cols)},
            pixels(s.test, s.test_rows, s.cols, 2), s.gzip);
  write_idx(dir / "t10k-labels-idx1-ubyte", {uint32_t(s.test)}, labels(s.test, s.classes, 1), s.gzip);
}

bool contains(const std::string& text, const std::string& phrase) { return text.find(phrase) != std::string::npos; }

class DatasetTest : public ::testing::Test {
 protected:
  void SetUp() override {
    static int counter = 0;
    const auto* info = ::testing::UnitTest::GetInstance()->current_test_info();
    dir_ = fs::temp_directory_path() /
           ("gpu_tune_dataset_" + std::to_string(::getpid()) + "_" + std::to_string(counter++) + "_" + info->name());
    fs::remove_all(dir_);
    fs::create_directories(dir_);
    old_cwd_ = fs::current_path();
    fs::current_path(dir_);  // so ./data/<name> is under our control
    if (const char* env = std::getenv("GPU_TUNE_DATA")) old_env_ = env;
    ::unsetenv("GPU_TUNE_DATA");
  }
  void TearDown() override {
    if (old_env_) {
      ::setenv("GPU_TUNE_DATA", old_env_->c_str(), 1);
    } else {
      ::unsetenv("GPU_TUNE_DATA");
    }
    fs::current_path(old_cwd_);
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }

  // A system root that does not exist keeps an installed copy of the data out of the lookup.
  fs::path no_system() const { return dir_ / "no-system-root"; }

  std::string error_of(const DatasetOptions& options) {
    try {
      load_dataset(options, no_system());
    } catch (const DataError& e) {
      return e.what();
    }
    ADD_FAILURE() << "expected a DataError";
    return {};
  }

  DatasetOptions options_for(const fs::path& dir, int64_t validation = 10) {
    DatasetOptions options;
    options.data_dir = dir;
    options.validation_size = validation;
    return options;
  }

  fs::path dir_, old_cwd_;
  std::optional<std::string> old_env_;
};

TEST_F(DatasetTest, ValidationIsTheTailOfTrain) {
  make_dataset(dir_ / "ds");
  const Dataset d = load_dataset(options_for(dir_ / "ds", 10), no_system());
  const auto all_train = pixels(50, 4, 3, 1);
  const auto all_train_labels = labels(50, 10, 0);

  EXPECT_EQ(d.directory, dir_ / "ds");
  EXPECT_EQ(d.name, "fashion-mnist");
  EXPECT_EQ(d.classes, 10);
  EXPECT_EQ(d.train.count, 40);
  EXPECT_EQ(d.validation.count, 10);
  EXPECT_EQ(d.test.count, 20);
  for (const auto* set : {&d.train, &d.validation, &d.test}) {
    EXPECT_EQ(set->rows, 4);
    EXPECT_EQ(set->cols, 3);
    EXPECT_EQ(set->features(), 12);
    EXPECT_EQ(set->images.size(), static_cast<size_t>(set->count) * 12);
    EXPECT_EQ(set->labels.size(), static_cast<size_t>(set->count));
  }
  EXPECT_EQ(d.train.images, std::vector<uint8_t>(all_train.begin(), all_train.begin() + 40 * 12));
  EXPECT_EQ(d.validation.images, std::vector<uint8_t>(all_train.begin() + 40 * 12, all_train.end()));
  EXPECT_EQ(d.train.labels, std::vector<uint8_t>(all_train_labels.begin(), all_train_labels.begin() + 40));
  EXPECT_EQ(d.validation.labels, std::vector<uint8_t>(all_train_labels.begin() + 40, all_train_labels.end()));
  EXPECT_EQ(d.test.images, pixels(20, 4, 3, 2));
  EXPECT_EQ(d.test.labels, labels(20, 10, 1));
}

TEST_F(DatasetTest, PixelStatisticsComeFromTrainSplitOnly) {
  make_dataset(dir_ / "ds");
  const Dataset d = load_dataset(options_for(dir_ / "ds", 15), no_system());
  const auto all_train = pixels(50, 4, 3, 1);
  auto stats = [](const std::vector<uint8_t>& v, size_t n) {
    double sum = 0, squares = 0;
    for (size_t i = 0; i < n; ++i) sum += v[i] / 255.0;
    const double mean = sum / n;
    for (size_t i = 0; i < n; ++i) squares += (v[i] / 255.0 - mean) * (v[i] / 255.0 - mean);
    return std::pair{mean, std::sqrt(squares / n)};
  };
  const auto [mean, stddev] = stats(all_train, 35 * 12);
  const auto [all_mean, all_stddev] = stats(all_train, all_train.size());
  ASSERT_GT(std::abs(mean - all_mean), 1e-4) << "test data cannot tell the splits apart";
  EXPECT_NEAR(d.pixel_mean, mean, 1e-6);
  EXPECT_NEAR(d.pixel_std, stddev, 1e-6);
}

TEST_F(DatasetTest, GzipFilesLoadTheSame) {
  Spec spec;
  spec.gzip = true;
  make_dataset(dir_ / "gz", spec);
  make_dataset(dir_ / "raw");
  const Dataset gz = load_dataset(options_for(dir_ / "gz"), no_system());
  const Dataset raw = load_dataset(options_for(dir_ / "raw"), no_system());
  EXPECT_EQ(gz.train.images, raw.train.images);
  EXPECT_EQ(gz.validation.labels, raw.validation.labels);
  EXPECT_EQ(gz.test.images, raw.test.images);
}

TEST_F(DatasetTest, ClassesAreMaxLabelPlusOneButAtLeastTwo) {
  Spec spec;
  spec.classes = 1;
  make_dataset(dir_ / "one", spec);
  EXPECT_EQ(load_dataset(options_for(dir_ / "one"), no_system()).classes, 2);
  spec.classes = 37;
  make_dataset(dir_ / "many", spec);
  EXPECT_EQ(load_dataset(options_for(dir_ / "many"), no_system()).classes, 37);
}

TEST_F(DatasetTest, ValidationSizeBounds) {
  make_dataset(dir_ / "ds");
  const Dataset none = load_dataset(options_for(dir_ / "ds", 0), no_system());
  EXPECT_EQ(none.train.count, 50);
  EXPECT_EQ(none.validation.count, 0);
  EXPECT_TRUE(none.validation.images.empty());

  const std::string too_big = error_of(options_for(dir_ / "ds", 50));
  EXPECT_TRUE(contains(too_big, "validation_size 50")) << too_big;
  EXPECT_TRUE(contains(too_big, "train-images-idx3-ubyte")) << too_big;
  const std::string negative = error_of(options_for(dir_ / "ds", -1));
  EXPECT_TRUE(contains(negative, "validation_size -1")) << negative;
}

TEST_F(DatasetTest, ImageAndLabelCountsMustAgree) {
  Spec spec;
  spec.train_labels = 49;
  make_dataset(dir_ / "ds", spec);
  const std::string message = error_of(options_for(dir_ / "ds"));
  EXPECT_TRUE(contains(message, "count")) << message;
  EXPECT_TRUE(contains(message, "train-images-idx3-ubyte")) << message;
  EXPECT_TRUE(contains(message, "train-labels-idx1-ubyte")) << message;
  EXPECT_TRUE(contains(message, "50 images")) << message;
  EXPECT_TRUE(contains(message, "49 labels")) << message;
}

TEST_F(DatasetTest, TrainAndTestImageSizesMustMatch) {
  Spec spec;
  spec.test_rows = 5;
  make_dataset(dir_ / "ds", spec);
  const std::string message = error_of(options_for(dir_ / "ds"));
  EXPECT_TRUE(contains(message, "image sizes differ")) << message;
  EXPECT_TRUE(contains(message, "4x3")) << message;
  EXPECT_TRUE(contains(message, "5x3")) << message;
}

TEST_F(DatasetTest, ArraysMustHaveTheRightRank) {
  make_dataset(dir_ / "flat-images");
  write_idx(dir_ / "flat-images" / "train-images-idx3-ubyte", {50, 12}, pixels(50, 4, 3, 1), false);
  const std::string images = error_of(options_for(dir_ / "flat-images"));
  EXPECT_TRUE(contains(images, "train-images-idx3-ubyte")) << images;
  EXPECT_TRUE(contains(images, "3-D")) << images;

  make_dataset(dir_ / "square-labels");
  write_idx(dir_ / "square-labels" / "t10k-labels-idx1-ubyte", {10, 2}, labels(20, 10, 1), false);
  const std::string lbls = error_of(options_for(dir_ / "square-labels"));
  EXPECT_TRUE(contains(lbls, "t10k-labels-idx1-ubyte")) << lbls;
  EXPECT_TRUE(contains(lbls, "1-D")) << lbls;
}

TEST_F(DatasetTest, FileErrorsPropagateWithTheFileName) {
  make_dataset(dir_ / "ds");
  std::ofstream(dir_ / "ds" / "t10k-images-idx3-ubyte", std::ios::binary | std::ios::app) << "xx";
  const std::string message = error_of(options_for(dir_ / "ds"));
  EXPECT_TRUE(contains(message, "t10k-images-idx3-ubyte")) << message;
  EXPECT_TRUE(contains(message, "trailing garbage")) << message;
}

// --- locate_dataset ---

TEST_F(DatasetTest, LocateOrderDataDirThenEnvThenLocalThenSystem) {
  make_dataset(dir_ / "explicit");
  make_dataset(dir_ / "from-env");
  make_dataset(dir_ / "data" / "fashion-mnist");
  make_dataset(dir_ / "system" / "fashion-mnist");
  DatasetOptions options;
  options.data_dir = dir_ / "explicit";
  ::setenv("GPU_TUNE_DATA", (dir_ / "from-env").c_str(), 1);
  EXPECT_EQ(locate_dataset(options, dir_ / "system"), dir_ / "explicit");

  options.data_dir.reset();
  EXPECT_EQ(locate_dataset(options, dir_ / "system"), dir_ / "from-env");

  ::unsetenv("GPU_TUNE_DATA");
  const fs::path local = locate_dataset(options, dir_ / "system");
  EXPECT_TRUE(local.is_absolute()) << local;
  EXPECT_TRUE(fs::equivalent(local, dir_ / "data" / "fashion-mnist")) << local;

  fs::remove_all(dir_ / "data");
  EXPECT_EQ(locate_dataset(options, dir_ / "system"), dir_ / "system" / "fashion-mnist");
}

TEST_F(DatasetTest, LocateUsesTheDatasetName) {
  make_dataset(dir_ / "data" / "kmnist");
  DatasetOptions options;
  options.name = "kmnist";
  EXPECT_TRUE(fs::equivalent(locate_dataset(options, no_system()), dir_ / "data" / "kmnist"));
  options.validation_size = 5;
  const Dataset d = load_dataset(options, no_system());
  EXPECT_EQ(d.name, "kmnist");
  EXPECT_EQ(d.validation.count, 5);
}

TEST_F(DatasetTest, MixedPlainAndGzipFilesCount) {
  make_dataset(dir_ / "mixed");
  Spec gz;
  gz.gzip = true;
  make_dataset(dir_ / "gz", gz);
  fs::remove(dir_ / "mixed" / "t10k-labels-idx1-ubyte");
  fs::copy_file(dir_ / "gz" / "t10k-labels-idx1-ubyte.gz", dir_ / "mixed" / "t10k-labels-idx1-ubyte.gz");
  EXPECT_EQ(load_dataset(options_for(dir_ / "mixed"), no_system()).test.labels, labels(20, 10, 1));
}

TEST_F(DatasetTest, DataDirThatLacksFilesIsAnErrorEvenWithOtherCopies) {
  make_dataset(dir_ / "from-env");
  make_dataset(dir_ / "data" / "fashion-mnist");
  ::setenv("GPU_TUNE_DATA", (dir_ / "from-env").c_str(), 1);
  fs::create_directories(dir_ / "half");
  write_idx(dir_ / "half" / "train-images-idx3-ubyte", {1, 1, 1}, {0}, false);
  DatasetOptions options;
  options.data_dir = dir_ / "half";
  try {
    locate_dataset(options, no_system());
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_TRUE(contains(message, (dir_ / "half").string())) << message;
    EXPECT_TRUE(contains(message, "t10k-labels-idx1-ubyte")) << message;
    EXPECT_FALSE(contains(message, "missing train-images")) << message;
  }
  options.data_dir = dir_ / "does-not-exist";
  try {
    locate_dataset(options, no_system());
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_TRUE(contains(e.what(), (dir_ / "does-not-exist").string())) << e.what();
    EXPECT_TRUE(contains(e.what(), "does not exist")) << e.what();
  }
}

TEST_F(DatasetTest, EnvDirThatLacksFilesIsAnError) {
  make_dataset(dir_ / "data" / "fashion-mnist");
  ::setenv("GPU_TUNE_DATA", (dir_ / "empty-env").c_str(), 1);
  try {
    locate_dataset(DatasetOptions{}, no_system());
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_TRUE(contains(e.what(), "GPU_TUNE_DATA")) << e.what();
    EXPECT_TRUE(contains(e.what(), (dir_ / "empty-env").string())) << e.what();
  }
}

TEST_F(DatasetTest, NothingFoundExplainsWhereAndHow) {
  try {
    locate_dataset(DatasetOptions{}, no_system());
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    const std::string message = e.what();
    EXPECT_TRUE(contains(message, "./data/fashion-mnist")) << message;
    EXPECT_TRUE(contains(message, (no_system() / "fashion-mnist").string())) << message;
    EXPECT_TRUE(contains(message, "sudo apt-get install dataset-fashion-mnist")) << message;
    EXPECT_TRUE(contains(message, "GPU_TUNE_DATA")) << message;
  }
  DatasetOptions other;
  other.name = "kmnist";
  try {
    locate_dataset(other, no_system());
    ADD_FAILURE() << "expected a DataError";
  } catch (const DataError& e) {
    EXPECT_TRUE(contains(e.what(), "./data/kmnist")) << e.what();
    EXPECT_FALSE(contains(e.what(), "apt-get")) << e.what();
  }
}

TEST_F(DatasetTest, DatasetNameMustBeAPlainFolderName) {
  for (const char* name : {"", "..", "../fashion-mnist", "a/b"}) {
    DatasetOptions options;
    options.name = name;
    try {
      locate_dataset(options, no_system());
      ADD_FAILURE() << "accepted dataset name '" << name << "'";
    } catch (const DataError& e) {
      EXPECT_TRUE(contains(e.what(), "invalid dataset name")) << e.what();
    }
  }
}

TEST_F(DatasetTest, InstalledFashionMnist) {
  const fs::path installed = fs::path(gpu_tune::data::kSystemDatasetRoot) / "fashion-mnist";
  if (!fs::exists(installed)) {
    GTEST_SKIP() << "Fashion-MNIST not installed (apt-get install dataset-fashion-mnist)";
  }
  DatasetOptions options;
  options.data_dir = installed;
  const Dataset d = load_dataset(options);
  EXPECT_EQ(d.train.count, 50000);
  EXPECT_EQ(d.validation.count, 10000);
  EXPECT_EQ(d.test.count, 10000);
  EXPECT_EQ(d.train.rows, 28);
  EXPECT_EQ(d.train.cols, 28);
  EXPECT_EQ(d.test.features(), 784);
  EXPECT_EQ(d.classes, 10);
  EXPECT_GT(d.pixel_mean, 0.25f);
  EXPECT_LT(d.pixel_mean, 0.32f);
  EXPECT_GT(d.pixel_std, 0.3f);
  EXPECT_LT(d.pixel_std, 0.4f);
}

}  // namespace
