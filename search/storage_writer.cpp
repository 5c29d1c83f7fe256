#include "search/storage_writer.h"

#include <algorithm>
#include <chrono>
#include <utility>

namespace gpu_tune::search {

StorageWriter::StorageWriter(Storage& storage) : storage_(storage), thread_([this] { commit_loop(); }) {}

StorageWriter::~StorageWriter() {
  {
    std::lock_guard lock(queue_mutex_);
    stopping_ = true;
  }
  queued_.notify_all();
  thread_.join();
}

void StorageWriter::rethrow_failure() {
  std::lock_guard lock(queue_mutex_);
  if (failure_) std::rethrow_exception(failure_);
}

void StorageWriter::enqueue(Write write, std::function<void()> after_commit) {
  {
    std::lock_guard lock(queue_mutex_);
    if (failure_) std::rethrow_exception(failure_);
    queue_.push_back({std::move(write), std::move(after_commit)});
  }
  queued_.notify_one();
}

void StorageWriter::flush() {
  std::unique_lock lock(queue_mutex_);
  idle_.wait(lock, [this] { return failure_ || (queue_.empty() && !committing_); });
  if (failure_) std::rethrow_exception(failure_);
}

void StorageWriter::commit_loop() {
  auto pause = std::chrono::milliseconds(100);
  for (;;) {
    std::deque<Pending> batch;
    {
      std::unique_lock lock(queue_mutex_);
      queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is committed
      if (failure_ && !holding_) {
        queue_.clear();  // nothing more is written after a failure
        idle_.notify_all();
        continue;
      }
      batch.swap(queue_);
      committing_ = true;
    }
    std::exception_ptr error;
    bool unavailable = false;
    {
      std::lock_guard lock(storage_mutex_);
      try {
        storage_.write_batch([&] {
          for (Pending& pending : batch) pending.write(storage_);
        });
      } catch (const StorageUnavailable&) {
        error = std::current_exception();
        unavailable = true;
      } catch (...) {
        error = std::current_exception();
      }
    }
    if (!error) {
      // Committed: now what depended on it may be told (before flush() can return).
      for (Pending& pending : batch) {
        if (!pending.after_commit) continue;
        try {
          pending.after_commit();
        } catch (...) {
          // A listener's failure is not the storage's: the writes stand, the writer goes on.
        }
      }
    }
    std::string held_error;
    size_t held = 0;
    {
      std::lock_guard lock(queue_mutex_);
      committing_ = false;
      if (unavailable) {
        // Held, in order, ahead of anything queued meanwhile: tried again below.
        for (auto write = batch.rbegin(); write != batch.rend(); ++write) queue_.push_front(std::move(*write));
        held = queue_.size();
        try {
          std::rethrow_exception(error);
        } catch (const StorageUnavailable& e) {
          held_error = e.what();
        }
      }
      holding_ = unavailable;
      if (error && !failure_) failure_ = error;
    }
    idle_.notify_all();
    if (unavailable) {
      if (on_held_) on_held_(held, held_error);
      std::this_thread::sleep_for(pause);
      pause = std::min(pause * 2, std::chrono::milliseconds(5000));
    } else {
      pause = std::chrono::milliseconds(100);
    }
  }
}

}  // namespace gpu_tune::search
