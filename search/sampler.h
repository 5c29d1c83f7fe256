#pragma once
// A sampler proposes the parameters of the next trial from the study's history. It
// reads the history it is given and never touches storage. Given the same seed, the same
// trial number and the same history, it returns the same parameters (so a resumed study
// continues exactly as an uninterrupted one would).
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "search/space.h"
#include "search/trial.h"

namespace gpu_tune::search {

class Sampler {
 public:
  virtual ~Sampler() = default;
  virtual std::string name() const = 0;
  // history: every trial of the study so far, running ones included (TPE counts those as
  // bad observations: the constant liar, so K trials asked at once are not K copies).
  virtual ParamMap sample(const SearchSpace& space, std::span<const TrialRecord> history, Direction direction,
                          int64_t trial_number) = 0;
};

}  // namespace gpu_tune::search
