#include "search/space_description.h"

#include <map>
#include <sstream>
#include <string_view>
#include <variant>

#include "search/keyed_changes.h"

namespace gpu_tune::search {
namespace {

std::string exact(double value) {
  std::ostringstream text;
  text.precision(17);
  text << value;
  return text.str();
}

// Typed, so that a choice between 32 and "32" is not mistaken for the same space.
std::string typed(const ParamValue& value) {
  if (const auto* s = std::get_if<std::string>(&value)) {
    std::string quoted = "\"";
    for (char c : *s) {
      if (c == '"' || c == '\\') quoted += '\\';
      quoted += c;
    }
    return quoted + "\"";
  }
  if (const auto* d = std::get_if<double>(&value)) {
    std::string text = exact(*d);
    // A whole real keeps a point, so it differs from the integer of the same value.
    if (text.find_first_of(".eEn") == std::string::npos) text += ".0";
    return text;
  }
  return to_string(value);
}

std::string describe_distribution(const Distribution& d) {
  std::string text = std::string(distribution_kind_name(d.kind)) + "(";
  if (d.kind == DistributionKind::kChoice) {
    for (size_t i = 0; i < d.options.size(); ++i) text += (i ? ", " : "") + typed(d.options[i].value);
  } else if (d.is_bounded()) {
    text += "low=" + exact(d.low) + ", high=" + exact(d.high);
  } else {
    text += "mu=" + exact(d.mu) + ", sigma=" + exact(d.sigma);
  }
  if (d.is_quantized()) text += ", q=" + exact(d.q);
  return text + ")";
}

// name -> the rest of its line.
std::map<std::string, std::string> by_name(const std::string& description) {
  std::map<std::string, std::string> lines;
  std::istringstream in(description);
  std::string line;
  while (std::getline(in, line)) {
    const size_t colon = line.find(": ");
    if (colon == std::string::npos) continue;
    lines[line.substr(0, colon)] = line.substr(colon + 2);
  }
  return lines;
}

}  // namespace

std::string describe_space(const SearchSpace& space) {
  std::map<std::string, std::string> lines;
  const std::vector<FlatParameter>& flat = space.flat();
  for (const FlatParameter& p : flat) {
    std::string line = describe_distribution(p.distribution);
    if (p.parent >= 0) {
      const FlatParameter& parent = flat[static_cast<size_t>(p.parent)];
      line += " when " + parent.name + "=" + typed(parent.distribution.options[static_cast<size_t>(p.parent_option)].value);
    }
    lines[p.name] = line;
  }
  std::string text;
  for (const auto& [name, line] : lines) text += name + ": " + line + "\n";
  return text;
}

std::string space_changes(const std::string& before, const std::string& after) {
  return keyed_changes(by_name(before), by_name(after), "parameter ");
}

}  // namespace gpu_tune::search
