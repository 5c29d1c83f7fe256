#pragma once
// One storage object used by a second thread while the first is inside an operation: the
// second is refused by name, and the first finishes undisturbed (connection_claim.h). Shared
// by the SQLite and PostgreSQL storages' tests.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "search/storage.h"
#include "search/study_progress.h"

namespace gpu_tune::testing {

inline void expect_a_second_thread_refused(search::Storage& storage, int64_t study_id) {
  storage.start_trial(study_id, {{"x", 0.5}}, "cpu", 0);
  std::atomic<bool> inside{false}, release{false};
  std::vector<int64_t> stale;
  // fail_stale_trials asks is_dead about the running trial inside its transaction: the
  // thread waits there, in the middle of the operation.
  std::thread first([&] {
    stale = storage.fail_stale_trials(study_id, search::kInterruptedError, 3600.0, [&](const std::string&) {
      inside = true;
      while (!release) std::this_thread::sleep_for(std::chrono::milliseconds(1));
      return true;
    });
  });
  while (!inside) std::this_thread::sleep_for(std::chrono::milliseconds(1));
  const std::vector<std::pair<std::string, std::function<void()>>> operations = {
      {"trials", [&] { storage.trials(study_id); }},
      {"others_version", [&] { storage.others_version(); }},
      {"find_study", [&] { storage.find_study("shared"); }},
  };
  for (const auto& [operation, call] : operations) {
    try {
      call();
      ADD_FAILURE() << operation << " ran on a second thread inside the first thread's operation";
    } catch (const search::StorageError& e) {
      EXPECT_NE(std::string(e.what()).find(operation + ": the storage object is in use by another thread"),
                std::string::npos)
          << e.what();
    }
  }
  release = true;
  first.join();
  EXPECT_EQ(stale, std::vector<int64_t>{0}) << "the first thread's operation was not disturbed";
  EXPECT_EQ(storage.trials(study_id).at(0).state, search::TrialState::kFailed) << "the connection serves the next caller";
}

}  // namespace gpu_tune::testing
