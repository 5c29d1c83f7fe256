#include "search/space.h"

#include <algorithm>
#include <cmath>
#include <set>
#include <stdexcept>

namespace gpu_tune::search {

std::string_view distribution_kind_name(DistributionKind kind) {
  switch (kind) {
    case DistributionKind::kUniform: return "uniform";
    case DistributionKind::kQUniform: return "quniform";
    case DistributionKind::kLogUniform: return "loguniform";
    case DistributionKind::kQLogUniform: return "qloguniform";
    case DistributionKind::kNormal: return "normal";
    case DistributionKind::kQNormal: return "qnormal";
    case DistributionKind::kLogNormal: return "lognormal";
    case DistributionKind::kQLogNormal: return "qlognormal";
    case DistributionKind::kRandInt: return "randint";
    case DistributionKind::kUniformInt: return "uniformint";
    case DistributionKind::kChoice: return "choice";
  }
  return "?";
}

Distribution bounded(DistributionKind kind, double low, double high, double q) {
  Distribution d;
  d.kind = kind;
  d.low = low;
  d.high = high;
  d.q = q;
  return d;
}

Distribution unbounded(DistributionKind kind, double mu, double sigma, double q) {
  Distribution d;
  d.kind = kind;
  d.mu = mu;
  d.sigma = sigma;
  d.q = q;
  return d;
}

Distribution choice(std::vector<ChoiceOption> options) {
  Distribution d;
  d.kind = DistributionKind::kChoice;
  d.options = std::move(options);
  return d;
}

bool Distribution::is_log() const {
  return kind == DistributionKind::kLogUniform || kind == DistributionKind::kQLogUniform ||
         kind == DistributionKind::kLogNormal || kind == DistributionKind::kQLogNormal;
}
bool Distribution::is_integer() const { return kind == DistributionKind::kRandInt || kind == DistributionKind::kUniformInt; }
bool Distribution::is_quantized() const {
  return kind == DistributionKind::kQUniform || kind == DistributionKind::kQLogUniform ||
         kind == DistributionKind::kQNormal || kind == DistributionKind::kQLogNormal;
}
bool Distribution::is_bounded() const {
  return kind != DistributionKind::kNormal && kind != DistributionKind::kQNormal &&
         kind != DistributionKind::kLogNormal && kind != DistributionKind::kQLogNormal;
}

void Distribution::validate() const {
  auto fail = [&](const std::string& why) {
    throw std::invalid_argument(std::string(distribution_kind_name(kind)) + ": " + why);
  };
  if (kind == DistributionKind::kChoice) {
    if (options.empty()) fail("a choice needs at least one option");
    for (size_t i = 0; i < options.size(); ++i)
      for (size_t j = i + 1; j < options.size(); ++j)
        if (options[i].value == options[j].value) fail("option '" + to_string(options[i].value) + "' appears twice");
    return;
  }
  if (is_quantized() && !(q > 0 && std::isfinite(q))) fail("q must be positive, got " + std::to_string(q));
  if (is_bounded()) {
    if (!std::isfinite(low) || !std::isfinite(high)) fail("bounds must be finite");
    if (!(low < high)) fail("low (" + std::to_string(low) + ") must be below high (" + std::to_string(high) + ")");
    if (is_log() && low <= 0) fail("bounds of a log distribution must be positive (real values such as 1e-4, not exponents), got low " + std::to_string(low));
    if (is_integer() && (low != std::floor(low) || high != std::floor(high))) fail("bounds must be integers");
    if (kind == DistributionKind::kRandInt && high - low < 1) fail("randint needs high > low");
  } else {
    if (!std::isfinite(mu)) fail("mu must be finite");
    if (!(sigma > 0 && std::isfinite(sigma))) fail("sigma must be positive, got " + std::to_string(sigma));
  }
}

SearchSpace::SearchSpace(std::vector<Parameter> parameters) : parameters_(std::move(parameters)) {
  flatten(parameters_, -1, -1);
  std::set<std::string> names;
  for (const FlatParameter& p : flat_) {
    if (p.name.empty()) throw std::invalid_argument("a parameter has an empty name");
    if (!names.insert(p.name).second) throw std::invalid_argument("parameter '" + p.name + "' is defined twice");
    try {
      p.distribution.validate();
    } catch (const std::invalid_argument& e) {
      throw std::invalid_argument("parameter '" + p.name + "': " + e.what());
    }
  }
}

void SearchSpace::flatten(const std::vector<Parameter>& parameters, int parent, int parent_option) {
  for (const Parameter& p : parameters) {
    const int index = static_cast<int>(flat_.size());
    flat_.push_back({p.name, p.distribution, parent, parent_option});
    for (size_t o = 0; o < p.distribution.options.size(); ++o)
      flatten(p.distribution.options[o].children, index, static_cast<int>(o));
  }
}

int SearchSpace::index_of(const std::string& name) const {
  for (size_t i = 0; i < flat_.size(); ++i)
    if (flat_[i].name == name) return static_cast<int>(i);
  return -1;
}

namespace {

double round_to_step(double x, double q) { return std::round(x / q) * q; }

bool same_value(const ParamValue& a, const ParamValue& b) {
  if (a == b) return true;
  const bool a_number = std::holds_alternative<int64_t>(a) || std::holds_alternative<double>(a);
  const bool b_number = std::holds_alternative<int64_t>(b) || std::holds_alternative<double>(b);
  return a_number && b_number && to_double(a) == to_double(b);
}

}  // namespace

ParamValue value_from_raw(const Distribution& d, double raw) {
  switch (d.kind) {
    case DistributionKind::kUniform: return std::clamp(raw, d.low, d.high);
    case DistributionKind::kQUniform: return std::clamp(round_to_step(raw, d.q), d.low, d.high);
    case DistributionKind::kLogUniform: return std::clamp(std::exp(raw), d.low, d.high);
    case DistributionKind::kQLogUniform: return std::clamp(round_to_step(std::exp(raw), d.q), d.low, d.high);
    case DistributionKind::kNormal: return raw;
    case DistributionKind::kQNormal: return round_to_step(raw, d.q);
    case DistributionKind::kLogNormal: return std::exp(raw);
    // Unlike hyperopt, never 0: a log distribution's values stay positive (at least q).
    case DistributionKind::kQLogNormal: return std::max(round_to_step(std::exp(raw), d.q), d.q);
    case DistributionKind::kRandInt:
      return static_cast<int64_t>(std::clamp(std::round(raw), d.low, d.high - 1));
    case DistributionKind::kUniformInt: return static_cast<int64_t>(std::clamp(std::round(raw), d.low, d.high));
    case DistributionKind::kChoice: {
      const double index = std::clamp(std::round(raw), 0.0, static_cast<double>(d.options.size() - 1));
      return d.options[static_cast<size_t>(index)].value;
    }
  }
  return raw;
}

double raw_from_value(const Distribution& d, const ParamValue& value) {
  if (d.kind == DistributionKind::kChoice) {
    for (size_t i = 0; i < d.options.size(); ++i)
      if (same_value(d.options[i].value, value)) return static_cast<double>(i);
    throw std::invalid_argument("'" + to_string(value) + "' is not one of the choice's options");
  }
  const double x = to_double(value);
  if (d.is_log()) {
    if (!(x > 0)) throw std::invalid_argument(to_string(value) + " is not positive, so not in a log distribution");
    return std::log(x);
  }
  return x;
}

ParamValue sample_prior(const Distribution& d, Rng& rng) {
  switch (d.kind) {
    case DistributionKind::kUniform:
    case DistributionKind::kQUniform: return value_from_raw(d, rng.uniform(d.low, d.high));
    case DistributionKind::kLogUniform:
    case DistributionKind::kQLogUniform: return value_from_raw(d, rng.uniform(std::log(d.low), std::log(d.high)));
    case DistributionKind::kNormal:
    case DistributionKind::kQNormal:
    case DistributionKind::kLogNormal:
    case DistributionKind::kQLogNormal: return value_from_raw(d, d.mu + d.sigma * rng.normal());
    case DistributionKind::kRandInt:
      return static_cast<int64_t>(d.low) + static_cast<int64_t>(rng.below(static_cast<uint64_t>(d.high - d.low)));
    case DistributionKind::kUniformInt:
      return static_cast<int64_t>(d.low) + static_cast<int64_t>(rng.below(static_cast<uint64_t>(d.high - d.low + 1)));
    case DistributionKind::kChoice: return d.options[rng.below(d.options.size())].value;
  }
  return 0.0;
}

bool is_active(const SearchSpace& space, int flat_index, const ParamMap& params) {
  const FlatParameter& p = space.flat()[flat_index];
  if (p.parent < 0) return true;
  const FlatParameter& parent = space.flat()[p.parent];
  const auto it = params.find(parent.name);
  if (it == params.end()) return false;
  return same_value(parent.distribution.options[p.parent_option].value, it->second) &&
         is_active(space, p.parent, params);
}

ParamMap assign_parameters(const SearchSpace& space,
                           const std::function<ParamValue(const FlatParameter&, int)>& choose) {
  ParamMap params;
  for (size_t i = 0; i < space.flat().size(); ++i)
    if (is_active(space, static_cast<int>(i), params)) params[space.flat()[i].name] = choose(space.flat()[i], static_cast<int>(i));
  return params;
}

bool SearchSpace::contains(const ParamMap& params, std::string* why) const {
  auto reject = [&](const std::string& reason) {
    if (why) *why = reason;
    return false;
  };
  size_t active = 0;
  for (size_t i = 0; i < flat_.size(); ++i) {
    const FlatParameter& p = flat_[i];
    const auto it = params.find(p.name);
    if (!is_active(*this, static_cast<int>(i), params)) {
      if (it != params.end()) return reject("'" + p.name + "' is set but not active");
      continue;
    }
    if (it == params.end()) return reject("'" + p.name + "' is missing");
    ++active;
    const Distribution& d = p.distribution;
    const ParamValue& v = it->second;
    if (d.kind == DistributionKind::kChoice) {
      try {
        raw_from_value(d, v);
      } catch (const std::invalid_argument& e) {
        return reject("'" + p.name + "': " + e.what());
      }
      continue;
    }
    if (d.is_integer() != std::holds_alternative<int64_t>(v) || (!d.is_integer() && !std::holds_alternative<double>(v)))
      return reject("'" + p.name + "' = " + to_string(v) + " has the wrong type");
    const double x = to_double(v);
    if (!std::isfinite(x)) return reject("'" + p.name + "' is not finite");
    if (d.is_bounded()) {
      const double upper = d.kind == DistributionKind::kRandInt ? d.high - 1 : d.high;
      if (x < d.low || x > upper) return reject("'" + p.name + "' = " + to_string(v) + " is out of bounds");
    }
    if (d.is_quantized()) {
      const double steps = x / d.q;
      const bool at_bound = d.is_bounded() && (x == d.low || x == d.high);
      if (!at_bound && std::abs(steps - std::round(steps)) > 1e-9 * std::max(1.0, std::abs(steps)))
        return reject("'" + p.name + "' = " + to_string(v) + " is not a multiple of q");
    }
    if (d.is_log() && !(x > 0)) return reject("'" + p.name + "' must be positive");
  }
  if (active != params.size()) return reject("parameters outside the space are set");
  return true;
}

}  // namespace gpu_tune::search
