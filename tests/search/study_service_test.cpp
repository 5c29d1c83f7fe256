// Several workers (one per device) sharing one study through the study service: no trial
// runs twice, the budget is met exactly, slots are refilled at once, a stop interrupts
// cleanly, a failing worker stops the rest; and one worker with a fixed seed stays
// deterministic.
#include "search/study_service.h"
#include "tests/search/study_fixtures.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <map>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>

#include "search/memory_storage.h"
#include "search/random_sampler.h"
#include "search/study_runner.h"
#include "search/tpe_sampler.h"

namespace gpu_tune::search {
namespace {

using testing::named;
using testing::one_dimension;

using Clock = std::chrono::steady_clock;
using std::chrono::milliseconds;

// A device with `capacity` slots whose trials take wall time (how long, the test says from
// the parameters): it asks whenever a slot is free, sleeps until the next trial ends, and
// stops at once when told to, as the engine and the command objective do.
class TimedWorker final : public Objective {
 public:
  TimedWorker(std::string device, int capacity, std::function<milliseconds(const ParamMap&)> duration)
      : device_(std::move(device)), capacity_(capacity), duration_(std::move(duration)) {}
  int capacity() const override { return capacity_; }
  std::string device() const override { return device_; }

  void run(const std::function<std::optional<TrialRequest>(int)>& next_trial, TrialReporter& reporter) override {
    struct Running {
      int64_t number;
      double value;
      Clock::time_point ends;
    };
    std::vector<std::optional<Running>> slots(static_cast<size_t>(capacity_));
    bool asking = true;
    for (;;) {
      if (reporter.should_stop()) return;
      for (int slot = 0; asking && slot < capacity_; ++slot) {
        if (slots[static_cast<size_t>(slot)]) continue;
        if (fail_after_first && !received.empty()) throw std::runtime_error("device " + device_ + " fell over");
        const std::optional<TrialRequest> request = next_trial(slot);
        if (!request) {
          asking = false;
          break;
        }
        received.push_back(request->number);
        const double x = std::get<double>(request->params.at("x"));
        slots[static_cast<size_t>(slot)] = Running{request->number, x * x, Clock::now() + duration_(request->params)};
      }
      Clock::time_point next = Clock::time_point::max();
      for (const auto& r : slots)
        if (r) next = std::min(next, r->ends);
      if (next == Clock::time_point::max()) return;
      std::this_thread::sleep_until(std::min(next, Clock::now() + milliseconds(5)));
      for (auto& r : slots) {
        if (!r || Clock::now() < r->ends) continue;
        reporter.report(r->number, {1, r->value, {}});
        reporter.finish(r->number, {TrialState::kComplete, r->value, {}, ""});
        r.reset();
      }
    }
  }

  std::vector<int64_t> received;  // trial numbers handed to this worker
  bool fail_after_first = false;

 private:
  std::string device_;
  int capacity_;
  std::function<milliseconds(const ParamMap&)> duration_;
};

// Trials of very different lengths: a fifth of the range 40 ms, the rest 4 ms.
milliseconds mixed_lengths(const ParamMap& params) {
  return std::get<double>(params.at("x")) > 0.6 ? milliseconds(40) : milliseconds(4);
}

TEST(StudyService, SeveralWorkersShareOneSamplerAndStudyAndMeetTheBudgetExactly) {
  MemoryStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("shared"));
  const SearchSpace space = one_dimension();
  TpeSampler sampler(TpeOptions{.seed = 4, .startup_trials = 5});
  TimedWorker a("cpu:0", 2, mixed_lengths), b("cpu:1", 2, mixed_lengths), c("cpu:2", 1, mixed_lengths);
  constexpr int64_t kBudget = 41;  // not a multiple of the 5 slots
  StudyRunner runner(storage, study, space, sampler, StudyBudget{kBudget, std::nullopt});
  const StudyProgress progress = runner.run({&a, &b, &c});

