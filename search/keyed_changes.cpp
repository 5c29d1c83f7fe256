#include "search/keyed_changes.h"

namespace gpu_tune::search {

std::string keyed_changes(const std::map<std::string, std::string>& before,
                          const std::map<std::string, std::string>& after, std::string_view kind) {
  std::string changes;
  auto add = [&](const std::string& name, const std::string& what) {
    changes += (changes.empty() ? "" : "; ") + std::string(kind) + "'" + name + "' " + what;
  };
  for (const auto& [name, value] : before) {
    const auto now = after.find(name);
    if (now == after.end()) add(name, "removed (was " + value + ")");
    else if (now->second != value) add(name, "changed from " + value + " to " + now->second);
  }
  for (const auto& [name, value] : after)
    if (!before.contains(name)) add(name, "added (" + value + ")");
  return changes;
}

}  // namespace gpu_tune::search
