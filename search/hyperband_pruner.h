#pragma once
// Hyperband (Optuna's HyperbandPruner): several successive-halving brackets side by side,
// bracket b with its first rung at min_resource * reduction_factor^b, from aggressive
// (b = 0, judged at the first step) to patient (the last bracket, judged only near
// max_resource). Each trial belongs to one bracket, chosen deterministically from the study
// name and trial number, and competes only with trials of its own bracket. Brackets get
// trials in Hyperband's proportions: bracket b gets ceil(n * eta^s / (s + 1)) shares, where
// n is the number of brackets and s = n - 1 - b.
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "search/pruner.h"

namespace gpu_tune::search {

struct HyperbandOptions {
  int64_t min_resource = 1;
  // The most steps a trial runs (the epochs). None: the last step of the study's first
  // complete trial (by finish time), and no pruning until one exists.
  std::optional<int64_t> max_resource;
  int reduction_factor = 3;
  int bootstrap_count = 0;
};

class HyperbandPruner final : public Pruner {
 public:
  // Throws std::invalid_argument for min_resource < 1, max_resource < min_resource,
  // reduction_factor < 2, a negative bootstrap_count, or a bootstrap_count with an automatic
  // max_resource (Optuna refuses that pair too: the trials before the first completes would
  // record no rung values).
  explicit HyperbandPruner(HyperbandOptions options);
  std::string name() const override { return "hyperband"; }
  PruneDecision decide(const PruningContext& context, const TrialRecord& trial) const override;

  // floor(log_eta(max_resource / min_resource)) + 1, computed exactly; at least 1.
  static int bracket_count(int64_t min_resource, int64_t max_resource, int reduction_factor);
  // Each bracket's share of the trials, in bracket order.
  static std::vector<int64_t> bracket_shares(int brackets, int reduction_factor);
  // The bracket of a trial: CRC-32 of "STUDY_NUMBER" (as Optuna hashes it) modulo the total
  // of the shares, walked through the shares.
  static int bracket_of(std::string_view study_name, int64_t trial_number, std::span<const int64_t> shares);
  // The attribute recording a trial's bracket.
  static constexpr const char* kBracketKey = "hyperband_bracket";

 private:
  HyperbandOptions options_;
};

}  // namespace gpu_tune::search
