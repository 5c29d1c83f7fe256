#include "search/storage_writer.h"

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

void StorageWriter::enqueue(Write write) {
  {
    std::lock_guard lock(queue_mutex_);
    if (failure_) std::rethrow_exception(failure_);
    queue_.push_back(std::move(write));
  }
  queued_.notify_one();
}

void StorageWriter::flush() {
  std::unique_lock lock(queue_mutex_);
  idle_.wait(lock, [this] { return failure_ || (queue_.empty() && !committing_); });
  if (failure_) std::rethrow_exception(failure_);
}

void StorageWriter::commit_loop() {
  for (;;) {
    std::deque<Write> batch;
    {
      std::unique_lock lock(queue_mutex_);
      queued_.wait(lock, [this] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything is committed
      if (failure_) {
        queue_.clear();  // nothing more is written after a failure
        idle_.notify_all();
        continue;
      }
      batch.swap(queue_);
      committing_ = true;
    }
    std::exception_ptr error;
    {
      std::lock_guard lock(storage_mutex_);
      try {
        storage_.write_batch([&] {
          for (Write& write : batch) write(storage_);
        });
      } catch (...) {
        error = std::current_exception();
      }
    }
    {
      std::lock_guard lock(queue_mutex_);
      committing_ = false;
      if (error && !failure_) failure_ = error;
    }
    idle_.notify_all();
  }
}

}  // namespace gpu_tune::search
