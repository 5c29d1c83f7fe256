#include "search/grid_sampler.h"

#include <algorithm>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <unordered_set>
#include <vector>

namespace gpu_tune::search {
namespace {

constexpr int64_t kMaxValuesPerParameter = 10000;
constexpr int64_t kMaxGridSize = int64_t{1} << 62;  // what the permutation below can index

// --- the grid's shape -----------------------------------------------------------------------
//
// A group is a list of sibling parameters; its points are every combination of their values
// (mixed radix, the first parameter varying fastest). A choice's values are its options,
// each followed by its own group of children, so a choice contributes the sum of its
// branches' sizes rather than its option count.

struct Axis;

struct Group {
  std::vector<Axis> axes;
  int64_t size = 1;
};

struct Axis {
  std::string name;
  std::vector<ParamValue> values;    // ascending for a non-choice; the options for a choice
  std::vector<Group> branches;       // a choice's children, one group per option
  std::vector<int64_t> branch_start; // where each option's block of points begins
  int64_t size = 0;
  bool is_choice() const { return !branches.empty(); }
};

int64_t checked_product(int64_t a, int64_t b) {
  if (b != 0 && a > kMaxGridSize / b) throw std::invalid_argument("grid: the space has more than 2^62 points");
  return a * b;
}

[[noreturn]] void refuse(const std::string& name, const std::string& why) {
  throw std::invalid_argument("grid: parameter '" + name + "' " + why);
}

void check_count(const std::string& name, double count) {
  if (count > static_cast<double>(kMaxValuesPerParameter))
    refuse(name, "has " + std::to_string(static_cast<int64_t>(count)) + " values, more than the grid's limit of " +
                     std::to_string(kMaxValuesPerParameter) + "; narrow it or use another sampler");
}

std::vector<ParamValue> integer_values(const std::string& name, const Distribution& d) {
  const auto low = static_cast<int64_t>(d.low);
  const auto last = static_cast<int64_t>(d.kind == DistributionKind::kRandInt ? d.high - 1 : d.high);
  check_count(name, static_cast<double>(last) - static_cast<double>(low) + 1);
  std::vector<ParamValue> values;
  for (int64_t v = low; v <= last; ++v) values.emplace_back(v);
  return values;
}

// Every multiple of q within the bounds. The tolerance keeps a bound that is a multiple of q
// in spite of rounding (0.3 / 0.1 = 2.9999999999999996).
std::vector<ParamValue> quantized_values(const std::string& name, const Distribution& d) {
  const double first = std::ceil(d.low / d.q - 1e-9), last = std::floor(d.high / d.q + 1e-9);
  if (last < first) refuse(name, "has no multiple of q between low and high, so the grid has nothing to try");
  check_count(name, last - first + 1);
  std::vector<ParamValue> values;
  for (double k = first; k <= last; ++k) values.emplace_back(std::clamp(k * d.q, d.low, d.high));
  return values;
}

// Evenly spaced, both bounds included (exactly, so the values stay inside the support).
std::vector<ParamValue> continuous_values(const std::string& name, const Distribution& d, int points) {
  check_count(name, points);
  const double from = d.is_log() ? std::log(d.low) : d.low, to = d.is_log() ? std::log(d.high) : d.high;
  std::vector<ParamValue> values;
  for (int i = 0; i < points; ++i) {
    const double fraction = points == 1 ? 0.5 : static_cast<double>(i) / (points - 1);
    const double raw = from + (to - from) * fraction;
    double value = d.is_log() ? std::exp(raw) : raw;
    if (points > 1 && i == 0) value = d.low;
    if (points > 1 && i == points - 1) value = d.high;
    values.emplace_back(std::clamp(value, d.low, d.high));
  }
  return values;
}

Group build_group(const std::vector<Parameter>& parameters, int points);

Axis build_axis(const Parameter& parameter, int points) {
  const Distribution& d = parameter.distribution;
  Axis axis{parameter.name, {}, {}, {}, 0};
  if (d.kind == DistributionKind::kChoice) {
    for (const ChoiceOption& option : d.options) {
      axis.values.push_back(option.value);
      axis.branch_start.push_back(axis.size);
      axis.branches.push_back(build_group(option.children, points));
      axis.size += axis.branches.back().size;
      if (axis.size > kMaxGridSize) throw std::invalid_argument("grid: the space has more than 2^62 points");
    }
    return axis;
  }
  if (!d.is_bounded())
    refuse(parameter.name, "has an unbounded " + std::string(distribution_kind_name(d.kind)) +
                               " distribution, which a grid cannot enumerate; give it bounds or use another sampler");
  if (d.is_integer()) {
    axis.values = integer_values(parameter.name, d);
  } else if (d.is_quantized()) {
    axis.values = quantized_values(parameter.name, d);
  } else {
    axis.values = continuous_values(parameter.name, d, points);
  }
  axis.size = static_cast<int64_t>(axis.values.size());
  return axis;
}

Group build_group(const std::vector<Parameter>& parameters, int points) {
  Group group;
  for (const Parameter& parameter : parameters) {
    group.axes.push_back(build_axis(parameter, points));
    group.size = checked_product(group.size, group.axes.back().size);
  }
  return group;
}

void decode(const Group& group, int64_t index, ParamMap& params) {
  for (const Axis& axis : group.axes) {
    const int64_t local = index % axis.size;
    index /= axis.size;
    if (!axis.is_choice()) {
      params[axis.name] = axis.values[static_cast<size_t>(local)];
      continue;
    }
    const auto next = std::upper_bound(axis.branch_start.begin(), axis.branch_start.end(), local);
    const auto option = static_cast<size_t>(next - axis.branch_start.begin() - 1);
    params[axis.name] = axis.values[option];
    decode(axis.branches[option], local - axis.branch_start[option], params);
  }
}

bool same_number(double a, double b) { return a == b || std::abs(a - b) <= 1e-9 * std::max(std::abs(a), std::abs(b)); }

bool same_value(const ParamValue& a, const ParamValue& b) {
  if (a == b) return true;
  const bool numbers = !std::holds_alternative<std::string>(a) && !std::holds_alternative<std::string>(b) &&
                       !std::holds_alternative<bool>(a) && !std::holds_alternative<bool>(b);
  return numbers && same_number(to_double(a), to_double(b));
}

std::optional<int64_t> encode(const Group& group, const ParamMap& params);

// The position of `value` among an axis's values, tolerating the rounding a value picks up
// on its way through storage.
std::optional<int64_t> encode_axis(const Axis& axis, const ParamValue& value, const ParamMap& params) {
  if (axis.is_choice()) {
    for (size_t option = 0; option < axis.values.size(); ++option) {
      if (!same_value(axis.values[option], value)) continue;
      const std::optional<int64_t> child = encode(axis.branches[option], params);
      if (!child) return std::nullopt;
      return axis.branch_start[option] + *child;
    }
    return std::nullopt;
  }
  if (std::holds_alternative<std::string>(value) || std::holds_alternative<bool>(value)) return std::nullopt;
  const double x = to_double(value);
  const auto below = [](const ParamValue& v, double target) { return to_double(v) < target; };
  const auto it = std::lower_bound(axis.values.begin(), axis.values.end(), x, below);
  if (it != axis.values.end() && same_number(to_double(*it), x)) return it - axis.values.begin();
  if (it != axis.values.begin() && same_number(to_double(*(it - 1)), x)) return it - axis.values.begin() - 1;
  return std::nullopt;
}

// The grid index of a trial's parameters, or nothing when they are not a point of this grid
// (a trial from another sampler, or one still without parameters).
std::optional<int64_t> encode(const Group& group, const ParamMap& params) {
  int64_t index = 0, stride = 1;
  for (const Axis& axis : group.axes) {
    const auto it = params.find(axis.name);
    if (it == params.end()) return std::nullopt;
    const std::optional<int64_t> local = encode_axis(axis, it->second, params);
    if (!local) return std::nullopt;
    index += *local * stride;
    stride *= axis.size;
  }
  return index;
}

// --- the visiting order -----------------------------------------------------------------------
//
// A seed-keyed permutation of [0, size) computed point by point, so a large grid needs no
// shuffled table: a balanced Feistel network is a bijection on [0, 4^h), and walking its
// cycle until the value falls below size restricts it to [0, size) (the domain is under
// four times size, so the walk is short).

uint64_t mix(uint64_t x) {  // splitmix64's finalizer
  x = (x ^ (x >> 30)) * 0xbf58476d1ce4e5b9ULL;
  x = (x ^ (x >> 27)) * 0x94d049bb133111ebULL;
  return x ^ (x >> 31);
}

class SeededPermutation {
 public:
  SeededPermutation(uint64_t seed, int64_t size) : size_(size) {
    while ((uint64_t{1} << (2 * half_bits_)) < static_cast<uint64_t>(size)) ++half_bits_;
    half_mask_ = (uint64_t{1} << half_bits_) - 1;
    uint64_t state = seed;
    for (uint64_t& key : keys_) key = mix(state += 0x9e3779b97f4a7c15ULL);
  }

