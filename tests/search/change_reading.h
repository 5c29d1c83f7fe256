#pragma once
// Reading a study by what changed (Storage::trials_changed_since) the way a process keeps its
// copy, and comparing that copy with the study as stored.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "search/parameter_value.h"
#include "search/storage.h"
#include "search/study_history.h"

namespace gpu_tune::testing {

// Every field of every trial that storage keeps, one line per trial, so that two lists
// compare as text and a difference shows which trial and field.
inline std::string trials_text(const std::vector<search::TrialRecord>& trials) {
  std::ostringstream text;
  text.precision(17);
  for (const search::TrialRecord& t : trials) {
    text << t.number << " " << search::trial_state_name(t.state) << " value=";
    if (t.value) {
      text << *t.value;
    } else {
      text << "none";
    }
    text << " device=" << t.device << " slot=" << t.slot << " worker=" << t.worker << " error=" << t.error << " params:";
    for (const auto& [name, value] : t.params) text << " " << name << "=" << search::to_display_string(value);
    text << " metrics:";
    for (const auto& [name, value] : t.metrics) text << " " << name << "=" << value;
    text << " steps:";
    for (const search::StepRecord& step : t.steps) text << " " << step.step << "=" << step.value;
    text << " attributes:";
    for (const auto& [name, value] : t.attributes) text << " " << name << "=" << value;
    text << "\n";
  }
  return text.str();
}

// A process's copy of one study, brought up to date by reading what changed.
class ChangeReader {
 public:
  // Reads what changed since the last read (everything at first); returns the numbers read.
  std::vector<int64_t> read(search::Storage& storage, int64_t study) {
    search::TrialChanges changes = storage.trials_changed_since(study, copy_.changes_cursor());
    std::vector<int64_t> numbers;
    for (const search::TrialRecord& t : changes.trials) numbers.push_back(t.number);
    copy_.apply(std::move(changes));
    return numbers;
  }
  const std::vector<search::TrialRecord>& trials() const { return copy_.trials(); }
  uint64_t cursor() const { return copy_.changes_cursor(); }

 private:
  search::StudyHistory copy_;
};

// A study brought from schema version 1 holding trials 0 and 1 (change number 0): the first
// read takes both, a step of trial 1 is then read alone, and the copy equals the study.
inline void expect_old_trials_read_then_only_changes(search::Storage& storage, int64_t study) {
  ChangeReader reader;
  EXPECT_EQ(reader.read(storage, study), (std::vector<int64_t>{0, 1})) << "trials from version 1";
  storage.record_step(study, 1, {1, 0.5, {}});
  EXPECT_EQ(reader.read(storage, study), (std::vector<int64_t>{1}));
  EXPECT_EQ(reader.read(storage, study), (std::vector<int64_t>{}));
  EXPECT_EQ(trials_text(reader.trials()), trials_text(storage.trials(study)));
}

// Writers on their own connections (threads) start, step, give attributes to and finish
// trials while a reader on another connection keeps a copy by reading what changed; the copy
// must end equal to the study as stored. `open` opens a new connection to one storage.
inline void expect_a_copy_read_by_changes_to_match(const std::function<std::unique_ptr<search::Storage>()>& open) {
  constexpr int kWriters = 3, kTrialsEach = 20;
  const std::unique_ptr<search::Storage> setup = open();
  search::StudyInfo info;
  info.name = "read_by_changes";
  info.config = "name: read_by_changes\n";
  const int64_t study = setup->create_or_load_study(info).id;
  std::atomic<int> writing{kWriters};
  std::vector<std::thread> writers;
  for (int w = 0; w < kWriters; ++w) {
    writers.emplace_back([&, w] {
      const std::unique_ptr<search::Storage> storage = open();
      for (int i = 0; i < kTrialsEach; ++i) {
        const int64_t number = storage->start_trial(study, {{"x", 0.01 * i + w}}, "cpu:" + std::to_string(w), i).number;
        storage->record_step(study, number, {1, 1.0 / (i + 1), {}});
        storage->set_trial_attributes(study, number, {{"rung_0", 0.5 * i}});
        storage->record_step(study, number, {2, 0.5 / (i + 1), {}});
        if (i % 4 != 3)
          storage->finish_trial(study, number, i % 5 == 0 ? search::TrialState::kPruned : search::TrialState::kComplete,
                                0.1 * i + w, {{"accuracy", 0.9}}, "");
      }
      writing -= 1;
    });
  }
  const std::unique_ptr<search::Storage> reader_storage = open();
  ChangeReader reader;
  int reads = 0;
  while (writing > 0) {
    reader.read(*reader_storage, study);
    ++reads;
  }
  for (std::thread& writer : writers) writer.join();
  reader.read(*reader_storage, study);
  const std::vector<search::TrialRecord> stored = reader_storage->trials(study);
  EXPECT_EQ(stored.size(), static_cast<size_t>(kWriters * kTrialsEach));
  EXPECT_EQ(trials_text(reader.trials()), trials_text(stored)) << "after " << reads << " reads while writers wrote";
  EXPECT_TRUE(reader.read(*reader_storage, study).empty()) << "nothing changed since the last read";
}

}  // namespace gpu_tune::testing
