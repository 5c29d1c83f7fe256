#pragma once
// A search space as canonical text, kept with the study so that a resume can tell whether
// the study file's space changed since the study began (results from two different spaces
// would mislead the sampler and the report). One line per parameter, sorted by name:
//   lr: loguniform(low=0.0001, high=0.10000000000000001)
//   width1: quniform(low=8, high=32, q=8) when model="custom"
// Numbers are written exactly (17 significant digits); choice values keep their type
// (32 is an integer, 32.0 a real, "32" a string). File order and layout do not matter.
#include <string>

#include "search/space.h"

namespace gpu_tune::search {

std::string describe_space(const SearchSpace& space);

// What changed from `before` to `after` (two describe_space texts), one clause per
// parameter: "parameter 'lr' changed from loguniform(...) to loguniform(...)", "parameter
// 'dropout' added", "parameter 'momentum' removed", joined by "; ". Empty when they agree.
std::string space_changes(const std::string& before, const std::string& after);

}  // namespace gpu_tune::search