  int64_t operator()(int64_t position) const {
    uint64_t x = static_cast<uint64_t>(position);
    do x = shuffle(x);
    while (x >= static_cast<uint64_t>(size_));
    return static_cast<int64_t>(x);
  }

 private:
  uint64_t shuffle(uint64_t x) const {
    uint64_t left = x >> half_bits_, right = x & half_mask_;
    for (uint64_t key : keys_) {
      const uint64_t next = left ^ (mix(right ^ key) & half_mask_);
      left = right;
      right = next;
    }
    return (left << half_bits_) | right;
  }

  int64_t size_;
  int half_bits_ = 1;
  uint64_t half_mask_ = 1;
  uint64_t keys_[6] = {};
};

}  // namespace

GridSampler::GridSampler(uint64_t seed, int points_per_continuous) : seed_(seed), points_(points_per_continuous) {
  if (points_per_continuous < 1)
    throw std::invalid_argument("grid: points per continuous parameter must be at least 1, got " +
                                std::to_string(points_per_continuous));
}

int64_t GridSampler::grid_size(const SearchSpace& space, int points) {
  if (points < 1) throw std::invalid_argument("grid: points per continuous parameter must be at least 1");
  return build_group(space.parameters(), points).size;
}

ParamMap GridSampler::sample(const SearchSpace& space, std::span<const TrialRecord> history, Direction /*direction*/,
                             int64_t trial_number) {
  const Group grid = build_group(space.parameters(), points_);
  const SeededPermutation order(seed_, grid.size);

  std::unordered_set<int64_t> taken;
  for (const TrialRecord& trial : history)
    if (trial.number != trial_number)
      if (const std::optional<int64_t> index = encode(grid, trial.params)) taken.insert(*index);

  // taken.size() + 1 consecutive positions hold at least one free point, unless all are taken.
  const int64_t start = ((trial_number % grid.size) + grid.size) % grid.size;
  int64_t chosen = order(start);
  const int64_t tries = std::min<int64_t>(grid.size, static_cast<int64_t>(taken.size()) + 1);
  for (int64_t step = 0; step < tries; ++step) {
    const int64_t candidate = order((start + step) % grid.size);
    if (!taken.contains(candidate)) {
      chosen = candidate;
      break;
    }
  }
  ParamMap params;
  decode(grid, chosen, params);
  return params;
}

}  // namespace gpu_tune::search
