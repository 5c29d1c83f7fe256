#include "engine/model_spec.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <stdexcept>

namespace gpu_tune {

std::string_view init_scheme_name(InitScheme scheme) { return scheme == InitScheme::kHe ? "he" : "glorot"; }

int ModelSpec::widest_layer() const {
  int widest = std::max(inputs, outputs);
  for (int w : hidden) widest = std::max(widest, w);
  return widest;
}

namespace {
int64_t aligned(int64_t offset) {
  return (offset + ModelSpec::kParameterAlignment - 1) / ModelSpec::kParameterAlignment * ModelSpec::kParameterAlignment;
}
}  // namespace

int64_t ModelSpec::weight_offset(int layer) const {
  int64_t offset = 0;
  for (int l = 0; l < layer; ++l) offset = aligned(bias_offset(l) + layer_outputs(l));
  return offset;
}

int64_t ModelSpec::bias_offset(int layer) const {
  return aligned(weight_offset(layer) + int64_t(layer_inputs(layer)) * layer_outputs(layer));
}

int64_t ModelSpec::parameter_count() const {
  int64_t count = 0;
  for (int l = 0; l < layer_count(); ++l) count += int64_t(layer_inputs(l) + 1) * layer_outputs(l);
  return count;
}

std::string ModelSpec::describe() const {
  std::string text = std::to_string(inputs);
  for (int w : hidden) text += "-" + std::to_string(w);
  text += "-" + std::to_string(outputs) + " " + std::string(kernels::activation_name(activation));
  return text;
}

namespace {
const std::map<std::string, std::vector<int>, std::less<>>& presets() {
  static const std::map<std::string, std::vector<int>, std::less<>> table = {
      {"mlp_small", {128}},
      {"mlp_medium", {256, 128}},
      {"mlp_large", {512, 512, 256}},
  };
  return table;
}
}  // namespace

const std::vector<std::string>& model_preset_names() {
  static const std::vector<std::string> names = [] {
    std::vector<std::string> n;
    for (const auto& [name, widths] : presets()) n.push_back(name);
    return n;
  }();
  return names;
}

ModelSpec parse_model(std::string_view text, int inputs, int outputs) {
  ModelSpec spec;
  spec.name = std::string(text);
  spec.inputs = inputs;
  spec.outputs = outputs;
  if (auto it = presets().find(text); it != presets().end()) {
    spec.hidden = it->second;
    return spec;
  }
  auto fail = [&](const std::string& why) -> ModelSpec {
    std::string known;
    for (const std::string& n : model_preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("model '" + std::string(text) + "': " + why + " (expected a preset: " + known +
                                "; or hidden widths such as 256-128)");
  };
  if (text.empty()) return fail("empty");
  size_t start = 0;
  while (start <= text.size()) {
    const size_t end = std::min(text.find('-', start), text.size());
    const std::string_view part = text.substr(start, end - start);
    int width = 0;
    const auto [ptr, ec] = std::from_chars(part.data(), part.data() + part.size(), width);
    if (part.empty() || ec != std::errc() || ptr != part.data() + part.size()) return fail("'" + std::string(part) + "' is not a width");
    if (width < 1 || width > 65536) return fail("width " + std::to_string(width) + " is outside 1..65536");
    spec.hidden.push_back(width);
    start = end + 1;
  }
  if (spec.hidden.size() > 16) return fail("more than 16 hidden layers");
  return spec;
}

}  // namespace gpu_tune
