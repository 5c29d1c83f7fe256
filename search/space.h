#pragma once
// Search spaces with hyperopt's distributions and meanings, including nested choices
// whose branches carry parameters of their own (conditional parameters).
//
// Bounds of log distributions are real values (loguniform 1e-4..1e-1), not exponents as
// in hyperopt: loguniform(low, high) = exp(uniform(log low, log high)). lognormal(mu,
// sigma) keeps hyperopt's meaning: exp(normal(mu, sigma)), mu and sigma in log space.
#include <cstdint>
#include <functional>
#include <memory>
#include <string_view>
#include <string>
#include <vector>

#include "search/parameter_value.h"
#include "search/rng.h"

namespace gpu_tune::search {

enum class DistributionKind {
  kUniform,      // low, high: real in [low, high]
  kQUniform,     // low, high, q: round(uniform / q) * q
  kLogUniform,   // low > 0, high
  kQLogUniform,  // low > 0, high, q
  kNormal,       // mu, sigma (unbounded)
  kQNormal,      // mu, sigma, q
  kLogNormal,    // mu, sigma: exp(normal(mu, sigma))
  kQLogNormal,   // mu, sigma, q
  kRandInt,      // low, high: integer in [low, high) (hyperopt's randint)
  kUniformInt,   // low, high: integer in [low, high] (hyperopt's uniformint)
  kChoice,       // options, each possibly with nested parameters
};

std::string_view distribution_kind_name(DistributionKind kind);

struct Parameter;

struct ChoiceOption {
  ParamValue value;
  std::vector<Parameter> children;  // active only when this option is chosen
};

struct Distribution {
  DistributionKind kind = DistributionKind::kUniform;
  double low = 0, high = 1;   // bounds (uniform, log, int kinds)
  double mu = 0, sigma = 1;   // normal kinds
  double q = 0;               // step of q kinds (> 0 there)
  std::vector<ChoiceOption> options;

  bool is_log() const;
  bool is_integer() const;    // kRandInt, kUniformInt
  bool is_quantized() const;  // q kinds
  bool is_bounded() const;    // not the normal kinds
  // Throws std::invalid_argument naming the problem (low not below high, non-positive log
  // bound, q not positive, empty choice, sigma not positive).
  void validate() const;
};

struct Parameter {
  std::string name;
  Distribution distribution;
};

// One parameter of the flattened space, with the condition under which it is active:
// none for top-level parameters, else the parent choice's name and option index (and,
// transitively, the parent's own condition).
struct FlatParameter {
  std::string name;
  Distribution distribution;  // a copy; a choice's options keep their children
  int parent = -1;          // index into the flat list, -1 for top level
  int parent_option = -1;   // which option of the parent activates it
};

class SearchSpace {
 public:
  SearchSpace() = default;
  explicit SearchSpace(std::vector<Parameter> parameters);  // validates; names must be unique

  const std::vector<Parameter>& parameters() const { return parameters_; }
  // Every parameter, parents before children, in a fixed order.
  const std::vector<FlatParameter>& flat() const { return flat_; }
  // Index into flat() by name, or -1.
  int index_of(const std::string& name) const;

  // True when `params` holds exactly the active parameters, each of the right type and
  // inside its distribution's support; otherwise false with the reason in *why.
  bool contains(const ParamMap& params, std::string* why = nullptr) const;

 private:
  void flatten(const std::vector<Parameter>& parameters, int parent, int parent_option);
  std::vector<Parameter> parameters_;
  std::vector<FlatParameter> flat_;
};

}  // namespace gpu_tune::search

namespace gpu_tune::search {

// Builders for code that writes spaces by hand (tests, benchmarks, embedding programs).
Distribution bounded(DistributionKind kind, double low, double high, double q = 0);    // uniform, log, int kinds
Distribution unbounded(DistributionKind kind, double mu, double sigma, double q = 0);  // the normal family
Distribution choice(std::vector<ChoiceOption> options);

// Maps a raw real draw onto a distribution's support: rounds q kinds to their step (in the
// value's own space, after exp for log kinds), clamps bounded kinds, and makes integer
// kinds int64. For kChoice, raw is the option index.
ParamValue value_from_raw(const Distribution& distribution, double raw);

// The raw real behind a value (the inverse of value_from_raw for the real-valued part;
// a choice's value gives its option index). Throws std::invalid_argument for a value not
// in the distribution.
double raw_from_value(const Distribution& distribution, const ParamValue& value);

// A draw from the distribution's own prior (what the random sampler does).
ParamValue sample_prior(const Distribution& distribution, Rng& rng);

// Walks the space in flat() order, visiting only active parameters (a child is active when
// its parent choice took its option), and builds a trial's parameters from `choose`.
ParamMap assign_parameters(const SearchSpace& space,
                           const std::function<ParamValue(const FlatParameter& parameter, int flat_index)>& choose);

// Whether flat parameter `flat_index` is active given the parameters chosen so far.
bool is_active(const SearchSpace& space, int flat_index, const ParamMap& params);

}  // namespace gpu_tune::search
