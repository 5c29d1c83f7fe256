#pragma once
// A storage connection serves one thread at a time: libpq's connections and SQLite's
// transactions are per connection, so a second thread inside one takes the first's results,
// waits for one that never comes, or commits the other's transaction. A storage object
// therefore claims its connection for the thread inside an operation, and refuses another
// thread by name instead (the misuse: a storage used beside the study service that owns it).
#include <atomic>
#include <thread>

namespace gpu_tune::search {

class ConnectionClaim {
 public:
  // Claims `user` for this thread, or calls refuse(kInUse), which throws, when another
  // thread holds it. Entering again from the thread that holds it is allowed (a write
  // batch's writes are operations inside the batch's).
  template <typename Refuse>
  ConnectionClaim(std::atomic<std::thread::id>& user, Refuse&& refuse) : user_(user) {
    std::thread::id free;
    if (user_.compare_exchange_strong(free, std::this_thread::get_id())) {
      owner_ = true;
    } else if (free != std::this_thread::get_id()) {
      refuse(kInUse);
    }
  }
  ~ConnectionClaim() {
    if (owner_) user_.store(std::thread::id());
  }
  ConnectionClaim(const ConnectionClaim&) = delete;
  ConnectionClaim& operator=(const ConnectionClaim&) = delete;

  static constexpr const char* kInUse = "the storage object is in use by another thread (it serves one thread at a time)";

 private:
  std::atomic<std::thread::id>& user_;
  bool owner_ = false;
};

}  // namespace gpu_tune::search
