// What a device's thread no longer waits for: the study's history kept in memory (and read
// again only after another writer's change), writes committed by a thread of their own in
// batches, and suggestions sampled ahead on another thread, with the constant liar over the
// ones about to run.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <mutex>
#include <set>
#include <stdexcept>
#include <thread>
#include <vector>

#include "search/memory_storage.h"
#include "search/random_sampler.h"
#include "search/sqlite_storage.h"
#include "search/storage_writer.h"
#include "search/study_history.h"
#include "search/study_runner.h"
#include "search/study_service.h"
#include "search/suggestion_queue.h"
#include "tests/search/study_fixtures.h"
#include "tests/search/temp_directory.h"

namespace gpu_tune::search {
namespace {

using testing::named;
using testing::one_dimension;

using std::chrono::milliseconds;

// Everything but the clock's readings, which each side takes itself.
void expect_same_trials(const std::vector<TrialRecord>& kept, const std::vector<TrialRecord>& stored) {
  ASSERT_EQ(kept.size(), stored.size());
  for (size_t i = 0; i < kept.size(); ++i) {
    const TrialRecord& k = kept[i];
    const TrialRecord& s = stored[i];
    EXPECT_EQ(k.number, s.number);
    EXPECT_EQ(k.state, s.state) << "trial " << s.number;
    EXPECT_EQ(k.params, s.params) << "trial " << s.number;
    EXPECT_EQ(k.value, s.value) << "trial " << s.number;
    EXPECT_EQ(k.metrics, s.metrics) << "trial " << s.number;
    EXPECT_EQ(k.attributes, s.attributes) << "trial " << s.number;
    EXPECT_EQ(k.device, s.device) << "trial " << s.number;
    EXPECT_EQ(k.slot, s.slot) << "trial " << s.number;
    EXPECT_EQ(k.error, s.error) << "trial " << s.number;
    ASSERT_EQ(k.steps.size(), s.steps.size()) << "trial " << s.number;
    for (size_t j = 0; j < k.steps.size(); ++j) {
      EXPECT_EQ(k.steps[j].step, s.steps[j].step);
      EXPECT_EQ(k.steps[j].value, s.steps[j].value);
      EXPECT_EQ(k.steps[j].metrics, s.steps[j].metrics);
    }
    EXPECT_EQ(k.finished_at > 0, s.finished_at > 0) << "trial " << s.number;
  }
}

TEST(StudyHistory, AppliesEachWriteAsSqliteStorageDoes) {
  testing::TempDirectory directory("study_history");
  SqliteStorage storage(directory.path() / "study.db");
  const StudyInfo study = storage.create_or_load_study(named("mirrored"));
  StudyHistory history;
  history.reset(storage.trials(study.id));
  for (int i = 0; i < 4; ++i) history.add_started(storage.start_trial(study.id, {{"x", 0.1 * i}}, "cpu:1", i));
  // Steps out of order and a step reported again, attributes merged, every ending.
  for (const StepRecord& step : {StepRecord{2, 0.5, {{"seconds", 1.0}}}, StepRecord{1, 0.7, {}}, StepRecord{2, 0.4, {}}}) {
    storage.record_step(study.id, 0, step);
    history.record_step(0, step);
  }
  for (const auto& attributes : {std::map<std::string, double>{{"rung_0", 0.7}}, {{"rung_0", 0.6}, {"rung_1", 0.4}}}) {
    storage.set_trial_attributes(study.id, 0, attributes);
    history.set_attributes(0, attributes);
  }
  storage.finish_trial(study.id, 0, TrialState::kComplete, 0.4, {{"test_accuracy", 0.9}}, "");
  history.finish(0, TrialState::kComplete, 0.4, {{"test_accuracy", 0.9}}, "");
  storage.finish_trial(study.id, 1, TrialState::kPruned, 0.8, {}, "");
  history.finish(1, TrialState::kPruned, 0.8, {}, "");
  storage.finish_trial(study.id, 2, TrialState::kFailed, std::nullopt, {}, "loss became NaN");
  history.finish(2, TrialState::kFailed, std::nullopt, {}, "loss became NaN");
  expect_same_trials(history.trials(), storage.trials(study.id));

  // The checks storage makes, made here first.
  EXPECT_THROW(history.finish(0, TrialState::kComplete, 0.1, {}, ""), StorageError) << "trial 0 is not running";
  EXPECT_THROW(history.record_step(9, {1, 0.1, {}}), StorageError) << "there is no trial 9";
  EXPECT_THROW(history.finish(3, TrialState::kRunning, std::nullopt, {}, ""), StorageError);
}

TEST(StudyHistory, AMergeReplacesKnownTrialsAndPutsNewOnesInNumberOrder) {
  const auto trial = [](int64_t number, TrialState state) {
    TrialRecord t;
    t.number = number;
    t.state = state;
    return t;
  };
  StudyHistory history;
  history.reset({trial(0, TrialState::kComplete), trial(1, TrialState::kRunning)});
  // This process starts trial 3 while another process's trial 2 is not yet read.
  history.add_started(trial(3, TrialState::kRunning));
  history.merge({trial(1, TrialState::kComplete), trial(2, TrialState::kRunning), trial(4, TrialState::kRunning)});
  std::vector<int64_t> numbers;
  for (const TrialRecord& t : history.trials()) numbers.push_back(t.number);
  EXPECT_EQ(numbers, (std::vector<int64_t>{0, 1, 2, 3, 4}));
  EXPECT_EQ(history.find(1)->state, TrialState::kComplete) << "the stored trial replaces the copy";
  for (int64_t number = 0; number <= 4; ++number) EXPECT_EQ(history.find(number)->number, number);
  history.finish(2, TrialState::kPruned, 0.5, {}, "");  // found where the merge put it
  EXPECT_EQ(history.trials()[2].state, TrialState::kPruned);
}

// A storage that counts what it is asked and can be slowed or made to fail.
class CountingStorage final : public Storage {
 public:
  StudyInfo create_or_load_study(const StudyInfo& s) override { return inner.create_or_load_study(s); }
  std::optional<StudyInfo> find_study(const std::string& name) override { return inner.find_study(name); }
  TrialRecord start_trial(int64_t id, const ParamMap& p, const std::string& d, int slot) override {
    return inner.start_trial(id, p, d, slot);
  }
  std::optional<TrialRecord> claim_trial(int64_t id, const ParamMap& p, const std::string& d, int slot, int64_t budget,
                                         const std::string& uncounted) override {
    return inner.claim_trial(id, p, d, slot, budget, uncounted);
  }
  TrialRecord enqueue_trial(int64_t id, const ParamMap& p, const std::map<std::string, double>& a) override {
    return inner.enqueue_trial(id, p, a);
  }
  void heartbeat(int64_t id) override { inner.heartbeat(id); }
  std::vector<int64_t> fail_stale_trials(int64_t id, const std::string& reason, double grace,
                                         const std::function<bool(const std::string&)>& is_dead) override {
    return inner.fail_stale_trials(id, reason, grace, is_dead);
  }
  void record_step(int64_t id, int64_t n, const StepRecord& step) override {
    std::this_thread::sleep_for(write_delay);
    if (fail_steps) throw StorageError("record_step: the disk is full");
    inner.record_step(id, n, step);
    step_writes += 1;
  }
  void set_trial_attributes(int64_t id, int64_t n, const std::map<std::string, double>& a) override {
    inner.set_trial_attributes(id, n, a);
  }
  void finish_trial(int64_t id, int64_t n, TrialState s, std::optional<double> v, const std::map<std::string, double>& m,
                    const std::string& e, std::optional<double> at = std::nullopt) override {
    inner.finish_trial(id, n, s, v, m, e, at);
  }
  std::vector<TrialRecord> trials(int64_t id) override {
    reads += 1;
    return inner.trials(id);
  }
  TrialChanges trials_changed_since(int64_t id, uint64_t cursor) override {
    reads += 1;
    TrialChanges changes = inner.trials_changed_since(id, cursor);
    trials_read += static_cast<int>(changes.trials.size());
    return changes;
  }
  uint64_t others_version() override { return version; }
  void write_batch(const std::function<void()>& writes) override {
    batches += 1;
    // An outage: nothing of the batch is written.
    if (unavailable_batches > 0) {
      unavailable_batches -= 1;
      throw StorageUnavailable("write_batch: no connection to the server");
    }
    writes();
  }

