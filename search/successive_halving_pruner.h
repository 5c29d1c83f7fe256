#pragma once
// Asynchronous successive halving, ASHA (Optuna's SuccessiveHalvingPruner). Rung r sits at
// step min_resource * reduction_factor^(min_early_stopping_rate + r). A trial reaching a
// rung records its value there (attribute "rung_R") and goes on only if that value is in
// the top 1/reduction_factor of every value recorded at that rung so far, its own included;
// while fewer than reduction_factor values are there, it must be the best of them.
// Asynchronous: nobody waits for a rung to fill, so early trials are judged on few values.
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "search/pruner.h"

namespace gpu_tune::search {

struct SuccessiveHalvingOptions {
  int64_t min_resource = 1;         // the step of the lowest rung when min_early_stopping_rate is 0
  int reduction_factor = 4;         // eta: about 1 in eta trials goes on at each rung
  int min_early_stopping_rate = 0;  // s: moves every rung up by a factor eta^s
  int bootstrap_count = 0;          // a rung prunes every trial until it holds more values than this
};

class SuccessiveHalvingPruner final : public Pruner {
 public:
  // Throws std::invalid_argument for min_resource < 1, reduction_factor < 2 or a negative count.
  explicit SuccessiveHalvingPruner(SuccessiveHalvingOptions options);
  std::string name() const override { return "asha"; }
  PruneDecision decide(const PruningContext& context, const TrialRecord& trial) const override;

  // The same decision against only `rivals` (Hyperband's bracket); `trial` itself may be
  // among them.
  PruneDecision decide_among(const TrialRecord& trial, const std::vector<const TrialRecord*>& rivals,
                             Direction direction) const;

  // The step at which rung `rung` is reached; none when it is past any int64 step.
  std::optional<int64_t> rung_step(int rung) const;
  // The attribute holding a trial's value at a rung: "rung_0", "rung_1", ...
  static std::string rung_key(int rung);

 private:
  SuccessiveHalvingOptions options_;
};

}  // namespace gpu_tune::search