  EXPECT_EQ(progress.complete, kBudget);
  EXPECT_EQ(progress.running, 0);
  const std::vector<TrialRecord> trials = storage.trials(study.id);
  ASSERT_EQ(trials.size(), static_cast<size_t>(kBudget));
  std::map<int64_t, std::string> handed_to;
  for (const TimedWorker* worker : {&a, &b, &c}) {
    EXPECT_FALSE(worker->received.empty()) << worker->device() << " got no trial";
    for (const int64_t number : worker->received)
      EXPECT_TRUE(handed_to.emplace(number, worker->device()).second) << "trial " << number << " ran twice";
  }
  EXPECT_EQ(handed_to.size(), static_cast<size_t>(kBudget));
  for (const TrialRecord& t : trials) {
    EXPECT_EQ(t.state, TrialState::kComplete);
    EXPECT_EQ(t.device, handed_to[t.number]) << "trial " << t.number << " recorded on the wrong device";
  }

  // Occupancy: a slot is refilled as soon as its trial ends, and until the last trial
  // starts every slot is busy nearly all the time, short and long trials alike.
  std::map<std::pair<std::string, int>, std::vector<const TrialRecord*>> by_slot;
  double first_start = trials.front().started_at, last_start = 0;
  for (const TrialRecord& t : trials) {
    by_slot[{t.device, t.slot}].push_back(&t);
    first_start = std::min(first_start, t.started_at);
    last_start = std::max(last_start, t.started_at);
  }
  EXPECT_EQ(by_slot.size(), 5u);
  double busy = 0, largest_gap = 0;
  for (auto& [slot, list] : by_slot) {
    std::sort(list.begin(), list.end(), [](auto* l, auto* r) { return l->started_at < r->started_at; });
    for (size_t i = 0; i < list.size(); ++i) {
      busy += std::min(list[i]->finished_at, last_start) - std::max(list[i]->started_at, first_start);
      if (i == 0) continue;
      largest_gap = std::max(largest_gap, list[i]->started_at - list[i - 1]->finished_at);
      EXPECT_GE(list[i]->started_at, list[i - 1]->finished_at) << "two trials at once in one slot";
    }
  }
  const double occupancy = busy / (5 * (last_start - first_start));
  EXPECT_GT(occupancy, 0.85) << "slots stood idle while trials were left to run";
  EXPECT_LT(largest_gap, 0.1) << "a free slot waited " << largest_gap << " s for its next trial";
}

TEST(StudyService, OneWorkerWithAFixedSeedIsDeterministic) {
  auto run_once = [] {
    MemoryStorage storage;
    const StudyInfo study = storage.create_or_load_study(named("same"));
    const SearchSpace space = one_dimension();
    TpeSampler sampler(TpeOptions{.seed = 11, .startup_trials = 4});
    // Trials of no length end together, in slot order, like a bundle's in lockstep; with
    // lengths, the order would be the clock's.
    TimedWorker worker("cpu", 3, [](const ParamMap&) { return milliseconds(0); });
    StudyRunner runner(storage, study, space, sampler, StudyBudget{14, std::nullopt});
    runner.run(worker);
    return storage.trials(study.id);
  };
  const std::vector<TrialRecord> first = run_once();
  const std::vector<TrialRecord> second = run_once();
  ASSERT_EQ(first.size(), 14u);
  ASSERT_EQ(second.size(), first.size());
  std::set<double> distinct;
  for (size_t i = 0; i < first.size(); ++i) {
    EXPECT_EQ(first[i].params, second[i].params) << "trial " << i;
    EXPECT_EQ(first[i].value, second[i].value) << "trial " << i;
    EXPECT_EQ(first[i].slot, second[i].slot) << "trial " << i;
    distinct.insert(std::get<double>(first[i].params.at("x")));
  }
  EXPECT_EQ(distinct.size(), first.size()) << "the sampler repeated itself";
}

TEST(StudyService, AStopInterruptsRunningTrialsWhichDoNotCountAndAResumeFinishesTheBudget) {
  MemoryStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("stopped"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(2);
  std::atomic<bool> stop{false};
  {
    TimedWorker a("cpu:0", 2, [](const ParamMap&) { return milliseconds(20000); });
    TimedWorker b("cpu:1", 2, [](const ParamMap&) { return milliseconds(20000); });
    StudyRunner runner(storage, study, space, sampler, StudyBudget{10, std::nullopt});
    runner.set_stop_condition([&] { return stop.load(); });
    std::thread stopper([&] {
      // Once all four slots run, as after a Ctrl-C in the middle of a study.
      while (summarize(storage.trials(study.id), Direction::kMinimize).running < 4) std::this_thread::sleep_for(milliseconds(2));
      stop = true;
    });
    const Clock::time_point start = Clock::now();
    const StudyProgress progress = runner.run({&a, &b});
    stopper.join();
    EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 5.0);
    EXPECT_TRUE(runner.stopped());
    EXPECT_EQ(progress.running, 0);
    EXPECT_EQ(progress.interrupted, 4);
    EXPECT_EQ(progress.done(), 0) << "interrupted trials do not count toward the budget";
  }
  for (const TrialRecord& t : storage.trials(study.id)) {
    EXPECT_EQ(t.state, TrialState::kFailed);
    EXPECT_EQ(t.error, kInterruptedError);
  }
  TimedWorker a("cpu:0", 2, [](const ParamMap&) { return milliseconds(1); });
  TimedWorker b("cpu:1", 2, [](const ParamMap&) { return milliseconds(1); });
  StudyRunner resumed(storage, study, space, sampler, StudyBudget{10, std::nullopt});
  const StudyProgress progress = resumed.run({&a, &b});
  EXPECT_FALSE(resumed.stopped());
  EXPECT_EQ(progress.done(), 10);
  EXPECT_EQ(progress.complete, 10);
  EXPECT_EQ(storage.trials(study.id).size(), 14u);
}

TEST(StudyService, AFailingWorkerStopsTheOthersAndItsErrorReachesTheCaller) {
  MemoryStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("failing"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(5);
  TimedWorker healthy("cpu:0", 2, [](const ParamMap&) { return milliseconds(20000); });
  TimedWorker broken("cpu:1", 2, [](const ParamMap&) { return milliseconds(20000); });
  broken.fail_after_first = true;
  StudyRunner runner(storage, study, space, sampler, StudyBudget{10, std::nullopt});
  const Clock::time_point start = Clock::now();
  try {
    runner.run({&healthy, &broken});
    FAIL() << "the worker's error was lost";
  } catch (const std::runtime_error& e) {
    EXPECT_STREQ(e.what(), "device cpu:1 fell over");
  }
  EXPECT_LT(std::chrono::duration<double>(Clock::now() - start).count(), 5.0) << "the healthy worker was not stopped";
  const StudyProgress progress = summarize(storage.trials(study.id), Direction::kMinimize);
  EXPECT_EQ(progress.running, 0) << "every unfinished trial is recorded";
  EXPECT_EQ(progress.interrupted, progress.failed);
}

TEST(StudyService, AskHandsOutNothingOnceTheBudgetIsTakenOrTheStudyStops) {
  MemoryStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("asked"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(1);
  StudyService service(storage, study, space, sampler, StudyBudget{3, std::nullopt});
  const auto first = service.ask("cpu:0", 0);
  const auto second = service.ask("cpu:1", 0);
  ASSERT_TRUE(first && second);
  EXPECT_NE(first->number, second->number);
  EXPECT_EQ(service.in_flight(), 2);
  service.finish(first->number, {TrialState::kComplete, 0.5, {}, ""});
  ASSERT_TRUE(service.ask("cpu:0", 0).has_value());
  EXPECT_FALSE(service.ask("cpu:0", 1).has_value()) << "three trials are running or done";
  service.request_stop();
  EXPECT_TRUE(service.should_stop());
  EXPECT_EQ(service.interrupt_unfinished_trials(), 2);
  EXPECT_EQ(service.in_flight(), 0);
  const StudyProgress progress = service.progress();
  EXPECT_EQ(progress.complete, 1);
  EXPECT_EQ(progress.interrupted, 2);
  EXPECT_FALSE(service.ask("cpu:0", 0).has_value()) << "a stopping study starts nothing";
}

}  // namespace
}  // namespace gpu_tune::search
