#include "search/hyperband_pruner.h"

#include <limits>
#include <stdexcept>

#include "search/successive_halving_pruner.h"

namespace gpu_tune::search {
namespace {

// CRC-32 (IEEE 802.3, reflected, as zlib computes it), bit by bit: the names are short.
uint32_t crc32_of(std::string_view text) {
  uint32_t crc = 0xFFFFFFFFu;
  for (const char c : text) {
    crc ^= static_cast<unsigned char>(c);
    for (int bit = 0; bit < 8; ++bit) crc = (crc >> 1) ^ (0xEDB88320u & (0u - (crc & 1u)));
  }
  return ~crc;
}

// The last step of the trial that completed first; stable once that trial exists, so every
// process and every resume agrees on it.
std::optional<int64_t> first_complete_trial_steps(std::span<const TrialRecord> trials) {
  const TrialRecord* first = nullptr;
  for (const TrialRecord& t : trials) {
    if (t.state != TrialState::kComplete || t.steps.empty()) continue;
    if (!first || t.finished_at < first->finished_at || (t.finished_at == first->finished_at && t.number < first->number))
      first = &t;
  }
  if (!first) return std::nullopt;
  return first->steps.back().step;
}

}  // namespace

HyperbandPruner::HyperbandPruner(HyperbandOptions options) : options_(options) {
  if (options_.min_resource < 1) throw std::invalid_argument("hyperband: min_resource must be at least 1");
  if (options_.max_resource && *options_.max_resource < options_.min_resource)
    throw std::invalid_argument("hyperband: max_resource must be at least min_resource");
  if (options_.reduction_factor < 2) throw std::invalid_argument("hyperband: reduction_factor must be at least 2");
  if (options_.bootstrap_count < 0) throw std::invalid_argument("hyperband: bootstrap_count must not be negative");
  if (options_.bootstrap_count > 0 && !options_.max_resource)
    throw std::invalid_argument("hyperband: bootstrap_count needs an explicit max_resource");
}

int HyperbandPruner::bracket_count(int64_t min_resource, int64_t max_resource, int reduction_factor) {
  // The largest k with min_resource * eta^k <= max_resource, without the rounding of a
  // floating-point logarithm (log(243) / log(3) is just below 5).
  int k = 0;
  for (int64_t r = min_resource; r <= max_resource / reduction_factor; r *= reduction_factor) ++k;
  return k + 1;
}

std::vector<int64_t> HyperbandPruner::bracket_shares(int brackets, int reduction_factor) {
  std::vector<int64_t> shares;
  for (int bracket = 0; bracket < brackets; ++bracket) {
    const int s = brackets - 1 - bracket;
    int64_t power = 1;
    for (int i = 0; i < s; ++i) power *= reduction_factor;
    const int64_t numerator = brackets * power;
    shares.push_back((numerator + s) / (s + 1));  // the ceiling of numerator / (s + 1)
  }
  return shares;
}

int HyperbandPruner::bracket_of(std::string_view study_name, int64_t trial_number, std::span<const int64_t> shares) {
  int64_t total = 0;
  for (int64_t share : shares) total += share;
  int64_t n = static_cast<int64_t>(crc32_of(std::string(study_name) + "_" + std::to_string(trial_number)) % total);
  for (size_t bracket = 0; bracket < shares.size(); ++bracket) {
    n -= shares[bracket];
    if (n < 0) return static_cast<int>(bracket);
  }
  return static_cast<int>(shares.size()) - 1;  // unreachable: n < total
}

PruneDecision HyperbandPruner::decide(const PruningContext& context, const TrialRecord& trial) const {
  const std::optional<int64_t> max_resource = options_.max_resource ? options_.max_resource
                                                                    : first_complete_trial_steps(context.trials);
  if (!max_resource) return {};
  const int brackets = bracket_count(options_.min_resource, *max_resource, options_.reduction_factor);
  const std::vector<int64_t> shares = bracket_shares(brackets, options_.reduction_factor);
  const int bracket = bracket_of(context.study_name, trial.number, shares);

  std::vector<const TrialRecord*> rivals;
  for (const TrialRecord& t : context.trials)
    if (bracket_of(context.study_name, t.number, shares) == bracket) rivals.push_back(&t);
  const SuccessiveHalvingPruner halving({options_.min_resource, options_.reduction_factor, bracket, options_.bootstrap_count});
  PruneDecision decision = halving.decide_among(trial, rivals, context.direction);
  decision.attributes[kBracketKey] = bracket;
  if (decision.prune) decision.reason = "bracket " + std::to_string(bracket) + ", " + decision.reason;
  return decision;
}

}  // namespace gpu_tune::search
