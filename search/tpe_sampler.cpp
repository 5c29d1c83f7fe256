#include "search/tpe_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <string_view>
#include <tuple>
#include <unordered_map>

#include "search/parzen_estimator.h"

namespace gpu_tune::search {

ParzenOptions tpe_parzen_options(const TpeOptions& options, bool joint, bool whole_space) {
  ParzenOptions p;
  p.prior_weight = options.prior_weight;
  p.consider_magic_clip = options.consider_magic_clip;
  p.consider_endpoints = options.consider_endpoints;
  p.scott_bandwidth = options.bandwidth == TpeBandwidth::kScott;
  p.min_bandwidth = joint && whole_space && options.joint_min_bandwidth > 0 ? options.joint_min_bandwidth
                                                                            : options.min_bandwidth;
  // Only for parameters modelled alone: in a joint model the prior's kernel spans the range
  // in every dimension, so weighting by bandwidth multiplies the prior's weight by about
  // (range / bandwidth) ^ dimensions, and the prior then swamps both l and g (running trials
  // no longer push suggestions apart).
  p.bandwidth_weighted_density = options.bandwidth_weighted_density && !joint;
  return p;
}

int tpe_default_gamma(int observations) {
  return std::min(static_cast<int>(std::ceil(0.1 * observations)), 25);
}

std::vector<double> tpe_expected_improvement_weights(std::span<const double> good_losses, double split_loss) {
  std::vector<double> weights(good_losses.size(), 1.0);
  double total = 0;
  for (size_t i = 0; i < good_losses.size(); ++i) total += weights[i] = std::max(split_loss - good_losses[i], 0.0);
  if (!(total > 0) || !std::isfinite(total)) return std::vector<double>(good_losses.size(), 1.0);
  for (double& w : weights) w *= static_cast<double>(good_losses.size()) / total;
  return weights;
}

int tpe_good_count(const TpeOptions& options, int observations) {
  const double n = static_cast<double>(observations);
  int count = static_cast<int>(std::ceil(options.gamma * (options.split == TpeSplit::kSqrt ? std::sqrt(n) : n)));
  if (options.gamma_cap > 0) count = std::min(count, options.gamma_cap);
  return std::clamp(count, observations > 0 ? 1 : 0, observations);
}

std::vector<double> tpe_default_weights(int observations) {
  if (observations <= 0) return {};
  if (observations < 25) return std::vector<double>(observations, 1.0);
  // Older trials were judged against a worse incumbent: let them fade in linearly.
  const int ramp = observations - 25;
  std::vector<double> weights;
  weights.reserve(observations);
  const double start = 1.0 / observations;
  for (int i = 0; i < ramp; ++i) weights.push_back(ramp == 1 ? start : start + (1.0 - start) * i / (ramp - 1));
  weights.insert(weights.end(), 25, 1.0);
  return weights;
}

namespace {

// Why an observation ranks where it does: complete trials first by value, then pruned
// trials (the longer-lived first, then by value), then running ones (the constant liar).
enum class Standing { kComplete = 0, kPruned = 1, kRunning = 2 };

struct Observation {
  const TrialRecord* trial = nullptr;
  Standing standing = Standing::kComplete;
  double steps_key = 0;  // minus the last step reached (pruned), so later steps rank better
  double loss = 0;       // the value, negated when maximizing
  bool good = false;
};

std::vector<Observation> collect_observations(std::span<const TrialRecord> history, Direction direction,
                                              int64_t trial_number, bool constant_liar) {
  const double sign = direction == Direction::kMaximize ? -1.0 : 1.0;
  std::vector<Observation> observations;
  observations.reserve(history.size());
  for (const TrialRecord& trial : history) {
    if (trial.number == trial_number) continue;
    Observation o;
    o.trial = &trial;
    if (trial.state == TrialState::kComplete || trial.state == TrialState::kPruned) {
      if (!trial.value || std::isnan(*trial.value)) continue;
      o.loss = sign * *trial.value;
      if (trial.state == TrialState::kPruned) {
        o.standing = Standing::kPruned;
        int64_t last_step = 0;
        for (const StepRecord& step : trial.steps) last_step = std::max(last_step, step.step);
        o.steps_key = -static_cast<double>(last_step);
      }
    } else if (trial.state == TrialState::kRunning && constant_liar) {
      o.standing = Standing::kRunning;
      o.loss = std::numeric_limits<double>::infinity();
    } else {
      continue;
    }
    observations.push_back(o);
  }
  // Chronological order: the weights ramp up from old to new. Histories usually come in
  // order already.
  const auto earlier = [](const Observation& a, const Observation& b) { return a.trial->number < b.trial->number; };
  if (!std::is_sorted(observations.begin(), observations.end(), earlier))
    std::stable_sort(observations.begin(), observations.end(), earlier);
  return observations;
}

int usable_count(const std::vector<Observation>& observations) {
  return static_cast<int>(std::count_if(observations.begin(), observations.end(),
                                        [](const Observation& o) { return o.standing != Standing::kRunning; }));
}

// Marks the best good_count observations; ties go to the older one.
void mark_good(std::vector<Observation>& observations, int good_count) {
  const size_t count = std::min<size_t>(static_cast<size_t>(std::max(good_count, 0)), observations.size());
  if (count == 0) return;
  std::vector<size_t> ranking(observations.size());
  for (size_t i = 0; i < ranking.size(); ++i) ranking[i] = i;
  const auto better = [&](size_t i, size_t j) {
    const Observation& a = observations[i];
    const Observation& b = observations[j];
    return std::tie(a.standing, a.steps_key, a.loss, i) < std::tie(b.standing, b.steps_key, b.loss, j);
  };
  std::nth_element(ranking.begin(), ranking.begin() + static_cast<std::ptrdiff_t>(count - 1), ranking.end(), better);
  for (size_t r = 0; r < count; ++r) observations[ranking[r]].good = true;
}

// A value as the sampler may return it. A qlognormal draw that rounds to 0 is not a value of
// a log distribution; its smallest positive value stands in. Log kinds keep exp() finite.
ParamValue value_of_raw(const Distribution& d, double raw) {
  if (d.is_log()) raw = std::clamp(raw, -700.0, 700.0);
  ParamValue value = value_from_raw(d, raw);
  if (d.kind == DistributionKind::kQLogNormal && !(to_double(value) > 0)) value = d.q;
  return value;
}

// The raw point a draw stands for once rounded to a value: l and g are compared there.
double snapped_raw(const Distribution& d, double raw) { return raw_from_value(d, value_of_raw(d, raw)); }

// The raw value of an observed parameter, or none when the value no longer fits the
// distribution (a study whose space changed): such an observation is left out.
std::optional<double> observed_raw(const Distribution& d, const ParamValue& value) {
  try {
    const double raw = raw_from_value(d, value);
    if (!std::isfinite(raw)) return std::nullopt;
    return raw;
  } catch (const std::invalid_argument&) {
    return std::nullopt;
  }
}

// The raw value of every flat parameter in every observation (NaN: inactive or unusable),
// read once per suggestion: by walking each trial's sorted map beside the sorted names,
// which costs far less than a lookup per parameter.
class RawTable {
 public:
  RawTable(const SearchSpace& space, const std::vector<Observation>& observations)
      : width_(space.flat().size()), raw_(observations.size() * width_, std::numeric_limits<double>::quiet_NaN()) {
    std::vector<std::pair<std::string_view, size_t>> names;
    for (size_t i = 0; i < width_; ++i) names.emplace_back(space.flat()[i].name, i);
    std::sort(names.begin(), names.end());
    for (size_t o = 0; o < observations.size(); ++o) {
      const ParamMap& params = observations[o].trial->params;
      auto it = params.begin();
      size_t n = 0;
      while (it != params.end() && n < names.size()) {
        const int order = std::string_view(it->first).compare(names[n].first);
        if (order < 0) {
          ++it;
        } else if (order > 0) {
          ++n;
        } else {
          const size_t flat = names[n].second;
          if (const auto raw = observed_raw(space.flat()[flat].distribution, it->second)) raw_[o * width_ + flat] = *raw;
          ++it, ++n;
        }
      }
    }
  }
  // NaN when the parameter was not active (or not usable) in the observation.
  double at(size_t observation, size_t flat_index) const { return raw_[observation * width_ + flat_index]; }

