// How many trials per second one study's storage sustains when N worker processes share it:
// each worker runs the real study service (claims under the budget, heartbeats, every step
// and outcome committed, the study re-read whenever another worker wrote) on an objective
// that ends at once. The figure bounds how many devices one study can keep fed; the storage
// (its commits and its re-reads) is all that is measured.
//
//   study_throughput --storage postgresql://... --workers 4 --trials 400
// prints one JSON object: workers, trials, seconds, trials_per_second.
#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "search/objective.h"
#include "search/sampler_factory.h"
#include "search/storage_url.h"
#include "search/study_config.h"
#include "search/study_runner.h"

namespace {

using namespace gpu_tune::search;

// Trials that end at once: `steps` intermediate values, then the value x^2.
class InstantObjective final : public Objective {
 public:
  InstantObjective(int slots, int steps) : slots_(slots), steps_(steps) {}
  int capacity() const override { return slots_; }
  std::string device() const override { return "cpu"; }
  void run(const std::function<std::optional<TrialRequest>(int)>& next_trial, TrialReporter& reporter) override {
    for (;;) {
      std::vector<TrialRequest> wave;
      for (int slot = 0; slot < slots_; ++slot)
        if (auto request = next_trial(slot)) wave.push_back(*request);
      if (wave.empty()) return;
      for (const TrialRequest& request : wave) {
        const double x = std::get<double>(request.params.at("x"));
        for (int step = 1; step <= steps_; ++step) reporter.report(request.number, {step, x * x + 1.0 / step, {}});
        reporter.finish(request.number, {TrialState::kComplete, x * x, {{"test_accuracy", 0.5}}, ""});
      }
    }
  }

 private:
  int slots_, steps_;
};

StudyConfig benchmark_study(const std::string& name, const std::string& sampler, int64_t trials) {
  return parse_study_config("study: " + name + "\nbudget: {trials: " + std::to_string(trials) +
                                "}\nsampler: {name: " + sampler + "}\nspace:\n  x: {distribution: uniform, low: -2, high: 2}\n",
                            "the benchmark's study");
}

int run_worker(const StorageLocation& location, const StudyConfig& config, const StudyInfo& info, int slots, int steps) {
  try {
    const std::unique_ptr<Storage> storage = open_storage(location);
    const std::unique_ptr<Sampler> sampler = make_sampler(config.sampler);
    StudyRunner runner(*storage, info, config.space, *sampler, StudyBudget(config.budget.trials));
    InstantObjective objective(slots, steps);
    runner.run(objective);
    return 0;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "worker %d: %s\n", static_cast<int>(getpid()), e.what());
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"Trials per second that one study's storage sustains with N worker processes"};
  std::string storage_text;
  int workers = 1, slots = 1, steps = 3;
  int64_t trials = 200;
  std::string sampler = "random";
  std::string study_name = "throughput";
  app.add_option("--storage", storage_text, "a SQLite file or a postgresql:// URL")->required();
  app.add_option("--workers", workers, "worker processes")->check(CLI::Range(1, 256));
  app.add_option("--trials", trials, "the study's budget")->check(CLI::Range(int64_t{1}, int64_t{1000000}));
  app.add_option("--slots", slots, "trials each worker runs at once")->check(CLI::Range(1, 64));
  app.add_option("--steps", steps, "intermediate values each trial reports")->check(CLI::Range(0, 1000));
  app.add_option("--sampler", sampler, "random (storage only) or tpe");
  app.add_option("--study", study_name, "the study's name (a new one per run)");
  CLI11_PARSE(app, argc, argv);

  try {
    const StorageLocation location = parse_storage_location(storage_text);
    const StudyConfig config = benchmark_study(study_name, sampler, trials);
    StudyInfo info;
    info.name = config.name;
    info.direction = config.direction;
    info.metric = config.metric;
    info.config = config.source_text;
    {
      // Created before the workers start, and closed: a connection must not cross fork().
      const std::unique_ptr<Storage> storage = open_storage(location);
      info = storage->create_or_load_study(info);
      if (!storage->trials(info.id).empty()) throw std::runtime_error("study '" + study_name + "' already has trials");
    }
    const auto started = std::chrono::steady_clock::now();
    std::vector<pid_t> children;
    for (int w = 0; w < workers; ++w) {
      const pid_t child = fork();
      if (child < 0) throw std::runtime_error("fork failed");
      if (child == 0) _exit(run_worker(location, config, info, slots, steps));
      children.push_back(child);
    }
    bool failed = false;
    for (const pid_t child : children) {
      int status = 0;
      waitpid(child, &status, 0);
      failed |= !(WIFEXITED(status) && WEXITSTATUS(status) == 0);
    }
    const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    const std::unique_ptr<Storage> storage = open_storage(location);
    int64_t complete = 0;
    for (const TrialRecord& trial : storage->trials(info.id)) complete += trial.state == TrialState::kComplete;
    if (failed || complete != trials) {
      std::cerr << "study_throughput: " << complete << " of " << trials << " trials complete"
                << (failed ? ", and a worker failed" : "") << "\n";
      return 1;
    }
    nlohmann::json result = {{"storage", location.is_sqlite() ? "sqlite" : "postgresql"},
                             {"workers", workers},
                             {"slots", slots},
                             {"steps", steps},
                             {"sampler", sampler},
                             {"trials", trials},
                             {"seconds", seconds},
                             {"trials_per_second", static_cast<double>(trials) / seconds}};
    std::cout << result.dump() << std::endl;
    return 0;
  } catch (const std::exception& e) {
    std::cerr << "study_throughput: " << e.what() << "\n";
    return 2;
  }
}