  MemoryStorage inner;
  std::atomic<int> reads{0}, batches{0}, step_writes{0};
  std::atomic<int> trials_read{0};  // by trials_changed_since
  std::atomic<uint64_t> version{0};  // a test changes it to stand for another writer
  milliseconds write_delay{0};
  bool fail_steps = false;
  std::atomic<int> unavailable_batches{0};  // this many commits fail as if the server were gone
};

TEST(StorageWriter, QueuedWritesReturnAtOnceAndCommitTogetherInOrder) {
  CountingStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("queued"));
  const int64_t number = storage.start_trial(study.id, {{"x", 0.5}}, "cpu", 0).number;
  storage.write_delay = milliseconds(20);
  StorageWriter writer(storage);
  const auto start = std::chrono::steady_clock::now();
  for (int step = 1; step <= 10; ++step)
    writer.enqueue([&, step](Storage& s) { s.record_step(study.id, number, {step, 1.0 / step, {}}); });
  const double queued = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  EXPECT_LT(queued, 0.1) << "enqueue waited for ten 20 ms writes";
  writer.flush();
  EXPECT_EQ(storage.step_writes, 10);
  EXPECT_LT(storage.batches, 10) << "writes that queued up together are one batch";
  const std::vector<TrialRecord> trials = storage.inner.trials(study.id);
  ASSERT_EQ(trials[0].steps.size(), 10u);
  for (int step = 1; step <= 10; ++step) EXPECT_EQ(trials[0].steps[step - 1].step, step);
}

TEST(StorageWriter, AFailedWriteIsReportedAndNothingMoreIsWritten) {
  CountingStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("failing"));
  const int64_t number = storage.start_trial(study.id, {{"x", 0.5}}, "cpu", 0).number;
  storage.fail_steps = true;
  StorageWriter writer(storage);
  writer.enqueue([&](Storage& s) { s.record_step(study.id, number, {1, 0.5, {}}); });
  try {
    writer.flush();
    FAIL() << "the failure was lost";
  } catch (const StorageError& e) {
    EXPECT_STREQ(e.what(), "record_step: the disk is full");
  }
  EXPECT_THROW(writer.enqueue([](Storage&) {}), StorageError);
  EXPECT_THROW(writer.use([](Storage&) { return 0; }), StorageError);
}

