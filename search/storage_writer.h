#pragma once
// Storage writes off the threads that feed devices. Those threads queue a write and go on;
// one thread of the writer's own commits the queue in order, everything that queued up
// meanwhile as one write batch (one disk flush, however many slots ended an epoch together).
// Every other use of the storage (reads, and writes whose answer the caller needs at once,
// such as a new trial's number) goes through use(), which takes turns with the commits.
//
// A failed commit is kept: from then on enqueue, flush and use throw it, and nothing more
// is written, so the study stops with the error instead of running on unrecorded. A commit
// that failed because the storage was unreachable (StorageUnavailable) is the exception to
// "nothing more": its writes are held, not dropped, and committed again and again until
// the storage answers, even while the writer is being destroyed, so a finished trial's
// result is not lost to an outage (on_held says what waits).
#include <condition_variable>
#include <deque>
#include <exception>
#include <functional>
#include <mutex>
#include <optional>
#include <string>
#include <utility>
#include <thread>

#include "search/storage.h"

namespace gpu_tune::search {

class StorageWriter {
 public:
  using Write = std::function<void(Storage&)>;

  explicit StorageWriter(Storage& storage);
  // Commits what is still queued; a failure then is dropped (call flush() to see it).
  ~StorageWriter();
  StorageWriter(const StorageWriter&) = delete;
  StorageWriter& operator=(const StorageWriter&) = delete;

  // Called from the writer's thread whenever a commit of held writes fails, with their
  // number and the error. Set before the first enqueue.
  void set_on_held(std::function<void(size_t writes, const std::string& error)> on_held) { on_held_ = std::move(on_held); }

  // `after_commit`, if given, runs on the writer's thread once the write is committed (not
  // when its commit fails), in queue order, before flush() returns: for telling the world
  // what is now durable, such as a finished trial. It must not wait for this writer.
  void enqueue(Write write, std::function<void()> after_commit = {});
  // Returns once every write queued before it is committed.
  void flush();

  // Runs `operation` on the storage from the calling thread, between two commits.
  template <typename Operation>
  auto use(Operation&& operation) {
    std::lock_guard lock(storage_mutex_);
    rethrow_failure();
    return operation(storage_);
  }
  // As use(), unless a commit is under way: then nothing runs, and nothing is returned.
  template <typename Operation>
  auto try_use(Operation&& operation) -> std::optional<decltype(operation(std::declval<Storage&>()))> {
    std::unique_lock lock(storage_mutex_, std::try_to_lock);
    if (!lock.owns_lock()) return std::nullopt;
    rethrow_failure();
    return operation(storage_);
  }

 private:
  void commit_loop();
  void rethrow_failure();

  Storage& storage_;
  std::mutex storage_mutex_;  // held while the storage is in use: a commit, or use()

  std::mutex queue_mutex_;  // guards what follows
  std::condition_variable queued_, idle_;
  struct Pending {
    Write write;
    std::function<void()> after_commit;
  };
  std::deque<Pending> queue_;
  bool committing_ = false;
  bool stopping_ = false;
  bool holding_ = false;  // the queue's front is writes held through an outage
  std::exception_ptr failure_;
  std::function<void(size_t, const std::string&)> on_held_;

  std::thread thread_;  // last: started once the rest exists
};

}  // namespace gpu_tune::search
