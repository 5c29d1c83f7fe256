#include "search/study_runner.h"

#include <exception>
#include <mutex>
#include <thread>

namespace gpu_tune::search {

StudyRunner::StudyRunner(Storage& storage, StudyInfo study, const SearchSpace& space, Sampler& sampler,
                         StudyBudget budget, ProgressCallback on_progress, const Pruner* pruner)
    : service_(storage, std::move(study), space, sampler, budget, std::move(on_progress), pruner) {}

StudyProgress StudyRunner::run(Objective& objective) { return run(std::vector<Objective*>{&objective}); }

void StudyRunner::run_worker(Objective& objective) {
  const std::string device = objective.device();
  objective.run([&](int slot) { return service_.ask(device, slot); }, service_);
}

StudyProgress StudyRunner::run(const std::vector<Objective*>& workers) {
  service_.recover_interrupted_trials();
  // Suggestions sampled ahead, one per device, so a freed slot takes one at once; one trial
  // at a time gains nothing from it and would lose the latest result.
  int slots = 0;
  for (const Objective* worker : workers) slots += worker->capacity();
  service_.set_prepared_suggestions(slots > 1 ? static_cast<int>(workers.size()) : 0);
  std::exception_ptr first_error;
  if (workers.size() == 1) {
    try {
      run_worker(*workers.front());
    } catch (...) {
      first_error = std::current_exception();
    }
  } else {
    std::mutex error_mutex;
    std::vector<std::thread> threads;
    threads.reserve(workers.size());
    for (Objective* worker : workers) {
      threads.emplace_back([&, worker] {
        try {
          run_worker(*worker);
        } catch (...) {
          // A failing device stops the study rather than leaving it to run on fewer devices
          // unnoticed: the user sees the error now, not at the end.
          service_.request_stop();
          std::lock_guard lock(error_mutex);
          if (!first_error) first_error = std::current_exception();
        }
      });
    }
    for (std::thread& thread : threads) thread.join();
  }
  stopped_ = service_.should_stop();
  // Whatever a stopped or failed worker left running is recorded before the error leaves;
  // if storage itself failed, that record may fail too, and the first error is the one
  // worth reporting (a resume marks the trials instead).
  try {
    service_.interrupt_unfinished_trials();
    service_.flush();
  } catch (...) {
    if (!first_error) throw;
  }
  if (first_error) std::rethrow_exception(first_error);
  return service_.progress();
}

}  // namespace gpu_tune::search