TEST(StorageWriter, WritesThatMeetAnOutageAreHeldAndCommittedOnceTheStorageAnswers) {
  CountingStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("outage"));
  const int64_t number = storage.start_trial(study.id, {{"x", 0.5}}, "cpu", 0).number;
  storage.unavailable_batches = 3;
  std::atomic<int> held_reports{0};
  {
    StorageWriter writer(storage);
    writer.set_on_held([&](size_t writes, const std::string& error) {
      EXPECT_EQ(writes, 1u);
      EXPECT_NE(error.find("no connection"), std::string::npos) << error;
      held_reports += 1;
    });
    // One write, so that no second enqueue can meet the outage's failure first.
    writer.enqueue([&](Storage& s) {
      s.record_step(study.id, number, {1, 0.5, {}});
      s.finish_trial(study.id, number, TrialState::kComplete, 0.5, {}, "");
    });
    // The study learns of the outage (and stops starting trials) ...
    EXPECT_THROW(writer.flush(), StorageUnavailable);
    EXPECT_THROW(writer.enqueue([](Storage&) {}), StorageUnavailable);
  }  // ... and the writer, even while it is destroyed, commits what it holds once it can.
  EXPECT_EQ(held_reports, 3);
  const std::vector<TrialRecord> trials = storage.inner.trials(study.id);
  EXPECT_EQ(trials[0].state, TrialState::kComplete) << "the finished trial's result was lost";
  EXPECT_EQ(trials[0].steps.size(), 1u);
}

