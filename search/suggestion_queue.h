#pragma once
// Trials' parameters sampled ahead, on a thread of the queue's own and in the order asked
// for, so that a device freeing a slot takes a ready suggestion instead of waiting while
// TPE fits its densities.
//
// Each suggestion is sampled from the history handed to prepare() (a snapshot taken when it
// was asked for), plus, as running trials, the suggestions prepared before it that the
// snapshot does not hold yet: the constant liar covers trials that are about to start, not
// only those running. With one worker the snapshots follow from the seed alone, so a study
// stays deterministic. The price is staleness: a suggestion does not know the results that
// came in between its snapshot and its use (at most the few trials that end meanwhile).
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <future>
#include <map>
#include <mutex>
#include <thread>
#include <vector>

#include "search/sampler.h"

namespace gpu_tune::search {

class SuggestionQueue {
 public:
  // The sampler is used only by the queue's thread while the queue exists.
  SuggestionQueue(Sampler& sampler, const SearchSpace& space, Direction direction);
  ~SuggestionQueue();  // waits for a sample in progress; drops the rest
  SuggestionQueue(const SuggestionQueue&) = delete;
  SuggestionQueue& operator=(const SuggestionQueue&) = delete;

  // Queues the sampling of trial `number` from `history` (numbers 0 .. history.size()-1 as in
  // a single-writer study). Suggestions prepared earlier with numbers from history.size()
  // on join it as running trials.
  void prepare(std::vector<TrialRecord> history, int64_t number);
  // Prepared or being prepared, not yet taken.
  size_t size() const;
  // The oldest suggestion not yet taken; get() waits for it (and rethrows a sampler error).
  // Call get() without holding a lock that prepare() callers need.
  std::future<ParamMap> take();

 private:
  struct Task {
    std::vector<TrialRecord> history;
    int64_t number;
    std::promise<ParamMap> result;
  };
  void sample_loop();

  Sampler& sampler_;
  const SearchSpace& space_;
  const Direction direction_;

  mutable std::mutex mutex_;  // guards what follows
  std::condition_variable work_;
  std::deque<Task> pending_;                  // waiting for the thread
  std::deque<std::future<ParamMap>> ready_;   // one per prepare(), in order, until taken
  bool stopping_ = false;

  std::map<int64_t, ParamMap> sampled_;  // the thread's own: what it sampled, by number

  std::thread thread_;  // last: started once the rest exists
};

}  // namespace gpu_tune::search
