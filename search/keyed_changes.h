#pragma once
// What changed between two sets of named values, in words: for a resume's checks that a
// study file still describes the study it began (space_description.h, training_changes.h).
#include <map>
#include <string>
#include <string_view>

namespace gpu_tune::search {

// One clause per name, in name order, joined by "; ": "{kind}'x' changed from A to B",
// "{kind}'y' added (C)", "{kind}'z' removed (was D)". Empty when they agree. `kind` names
// what the values are, e.g. "parameter ", or is empty.
std::string keyed_changes(const std::map<std::string, std::string>& before,
                          const std::map<std::string, std::string>& after, std::string_view kind);

}  // namespace gpu_tune::search