TEST(StorageWriter, AfterCommitRunsOnceCommittedInOrderAndBeforeFlushReturns) {
  CountingStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("after_commit"));
  const int64_t number = storage.start_trial(study.id, {{"x", 0.5}}, "cpu", 0).number;
  storage.write_delay = milliseconds(5);
  std::vector<int> told;  // the steps stored when each callback ran
  {
    StorageWriter writer(storage);
    for (int step = 1; step <= 5; ++step)
      writer.enqueue([&, step](Storage& s) { s.record_step(study.id, number, {step, 1.0, {}}); },
                     [&] { told.push_back(storage.step_writes.load()); });
    writer.flush();
    EXPECT_EQ(told.size(), 5u) << "flush returned before every callback ran";
  }
  ASSERT_EQ(told.size(), 5u);
  for (size_t i = 0; i < told.size(); ++i) EXPECT_GE(told[i], static_cast<int>(i) + 1) << "told before its commit";
  // A commit that fails tells nothing.
  storage.fail_steps = true;
  bool failed_told = false;
  StorageWriter writer(storage);
  writer.enqueue([&](Storage& s) { s.record_step(study.id, number, {6, 1.0, {}}); }, [&] { failed_told = true; });
  EXPECT_THROW(writer.flush(), StorageError);
  EXPECT_FALSE(failed_told) << "a write that was never committed was told";
}

// Records the history each suggestion was sampled from, and the thread it ran on.
class RecordingSampler final : public Sampler {
 public:
  std::string name() const override { return "recording"; }
  ParamMap sample(const SearchSpace&, std::span<const TrialRecord> history, Direction, int64_t number) override {
    std::lock_guard lock(mutex);
    if (fail) throw std::runtime_error("sampler broke");
    std::set<int64_t> running;
    for (const TrialRecord& t : history)
      if (t.state == TrialState::kRunning) running.insert(t.number);
    seen_running[number] = running;
    threads.insert(std::this_thread::get_id());
    return {{"x", 0.01 * static_cast<double>(number)}};
  }
  std::mutex mutex;
  std::map<int64_t, std::set<int64_t>> seen_running;
  std::set<std::thread::id> threads;
  bool fail = false;
};

TEST(SuggestionQueue, EachSuggestionSeesTheOnesPreparedBeforeItAsRunning) {
  RecordingSampler sampler;
  const SearchSpace space = one_dimension();
  SuggestionQueue queue(sampler, space, Direction::kMinimize);
  std::vector<TrialRecord> history(2);
  history[0].number = 0;
  history[0].state = TrialState::kComplete;
  history[1].number = 1;
  history[1].state = TrialState::kRunning;
  queue.prepare(history, 2);
  queue.prepare(history, 3);
  queue.prepare(history, 4);
  EXPECT_EQ(queue.size(), 3u);
  EXPECT_EQ(std::get<double>(queue.take().get().at("x")), 0.02);
  EXPECT_EQ(std::get<double>(queue.take().get().at("x")), 0.03);
  // A later snapshot that holds trial 2 as started: only 3 and 4 are added.
  TrialRecord started;
  started.number = 2;
  started.state = TrialState::kRunning;
  history.push_back(started);
  queue.prepare(history, 5);
  EXPECT_EQ(std::get<double>(queue.take().get().at("x")), 0.04);
  EXPECT_EQ(std::get<double>(queue.take().get().at("x")), 0.05);
  EXPECT_EQ(queue.size(), 0u);
  EXPECT_EQ(sampler.seen_running[2], (std::set<int64_t>{1}));
  EXPECT_EQ(sampler.seen_running[3], (std::set<int64_t>{1, 2}));
  EXPECT_EQ(sampler.seen_running[4], (std::set<int64_t>{1, 2, 3}));
  EXPECT_EQ(sampler.seen_running[5], (std::set<int64_t>{1, 2, 3, 4}));
  EXPECT_FALSE(sampler.threads.contains(std::this_thread::get_id()));

  sampler.fail = true;
  queue.prepare(history, 6);
  EXPECT_THROW(queue.take().get(), std::runtime_error) << "a sampler's error reaches the one who waits";
}

