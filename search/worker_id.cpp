#include "search/worker_id.h"

#include <cerrno>
#include <charconv>
#include <cstdio>
#include <random>
#include <signal.h>
#include <unistd.h>

namespace gpu_tune::search {
namespace {

std::string host_name() {
  char name[256] = {};
  if (gethostname(name, sizeof(name) - 1) != 0 || name[0] == '\0') return "unknown-host";
  return name;
}

}  // namespace

std::string make_worker_id() {
  std::random_device random;
  char suffix[16];
  std::snprintf(suffix, sizeof(suffix), "%08x", static_cast<unsigned>(random()));
  return host_name() + ":" + std::to_string(getpid()) + ":" + suffix;
}

bool is_dead_local_worker(const std::string& worker) {
  // HOST:PID:RANDOM; a host name has no ':' in it.
  const size_t first = worker.find(':');
  const size_t second = first == std::string::npos ? std::string::npos : worker.find(':', first + 1);
  if (second == std::string::npos || worker.compare(0, first, host_name()) != 0) return false;
  long pid = 0;
  const char* begin = worker.data() + first + 1;
  const char* end = worker.data() + second;
  const auto [stop, error] = std::from_chars(begin, end, pid);
  if (error != std::errc() || stop != end || pid <= 0) return false;
  // Signal 0 checks that the process exists without touching it; EPERM means it exists
  // under another user.
  return kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH;
}

}  // namespace gpu_tune::search
