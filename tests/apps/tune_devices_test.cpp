// --devices and --slots: which workers a study gets, how its trials are spread over them,
// and CPU workers that each keep to one thread.
#include "apps/tune_devices.h"

#include <gtest/gtest.h>
#include <omp.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>
#include <sstream>
#include <thread>

#include "apps/engine_objective.h"
#include "apps/tune_command.h"
#include "engine/cpu_backend.h"
#include "engine/data/dataset.h"
#include "kernels/cpu_parallel.h"
#include "search/sqlite_storage.h"
#include "search/study_runner.h"
#include "tests/apps/idx_fixture.h"

// OpenBLAS's own count, when OpenBLAS is the CBLAS linked.
extern "C" int openblas_get_num_threads() __attribute__((weak));

namespace gpu_tune::app {
namespace {

namespace fs = std::filesystem;

TEST(SlotsPerDevice, SplitsParallelOrGivesEachDeviceItsSlotsUpToParallel) {
  EXPECT_EQ(slots_per_device(2, 8, std::nullopt), (std::vector<int>{4, 4}));
  EXPECT_EQ(slots_per_device(3, 8, std::nullopt), (std::vector<int>{3, 3, 2}));
  EXPECT_EQ(slots_per_device(4, 2, std::nullopt), (std::vector<int>{1, 1, 0, 0}));
  EXPECT_EQ(slots_per_device(1, 8, std::nullopt), (std::vector<int>{8}));
  EXPECT_EQ(slots_per_device(2, 8, 3), (std::vector<int>{3, 3}));
  EXPECT_EQ(slots_per_device(3, 8, 4), (std::vector<int>{4, 4, 0}));
}

TEST(SlotsForFreeMemory, AGpuTakesNoMoreSlotsThanEightyPercentOfItsFreeMemoryHolds) {
  constexpr size_t kMiB = size_t(1) << 20;
  EXPECT_EQ(slots_for_free_memory(1000 * kMiB, 100 * kMiB, 16), 8);  // 800 MiB of 100 MiB slots
  EXPECT_EQ(slots_for_free_memory(1000 * kMiB, 100 * kMiB, 8), 8);
  EXPECT_EQ(slots_for_free_memory(1000 * kMiB, 100 * kMiB, 5), 5) << "never more than the share";
  EXPECT_EQ(slots_for_free_memory(1000 * kMiB, 101 * kMiB, 16), 7) << "rounded down";
  EXPECT_EQ(slots_for_free_memory(1000 * kMiB, 900 * kMiB, 16), 1) << "at least one, even if it may not fit";
  EXPECT_EQ(slots_for_free_memory(0, 100 * kMiB, 4), 1);
  EXPECT_EQ(slots_for_free_memory(1000 * kMiB, 100 * kMiB, 0), 0) << "a device --parallel left idle stays idle";
  EXPECT_EQ(slots_for_free_memory(140ull << 30, 400 * kMiB, 1000), 286);  // an H200 and cnn_large-sized slots
}

TEST(TuneDevices, CpuFormsGiveOneWorkerOrNSingleThreadedOnes) {
  EngineOptions engine;
  std::ostringstream log;
  const std::vector<TuneDevice> one = open_tune_devices(std::string("cpu"), engine, log);
  ASSERT_EQ(one.size(), 1u);
  EXPECT_EQ(one[0].label, "cpu");
  EXPECT_FALSE(one[0].cpu_threads.has_value());
  EXPECT_EQ(one[0].backend->name(), "cpu");

  const std::vector<TuneDevice> three = open_tune_devices(std::string("cpu:3"), engine, log);
  ASSERT_EQ(three.size(), 3u);
  std::set<const Backend*> backends;
  for (size_t i = 0; i < three.size(); ++i) {
    EXPECT_EQ(three[i].label, "cpu:" + std::to_string(i));
    EXPECT_EQ(three[i].cpu_threads, 1);
    EXPECT_EQ(three[i].description, "CPU, 1 thread");
    backends.insert(three[i].backend.get());
  }
  EXPECT_EQ(backends.size(), 3u) << "each worker has its own backend";
}

TEST(TuneDevices, AllWithoutAGpuIsOneSingleThreadedWorkerPerThreadUpToTheTrialsAtOnce) {
  EngineOptions engine;
  engine.backend = "cpu";  // as on a machine without a GPU
  std::ostringstream log;
  const int threads = kernels::cpu_thread_count();
  const std::vector<TuneDevice> many = open_tune_devices(std::nullopt, engine, log, 64);
  ASSERT_EQ(static_cast<int>(many.size()), std::min(threads, 64));
  if (many.size() > 1) {
    for (size_t i = 0; i < many.size(); ++i) {
      EXPECT_EQ(many[i].label, "cpu:" + std::to_string(i));
      EXPECT_EQ(many[i].cpu_threads, 1);
    }
  }
  const std::vector<TuneDevice> one = open_tune_devices(std::nullopt, engine, log, 1);
  ASSERT_EQ(one.size(), 1u) << "one trial at a time: one worker on every thread";
  EXPECT_EQ(one[0].label, "cpu");
  EXPECT_FALSE(one[0].cpu_threads.has_value());
}

TEST(TuneDevices, BadFormsAndContradictionsNameTheFlag) {
  auto error_of = [](const std::string& devices, const std::string& backend = "auto") -> std::string {
    EngineOptions engine;
    engine.backend = backend;
    std::ostringstream log;
    try {
      open_tune_devices(devices, engine, log);
    } catch (const std::exception& e) {
      return e.what();
    }
    return "";
  };
  for (const char* bad : {"cpu:0", "cpu:two", "gpu", "0,,1", "-1", "0,0"}) {
    const std::string error = error_of(bad);
    EXPECT_NE(error.find("--devices '" + std::string(bad) + "'"), std::string::npos) << bad << ": " << error;
  }
  EXPECT_NE(error_of("0,0").find("twice"), std::string::npos);
  EXPECT_NE(error_of("cpu", "cuda").find("contradicts --backend cuda"), std::string::npos);
  EXPECT_NE(error_of("0", "cpu").find("contradicts --backend cpu"), std::string::npos);
  EXPECT_EQ(error_of("cpu:2", "cpu"), "") << "cpu:N with --backend cpu is fine";
#ifndef GPU_TUNE_WITH_CUDA
  EXPECT_NE(error_of("0").find("no GPU"), std::string::npos) << error_of("0");
#endif
}

// Records, from the worker's own thread, how many threads its kernels would use.
class ThreadCountReporter final : public search::TrialReporter {
 public:
  bool report(int64_t, const search::StepRecord&) override {
    kernel_threads.insert(kernels::cpu_thread_count());
    return true;
  }
  void finish(int64_t, const search::TrialOutcome& outcome) override { states.push_back(outcome.state); }
  std::set<int> kernel_threads;
  std::vector<search::TrialState> states;
};

TEST(TuneDevices, ACpuWorkerKeepsToItsOwnThreadCountAndBlasToOne) {
  const fs::path dir = fs::temp_directory_path() / ("gpu_tune_devices_" + std::to_string(::getpid()));
  testing::write_idx_dataset(dir / "data", 200, 50);
  data::DatasetOptions data_options;
  data_options.data_dir = dir / "data";
  data_options.validation_size = 50;
  const data::Dataset dataset = data::load_dataset(data_options);
  fs::remove_all(dir);

  const int main_threads = omp_get_max_threads();
  CpuBackend backend;
  EngineObjectiveOptions options;
  options.capacity = 2;
  options.training_defaults = {{"epochs", "2"}, {"model", "16"}};
  options.cpu_threads = 1;
  options.device_label = "cpu:0";
  EngineObjective objective(backend, dataset, options);
  EXPECT_EQ(objective.device(), "cpu:0");
  ThreadCountReporter reporter;
  int handed = 0;
  std::thread worker([&] {
    objective.run(
        [&](int) -> std::optional<search::TrialRequest> {
          if (handed == 3) return std::nullopt;
          return search::TrialRequest{handed++, {{"lr", 0.01}}};
        },
        reporter);
  });
  worker.join();
  EXPECT_EQ(reporter.states.size(), 3u);
  EXPECT_EQ(reporter.kernel_threads, (std::set<int>{1})) << "the worker's kernels ran on more than its one thread";
  EXPECT_EQ(omp_get_max_threads(), main_threads) << "a worker's setting leaked into other threads";
  if (openblas_get_num_threads != nullptr) {
    EXPECT_EQ(openblas_get_num_threads(), 1);
  }
}

TEST(TuneDevices, TwoCpuWorkersRunOneStudyThroughTheCommand) {
  const fs::path dir = fs::temp_directory_path() / ("gpu_tune_workers_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  testing::write_idx_dataset(dir / "data", 300, 60);
  std::ofstream(dir / "study.yaml") << R"(
study: workers
budget: {trials: 9, parallel: 4}
sampler: {name: tpe, seed: 2, startup_trials: 3}
training: {epochs: 2}
space:
  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-1}
  width1: {distribution: quniform, low: 8, high: 32, q: 8}
)";
  TuneOptions options;
  options.study_file = (dir / "study.yaml").string();
  options.storage = (dir / "study.db").string();
  options.engine.dataset.data_dir = dir / "data";
  options.engine.dataset.validation_size = 60;
  options.dataset_given = true;
  options.devices = "cpu:2";
  options.full = true;
  options.live_progress = false;
  std::ostringstream out, log;
  ASSERT_EQ(run_tune(options, out, log), 0) << log.str();
  EXPECT_NE(log.str().find("2 devices: cpu:0 (CPU, 1 thread, 2 slots), cpu:1 (CPU, 1 thread, 2 slots)"), std::string::npos)
      << log.str();
  EXPECT_NE(out.str().find("9/9 done"), std::string::npos) << out.str();