// Trials that end at once with value x^2, in `capacity` slots, on the calling thread.
class InstantWorker final : public Objective {
 public:
  InstantWorker(int capacity, int steps) : capacity_(capacity), steps_(steps) {}
  int capacity() const override { return capacity_; }
  std::string device() const override { return "cpu"; }
  void run(const std::function<std::optional<TrialRequest>(int)>& next_trial, TrialReporter& reporter) override {
    thread = std::this_thread::get_id();
    for (;;) {
      std::vector<TrialRequest> wave;
      for (int slot = 0; slot < capacity_; ++slot)
        if (auto request = next_trial(slot)) wave.push_back(*request);
      if (wave.empty()) return;
      for (const TrialRequest& r : wave) {
        const double x = std::get<double>(r.params.at("x"));
        bool go_on = true;
        for (int step = 1; step <= steps_ && go_on; ++step) go_on = reporter.report(r.number, {step, x * x + 1.0 / step, {}});
        reporter.finish(r.number, {go_on ? TrialState::kComplete : TrialState::kPruned, x * x, {}, ""});
      }
    }
  }
  std::thread::id thread;

 private:
  int capacity_, steps_;
};

TEST(StudyService, ReadsTheStudyOnceWhileNoOtherWriterChangesIt) {
  CountingStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("read_once"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(3);
  InstantWorker worker(4, 3);
  StudyRunner runner(storage, study, space, sampler, StudyBudget{40, std::nullopt});
  runner.run(worker);
  EXPECT_EQ(summarize(storage.inner.trials(study.id), Direction::kMinimize).complete, 40);
  EXPECT_EQ(storage.reads, 1) << "40 trials of 3 steps each read the study again";
}

TEST(StudyService, AnotherWritersChangeIsReadBeforeTheNextTrialStarts) {
  CountingStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("shared"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(3);
  StudyService service(storage, study, space, sampler, StudyBudget{3, std::nullopt});
  ASSERT_TRUE(service.ask("cpu", 0).has_value());
  // Another process starts two trials of the study.
  storage.inner.start_trial(study.id, {{"x", 0.1}}, "elsewhere", 0);
  storage.inner.start_trial(study.id, {{"x", 0.2}}, "elsewhere", 1);
  storage.version = 1;
  EXPECT_FALSE(service.ask("cpu", 1).has_value()) << "the budget of 3 is taken by the other writer's 2";
  EXPECT_EQ(service.progress().running, 3);
}

TEST(StudyService, ReadsOnlyTheTrialsAnotherWriterChanged) {
  CountingStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("changed_only"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(3);
  // Another process's finished trials, there before this one starts.
  for (int i = 0; i < 10; ++i) {
    storage.inner.start_trial(study.id, {{"x", 0.1 * i}}, "elsewhere", 0);
    storage.inner.finish_trial(study.id, i, TrialState::kComplete, 0.01 * i, {}, "");
  }
  StudyService service(storage, study, space, sampler, StudyBudget{20, std::nullopt});
  EXPECT_EQ(storage.trials_read, 10) << "the first read is the whole study";
  const std::optional<TrialRequest> mine = service.ask("cpu", 0);
  ASSERT_TRUE(mine.has_value());
  // The other process starts trial 11 and reports a step of it; its ten old trials stay
  // as they were.
  storage.inner.start_trial(study.id, {{"x", 0.5}}, "elsewhere", 1);
  storage.inner.record_step(study.id, 11, {1, 0.2, {}});
  storage.version = 1;
  storage.trials_read = 0;
  ASSERT_TRUE(service.ask("cpu", 1).has_value());
  // The other writer's new trial, and this process's own trial 10 (it changed since the
  // last read too: this process started it); not the ten old ones.
  EXPECT_EQ(storage.trials_read, 2) << "the second read took unchanged trials along";
  EXPECT_EQ(service.progress().running, 3);
  EXPECT_EQ(service.progress().complete, 10);
  // What the service knows equals the study as stored: the next read finds only its own
  // trial 12.
  storage.version = 2;
  storage.trials_read = 0;
  ASSERT_TRUE(service.ask("cpu", 2).has_value());
  EXPECT_EQ(storage.trials_read, 1);
  EXPECT_EQ(service.progress().running, 4);
}

TEST(StudyService, SuggestionsAreSampledAheadOffTheDevicesThread) {
  MemoryStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("ahead"));
  const SearchSpace space = one_dimension();
  RecordingSampler sampler;
  InstantWorker worker(3, 1);
  StudyRunner runner(storage, study, space, sampler, StudyBudget{12, std::nullopt});
  runner.run(worker);
  EXPECT_EQ(summarize(storage.trials(study.id), Direction::kMinimize).complete, 12);
  EXPECT_FALSE(sampler.threads.contains(worker.thread)) << "the device's thread ran the sampler";
  EXPECT_EQ(sampler.seen_running.size(), 12u) << "a suggestion was sampled that no trial used";
}

TEST(StudyService, NoTrialStartsOnceTheTargetIsReached) {
  MemoryStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("target"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(8);
  InstantWorker worker(1, 1);
  std::vector<std::string> events;
  const StudyBudget budget{500, std::nullopt, 0.01};  // target |x| <= 0.1: one uniform draw in ten
  StudyRunner runner(storage, study, space, sampler, budget,
                     [&](const StudyProgress&, const std::string& event) { events.push_back(event); });
  const StudyProgress progress = runner.run(worker);
  ASSERT_TRUE(progress.best_value.has_value());
  EXPECT_LE(*progress.best_value, 0.01);
  EXPECT_LT(progress.done(), 500);
  const std::vector<TrialRecord> trials = storage.trials(study.id);
  EXPECT_EQ(trials.back().number, progress.best_trial) << "a trial started after the target was reached";
  EXPECT_NE(std::find_if(events.begin(), events.end(), [](const std::string& e) { return e.starts_with("target reached"); }),
            events.end());
}

}  // namespace
TEST(StudyService, AFinishedTrialIsToldOnlyOnceItsResultIsStored) {
  CountingStorage storage;
  const StudyInfo study = storage.create_or_load_study(named("told_when_stored"));
  const SearchSpace space = one_dimension();
  RandomSampler sampler(5);
  storage.write_delay = milliseconds(2);
  std::atomic<int> finished_events{0}, told_before_stored{0};
  auto stored = [&](int64_t number) {
    for (const TrialRecord& t : storage.inner.trials(study.id))
      if (t.number == number) return t.state == TrialState::kComplete;
    return false;
  };
  InstantWorker worker(3, 2);
  StudyRunner runner(storage, study, space, sampler, StudyBudget{12, std::nullopt},
                     [&](const StudyProgress&, const std::string& line) {
                       if (line.find("complete") == std::string::npos) return;
                       const int64_t number = std::stoll(line.substr(line.find(' ') + 1));
                       if (!stored(number)) told_before_stored += 1;
                     });
  runner.set_event_listener([&](const StudyEvent& event, const StudyProgress&) {
    if (event.kind != StudyEvent::Kind::kTrialFinished) return;
    finished_events += 1;
    if (!stored(event.trial)) told_before_stored += 1;
  });
  runner.run(worker);
  EXPECT_EQ(finished_events, 12) << "every finished trial is told by the time run() returns";
  EXPECT_EQ(told_before_stored, 0) << "a trial was told finished before its result was committed";
}

}  // namespace gpu_tune::search
