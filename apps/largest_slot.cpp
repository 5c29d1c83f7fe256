#include "apps/largest_slot.h"

#include <unistd.h>  // sysconf

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <variant>
#include <vector>

#include "engine/bundle.h"
#include "engine/slot.h"

namespace gpu_tune::app {
namespace {

using search::Distribution;
using search::DistributionKind;
using search::ParamValue;

// The parameters trial_training_config turns into the model's shape or the batch size.
bool sizes_a_slot(const std::string& name) {
  auto numbered = [&](std::string_view prefix) {
    return name.size() > prefix.size() && name.starts_with(prefix) &&
           std::isdigit(static_cast<unsigned char>(name[prefix.size()]));
  };
  return name == "batch" || name == "kernel" || numbered("width") || numbered("conv");
}

bool is_number(const ParamValue& value) {
  return std::holds_alternative<int64_t>(value) || std::holds_alternative<double>(value);
}

// A choice whose options must each be tried: the model's, or one that holds parameters
// (a branch may carry widths of its own).
bool tried_option_by_option(const search::FlatParameter& p) {
  const Distribution& d = p.distribution;
  if (d.kind != DistributionKind::kChoice) return false;
  return p.name == "model" ||
         std::any_of(d.options.begin(), d.options.end(), [](const search::ChoiceOption& o) { return !o.children.empty(); });
}

// The value a parameter that is not tried option by option takes.
ParamValue fixed_value(const search::FlatParameter& p) {
  const Distribution& d = p.distribution;
  if (d.kind == DistributionKind::kChoice) {
    const bool numbers = std::all_of(d.options.begin(), d.options.end(), [](const auto& o) { return is_number(o.value); });
    if (!sizes_a_slot(p.name) || !numbers) return d.options.front().value;
    const auto largest = std::max_element(d.options.begin(), d.options.end(), [](const auto& a, const auto& b) {
      return search::to_double(a.value) < search::to_double(b.value);
    });
    return largest->value;
  }
  if (!d.is_bounded()) {
    // Unbounded (normal kinds): mu, as the study check does, or three sigmas above it for
    // a size, which covers all but a rare draw.
    const double raw = sizes_a_slot(p.name) ? d.mu + 3 * d.sigma : d.mu;
    return search::value_from_raw(d, raw);
  }
  const double bound = sizes_a_slot(p.name) ? d.high : d.low;
  return search::value_from_raw(d, d.is_log() ? std::log(bound) : bound);
}

}  // namespace

std::optional<size_t> largest_slot_bytes(const search::SearchSpace& space, const EngineObjectiveOptions& options,
                                         int64_t train_count) {
  const std::vector<search::FlatParameter>& flat = space.flat();
  std::vector<int> tried;  // flat indices of the choices tried option by option
  std::vector<ParamValue> fixed(flat.size());
  int64_t combinations = 1;
  for (size_t i = 0; i < flat.size(); ++i) {
    if (tried_option_by_option(flat[i])) {
      tried.push_back(static_cast<int>(i));
      combinations = std::min(combinations * static_cast<int64_t>(flat[i].distribution.options.size()), kMaxCombinations + 1);
    } else {
      fixed[i] = fixed_value(flat[i]);
    }
  }

  // The bytes of one trial with the tried choices at `picks`; none when it is no valid trial.
  std::vector<size_t> picks(flat.size(), 0);
  auto bytes_at = [&]() -> std::optional<size_t> {
    const search::ParamMap params = search::assign_parameters(space, [&](const search::FlatParameter& p, int index) {
      return tried_option_by_option(p) ? p.distribution.options[picks[static_cast<size_t>(index)]].value
                                       : fixed[static_cast<size_t>(index)];
    });
    try {
      const TrainingConfig config = trial_training_config(params, options, 0);
      return Slot::bytes_needed(config, train_count, Bundle::eval_chunk_rows(BundleOptions{}, config.model));
    } catch (const std::invalid_argument&) {
      return std::nullopt;  // such a trial fails before it takes a slot
    }
  };

  std::optional<size_t> largest;
  auto keep = [&](std::optional<size_t> bytes) {
    if (bytes && (!largest || *bytes > *largest)) largest = bytes;
  };
  if (combinations <= kMaxCombinations) {
    // Every combination, counting through the tried choices' options like an odometer.
    for (;;) {
      keep(bytes_at());
      size_t k = 0;
      for (; k < tried.size(); ++k) {
        size_t& pick = picks[static_cast<size_t>(tried[k])];
        if (++pick < flat[static_cast<size_t>(tried[k])].distribution.options.size()) break;
        pick = 0;
      }
      if (k == tried.size()) break;
    }
  } else {
    // Too many: each choice in turn takes its largest option, given those before it.
    for (const int index : tried) {
      size_t best = 0;
      std::optional<size_t> best_bytes;
      for (size_t option = 0; option < flat[static_cast<size_t>(index)].distribution.options.size(); ++option) {
        picks[static_cast<size_t>(index)] = option;
        const std::optional<size_t> bytes = bytes_at();
        keep(bytes);
        if (bytes && (!best_bytes || *bytes > *best_bytes)) {
          best = option;
          best_bytes = bytes;
        }
      }
      picks[static_cast<size_t>(index)] = best;
    }
  }
  return largest;
}

std::optional<MemoryLimit> slot_memory_limit(std::optional<size_t> free_bytes, const std::string& device_label) {
  if (free_bytes) return MemoryLimit{*free_bytes, "the free memory of " + device_label};
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGE_SIZE);
  if (pages <= 0 || page_size <= 0) return std::nullopt;
  return MemoryLimit{slots_bytes(pages, static_cast<size_t>(page_size)), "this machine's physical memory (sysconf)"};
}

size_t slots_bytes(int64_t count, size_t each) {
  if (count <= 0 || each == 0) return 0;
  const auto n = static_cast<size_t>(count);
  return each > std::numeric_limits<size_t>::max() / n ? std::numeric_limits<size_t>::max() : n * each;
}

std::string gib_text(size_t bytes) {
  char text[48];
  std::snprintf(text, sizeof text, "%.1f GiB", static_cast<double>(bytes) / double(1ull << 30));
  return text;
}

void require_memory(size_t needed, const MemoryLimit& limit, const std::string& what, const std::string& advice) {
  if (needed <= limit.bytes) return;
  throw std::invalid_argument(what + " needs about " + gib_text(needed) + ", the limit is " + gib_text(limit.bytes) +
                              " (" + limit.source + "); " + advice);
}

}  // namespace gpu_tune::app