  search::SqliteStorage storage(dir / "study.db");
  const std::vector<search::TrialRecord> trials = storage.trials(storage.find_study("workers")->id);
  fs::remove_all(dir);
  ASSERT_EQ(trials.size(), 9u);
  std::map<std::string, int> per_device;
  for (const search::TrialRecord& t : trials) {
    EXPECT_EQ(t.state, search::TrialState::kComplete) << t.error;
    ++per_device[t.device];
    EXPECT_TRUE(t.slot == 0 || t.slot == 1) << t.slot;
  }
  EXPECT_EQ(per_device.size(), 2u);
  EXPECT_GT(per_device["cpu:0"], 0);
  EXPECT_GT(per_device["cpu:1"], 0);
}

TEST(TuneDevices, OneWorkerWithAFixedSeedGivesTheSameStudyTwice) {
  const fs::path dir = fs::temp_directory_path() / ("gpu_tune_same_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  testing::write_idx_dataset(dir / "data", 300, 60);
  std::ofstream(dir / "study.yaml") << R"(
study: same
budget: {trials: 8, parallel: 3}
sampler: {name: tpe, seed: 9, startup_trials: 3}
training: {epochs: 2}
space:
  lr: {distribution: loguniform, low: 1.0e-3, high: 1.0e-1}
  width1: {distribution: quniform, low: 8, high: 32, q: 8}
)";
  auto run_once = [&](const std::string& database) {
    TuneOptions options;
    options.study_file = (dir / "study.yaml").string();
    options.storage = (dir / database).string();
    options.engine.dataset.data_dir = dir / "data";
    options.engine.dataset.validation_size = 60;
    options.dataset_given = true;
    options.devices = "cpu";
    options.full = true;
    options.live_progress = false;
    std::ostringstream out, log;
    EXPECT_EQ(run_tune(options, out, log), 0) << log.str();
    search::SqliteStorage storage(dir / database);
    return storage.trials(storage.find_study("same")->id);
  };
  const std::vector<search::TrialRecord> first = run_once("first.db");
  const std::vector<search::TrialRecord> second = run_once("second.db");
  fs::remove_all(dir);
  ASSERT_EQ(first.size(), 8u);
  ASSERT_EQ(second.size(), first.size());
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].params, second[i].params) << "trial " << i;
    EXPECT_EQ(first[i].value, second[i].value) << "trial " << i;
    EXPECT_EQ(first[i].slot, second[i].slot) << "trial " << i;
    EXPECT_EQ(first[i].device, "cpu");
  }
}

TEST(TuneDevices, AnObjectiveCommandTakesNoDevices) {
  TuneOptions options;
  options.objective_command = "echo 1";
  options.devices = "cpu:2";
  std::ostringstream out, log;
  const fs::path dir = fs::temp_directory_path() / ("gpu_tune_nodevices_" + std::to_string(::getpid()));
  fs::create_directories(dir);
  std::ofstream(dir / "study.yaml") << "study: s\nspace:\n  x: {distribution: uniform, low: 0, high: 1}\n";
  options.study_file = (dir / "study.yaml").string();
  options.storage = (dir / "study.db").string();
  EXPECT_EQ(run_tune(options, out, log), 2);
  EXPECT_NE(log.str().find("--devices and --slots place the engine's trials"), std::string::npos) << log.str();
  EXPECT_FALSE(fs::exists(dir / "study.db"));
  fs::remove_all(dir);
}

}  // namespace
}  // namespace gpu_tune::app