 private:
  size_t width_;
  std::vector<double> raw_;
};

// Raw observations of a set of parameters, split into the good and the bad group; a trial
// enters a group only when every parameter of the set was active in it.
struct GroupedColumns {
  RawColumns good, bad;
  size_t good_count = 0, bad_count = 0;
  std::vector<const Observation*> good_observations;
  double best_bad_loss = std::numeric_limits<double>::infinity();  // the split's value
};

GroupedColumns group_columns(const std::vector<int>& flat_indices, const std::vector<Observation>& observations,
                             const RawTable& table) {
  GroupedColumns g;
  g.good.resize(flat_indices.size());
  g.bad.resize(flat_indices.size());
  for (size_t o = 0; o < observations.size(); ++o) {
    const bool complete_row = std::none_of(flat_indices.begin(), flat_indices.end(),
                                           [&](int i) { return std::isnan(table.at(o, static_cast<size_t>(i))); });
    if (!complete_row) continue;
    RawColumns& target = observations[o].good ? g.good : g.bad;
    for (size_t c = 0; c < flat_indices.size(); ++c) target[c].push_back(table.at(o, static_cast<size_t>(flat_indices[c])));
    ++(observations[o].good ? g.good_count : g.bad_count);
    if (observations[o].good) {
      g.good_observations.push_back(&observations[o]);
    } else if (observations[o].standing == Standing::kComplete) {
      g.best_bad_loss = std::min(g.best_bad_loss, observations[o].loss);
    }
  }
  return g;
}

// The good group's observation weights (see TpeWeights). ei needs complete observations: a
// pruned or running one among the good has no comparable loss, so the group falls back to
// uniform weights. The split's loss is the best bad one, else the worst good one.
std::vector<double> good_group_weights(TpeWeights kind, const GroupedColumns& columns) {
  const size_t count = columns.good_count;
  if (kind == TpeWeights::kOptuna) return tpe_default_weights(static_cast<int>(count));
  if (kind == TpeWeights::kUniform) return std::vector<double>(count, 1.0);
  std::vector<double> losses;
  for (const Observation* o : columns.good_observations) {
    if (o->standing != Standing::kComplete) return std::vector<double>(count, 1.0);
    losses.push_back(o->loss);
  }
  double split = columns.best_bad_loss;
  if (!std::isfinite(split)) split = losses.empty() ? 0.0 : *std::max_element(losses.begin(), losses.end());
  return tpe_expected_improvement_weights(losses, split);
}

// One TPE step over a set of parameters: draw candidates from l, keep the one with the
// largest log l - log g. Returns the chosen raw point, snapped to values.
std::vector<double> choose_candidate(const SearchSpace& space, const std::vector<int>& flat_indices,
                                     const std::vector<Observation>& observations, const RawTable& table,
                                     const TpeOptions& options, const ParzenOptions& parzen, Rng& rng) {
  std::vector<KernelSpace> kernels;
  for (int i : flat_indices) kernels.push_back(kernel_space(space.flat()[i].distribution));
  const GroupedColumns columns = group_columns(flat_indices, observations, table);
  const std::vector<double> good_weights = good_group_weights(options.weights, columns);
  const std::vector<double> bad_weights = options.weights == TpeWeights::kUniform
                                              ? std::vector<double>(columns.bad_count, 1.0)
                                              : tpe_default_weights(static_cast<int>(columns.bad_count));
  const ParzenEstimator good(kernels, columns.good, good_weights, parzen);
  const ParzenEstimator bad(kernels, columns.bad, bad_weights, parzen);

  RawColumns candidates = good.sample(rng, options.ei_candidates);
  for (size_t c = 0; c < flat_indices.size(); ++c) {
    const Distribution& d = space.flat()[flat_indices[c]].distribution;
    for (double& raw : candidates[c]) raw = snapped_raw(d, raw);
  }
  const std::vector<double> log_good = good.log_pdf(candidates);
  const std::vector<double> log_bad = bad.log_pdf(candidates);
  size_t best = 0;
  double best_score = -std::numeric_limits<double>::infinity();
  for (size_t j = 0; j < log_good.size(); ++j) {
    const double score = log_good[j] - log_bad[j];
    if (score > best_score) best_score = score, best = j;  // NaN never wins; ties keep the first
  }
  std::vector<double> chosen(flat_indices.size());
  for (size_t c = 0; c < flat_indices.size(); ++c) chosen[c] = candidates[c][best];
  return chosen;
}

// Parameters active (with a usable value) in every complete or pruned observation: the
// ones multivariate mode can model jointly, as Optuna's intersection search space.
std::vector<int> always_active_parameters(const SearchSpace& space, const std::vector<Observation>& observations,
                                          const RawTable& table) {
  std::vector<int> indices;
  for (size_t i = 0; i < space.flat().size(); ++i) {
    bool everywhere = true;
    for (size_t o = 0; o < observations.size() && everywhere; ++o)
      everywhere = observations[o].standing == Standing::kRunning || !std::isnan(table.at(o, i));
    if (everywhere) indices.push_back(static_cast<int>(i));
  }
  return indices;
}

}  // namespace

TpeSampler::TpeSampler(TpeOptions options) : options_(options) { validate(options_); }

ParamMap TpeSampler::sample(const SearchSpace& space, std::span<const TrialRecord> history, Direction direction,
                            int64_t trial_number) {
  Rng rng(options_.seed, static_cast<uint64_t>(trial_number));
  std::vector<Observation> observations = collect_observations(history, direction, trial_number, options_.constant_liar);
  const int usable = usable_count(observations);
  if (usable < options_.startup_trials || usable == 0)
    return assign_parameters(space, [&](const FlatParameter& p, int) { return sample_prior(p.distribution, rng); });
  mark_good(observations, tpe_good_count(options_, usable));
  const RawTable table(space, observations);

  std::unordered_map<int, ParamValue> joint_values;
  const auto running = std::count_if(observations.begin(), observations.end(),
                                     [](const Observation& o) { return o.standing == Standing::kRunning; });
  if (options_.multivariate && running <= options_.joint_max_running) {
    const std::vector<int> joint = always_active_parameters(space, observations, table);
    if (!joint.empty()) {
      const ParzenOptions parzen = tpe_parzen_options(options_, true, joint.size() == space.flat().size());
      const std::vector<double> chosen = choose_candidate(space, joint, observations, table, options_, parzen, rng);
      for (size_t c = 0; c < joint.size(); ++c)
        joint_values.emplace(joint[c], value_of_raw(space.flat()[joint[c]].distribution, chosen[c]));
    }
  }
  // Joint values are used where the walk reaches them; the rest (parameters of branches not
  // taken in every trial) are modelled one at a time from the trials where they were active.
  return assign_parameters(space, [&](const FlatParameter& p, int index) -> ParamValue {
    if (const auto it = joint_values.find(index); it != joint_values.end()) return it->second;
    const std::vector<double> chosen =
        choose_candidate(space, {index}, observations, table, options_, tpe_parzen_options(options_, false, false), rng);
    return value_of_raw(p.distribution, chosen[0]);
  });
}

}  // namespace gpu_tune::search
