#pragma once
// What the study tests share: a study of a given name, and the space of one parameter x
// uniform on [-1, 1].
#include <string>

#include "search/space.h"
#include "search/storage.h"

namespace gpu_tune::testing {

inline search::StudyInfo named(const std::string& name) {
  search::StudyInfo info;
  info.name = name;
  return info;
}

inline search::SearchSpace one_dimension() {
  return search::SearchSpace({{"x", search::bounded(search::DistributionKind::kUniform, -1, 1)}});
}

}  // namespace gpu_tune::testing
