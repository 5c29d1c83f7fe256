#include "search/suggestion_queue.h"

#include <utility>

namespace gpu_tune::search {

SuggestionQueue::SuggestionQueue(Sampler& sampler, const SearchSpace& space, Direction direction)
    : sampler_(sampler), space_(space), direction_(direction), thread_([this] { sample_loop(); }) {}

SuggestionQueue::~SuggestionQueue() {
  {
    std::lock_guard lock(mutex_);
    stopping_ = true;
  }
  work_.notify_all();
  thread_.join();
}

void SuggestionQueue::prepare(std::vector<TrialRecord> history, int64_t number) {
  {
    std::lock_guard lock(mutex_);
    Task task{std::move(history), number, {}};
    ready_.push_back(task.result.get_future());
    pending_.push_back(std::move(task));
  }
  work_.notify_one();
}

size_t SuggestionQueue::size() const {
  std::lock_guard lock(mutex_);
  return ready_.size();
}

std::future<ParamMap> SuggestionQueue::take() {
  std::lock_guard lock(mutex_);
  if (ready_.empty()) throw std::logic_error("SuggestionQueue::take: nothing was prepared");
  std::future<ParamMap> oldest = std::move(ready_.front());
  ready_.pop_front();
  return oldest;
}

void SuggestionQueue::sample_loop() {
  for (;;) {
    Task task;
    {
      std::unique_lock lock(mutex_);
      work_.wait(lock, [this] { return stopping_ || !pending_.empty(); });
      if (stopping_) return;
      task = std::move(pending_.front());
      pending_.pop_front();
    }
    // The suggestions this snapshot predates, as running trials (the constant liar).
    const int64_t known = static_cast<int64_t>(task.history.size());
    sampled_.erase(sampled_.begin(), sampled_.lower_bound(known));
    for (auto it = sampled_.begin(); it != sampled_.end() && it->first < task.number; ++it) {
      TrialRecord upcoming;
      upcoming.number = it->first;
      upcoming.state = TrialState::kRunning;
      upcoming.params = it->second;
      task.history.push_back(std::move(upcoming));
    }
    try {
      ParamMap params = sampler_.sample(space_, task.history, direction_, task.number);
      sampled_[task.number] = params;
      task.result.set_value(std::move(params));
    } catch (...) {
      task.result.set_exception(std::current_exception());
    }
  }
}

}  // namespace gpu_tune::search
