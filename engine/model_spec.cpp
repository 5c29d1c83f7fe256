#include "engine/model_spec.h"

#include <algorithm>
#include <charconv>
#include <map>
#include <stdexcept>

namespace gpu_tune {

std::string_view init_scheme_name(InitScheme scheme) { return scheme == InitScheme::kHe ? "he" : "glorot"; }

std::string TensorShape::describe() const {
  return std::to_string(height) + "x" + std::to_string(width) + "x" + std::to_string(channels);
}

int64_t Layer::weight_rows() const {
  return kind == LayerKind::kConv ? int64_t(kernel) * kernel * in.channels : in.size();
}

kernels::ConvGeometry Layer::conv_geometry() const {
  kernels::ConvGeometry g;
  g.height = in.height;
  g.width = in.width;
  g.in_channels = in.channels;
  g.out_channels = out.channels;
  g.kernel = kernel;
  g.padding = padding;
  return g;
}

kernels::PoolGeometry Layer::pool_geometry() const { return {in.height, in.width, in.channels}; }

std::string Layer::describe() const {
  switch (kind) {
    case LayerKind::kConv:
      return "c" + std::to_string(out.channels) + "k" + std::to_string(kernel) + (padding == 0 && kernel > 1 ? "v" : "");
    case LayerKind::kMaxPool: return "p";
    case LayerKind::kDense: return "d" + std::to_string(out.size());
  }
  return "?";
}

bool ModelSpec::is_spatial() const {
  return std::any_of(layers.begin(), layers.end(), [](const Layer& l) { return l.kind != LayerKind::kDense; });
}

std::vector<int> ModelSpec::dense_widths() const {
  std::vector<int> widths;
  for (int l = 0; l + 1 < layer_count(); ++l)
    if (layers[l].kind == LayerKind::kDense) widths.push_back(static_cast<int>(layers[l].out.size()));
  return widths;
}

int64_t ModelSpec::largest_activation() const {
  int64_t largest = input.size();
  for (const Layer& l : layers) largest = std::max(largest, l.out.size());
  return largest;
}

namespace {
int64_t aligned(int64_t offset) {
  return (offset + ModelSpec::kParameterAlignment - 1) / ModelSpec::kParameterAlignment * ModelSpec::kParameterAlignment;
}
}  // namespace

int64_t ModelSpec::weight_offset(int layer) const {
  int64_t offset = 0;
  for (int l = 0; l < layer; ++l)
    if (layers[l].has_parameters()) offset = aligned(bias_offset(l) + layers[l].weight_columns());
  return offset;
}

int64_t ModelSpec::bias_offset(int layer) const {
  return aligned(weight_offset(layer) + layers.at(layer).weight_count());
}

int64_t ModelSpec::storage_size() const { return weight_offset(layer_count()); }

int64_t ModelSpec::parameter_count() const {
  int64_t count = 0;
  for (const Layer& l : layers)
    if (l.has_parameters()) count += l.weight_count() + l.weight_columns();
  return count;
}

std::string ModelSpec::describe() const {
  std::string text;
  if (is_spatial()) {
    text = input.describe() + " ";
    for (const Layer& l : layers) text += l.describe() + (&l == &layers.back() ? "" : "-");
    text.replace(text.size() - layers.back().describe().size(), std::string::npos, std::to_string(outputs()));
  } else {
    text = std::to_string(input.size());
    for (const Layer& l : layers) text += "-" + std::to_string(l.out.size());
  }
  return text + " " + std::string(kernels::activation_name(activation));
}

ModelSpec build_model(std::string name, TensorShape input, const std::vector<LayerRequest>& hidden, int outputs) {
  ModelSpec spec;
  spec.name = std::move(name);
  spec.input = input;
  auto fail = [&](size_t index, const std::string& why) {
    throw std::invalid_argument("layer " + std::to_string(index + 1) + ": " + why);
  };
  if (input.height < 1 || input.width < 1 || input.channels < 1)
    throw std::invalid_argument("input shape " + input.describe() + " is empty");
  if (outputs < 1) throw std::invalid_argument("a model needs at least one output");
  if (hidden.size() + 1 > ModelSpec::kMaxLayers)
    throw std::invalid_argument("more than " + std::to_string(ModelSpec::kMaxLayers) + " layers");
  TensorShape shape = input;
  std::vector<LayerRequest> all = hidden;
  all.push_back({LayerKind::kDense, outputs});
  for (size_t i = 0; i < all.size(); ++i) {
    const LayerRequest& r = all[i];
    Layer layer;
    layer.kind = r.kind;
    layer.in = shape;
    switch (r.kind) {
      case LayerKind::kConv: {
        if (r.units < 1 || r.units > 4096) fail(i, "convolution channels " + std::to_string(r.units) + " outside 1..4096");
        if (r.kernel < 1 || r.kernel % 2 == 0 || r.kernel > 11)
          fail(i, "convolution kernel " + std::to_string(r.kernel) + " is not an odd size from 1 to 11");
        layer.kernel = r.kernel;
        layer.padding = r.padding == Padding::kSame ? r.kernel / 2 : 0;
        const kernels::ConvGeometry g{shape.height, shape.width, shape.channels, r.units, layer.kernel, layer.padding};
        if (g.out_height() < 1 || g.out_width() < 1)
          fail(i, "a " + std::to_string(r.kernel) + "x" + std::to_string(r.kernel) + " valid convolution does not fit a " +
                      shape.describe() + " input");
        layer.out = {g.out_height(), g.out_width(), r.units};
        break;
      }
      case LayerKind::kMaxPool:
        if (shape.height < 2 || shape.width < 2) fail(i, "2x2 pooling does not fit a " + shape.describe() + " input");
        layer.out = {shape.height / 2, shape.width / 2, shape.channels};
        break;
      case LayerKind::kDense:
        if (r.units < 1 || r.units > 65536) fail(i, "width " + std::to_string(r.units) + " is outside 1..65536");
        layer.out = {1, 1, r.units};
        break;
    }
    if (layer.out.size() > (int64_t(1) << 24)) fail(i, "output of " + layer.out.describe() + " is too large");
    spec.layers.push_back(layer);
    shape = layer.out;
  }
  return spec;
}

namespace {

const std::map<std::string, std::string, std::less<>>& presets() {
  // cnn_small is the common two-block Fashion-MNIST CNN; cnn_medium doubles each block's
  // convolution, cnn_large also widens it. Parameter counts: see engine/README.md.
  static const std::map<std::string, std::string, std::less<>> table = {
      {"mlp_small", "128"},
      {"mlp_medium", "256-128"},
      {"mlp_large", "512-512-256"},
      {"cnn_small", "c32-p-c64-p-d128"},
      {"cnn_medium", "c32-c32-p-c64-c64-p-d256"},
      {"cnn_large", "c64-c64-p-c128-c128-p-d512"},
  };
  return table;
}

template <typename T>
bool parse_int(std::string_view text, T& value) {
  const auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
  return !text.empty() && ec == std::errc() && ptr == text.data() + text.size();
}

}  // namespace

const std::vector<std::string>& model_preset_names() {
  static const std::vector<std::string> names = {"mlp_small", "mlp_medium", "mlp_large",
                                                 "cnn_small", "cnn_medium", "cnn_large"};
  return names;
}

ModelSpec parse_model(std::string_view text, TensorShape input, int outputs) {
  std::string_view layers_text = text;
  if (auto it = presets().find(text); it != presets().end()) layers_text = it->second;
  auto fail = [&](const std::string& why) -> ModelSpec {
    std::string known;
    for (const std::string& n : model_preset_names()) known += (known.empty() ? "" : ", ") + n;
    throw std::invalid_argument("model '" + std::string(text) + "': " + why + " (expected a preset: " + known +
                                "; or layers such as 256-128 or c32-p-c64-p-d128)");
  };
  if (text.empty()) return fail("empty");
  std::vector<LayerRequest> hidden;
  size_t start = 0;
  while (start <= layers_text.size()) {
    const size_t end = std::min(layers_text.find('-', start), layers_text.size());
    const std::string_view part = layers_text.substr(start, end - start);
    start = end + 1;
    const std::string quoted = "'" + std::string(part) + "'";
    if (part.empty()) return fail("an empty layer between dashes");
    if (part == "f") continue;
    if (part == "p") {
      hidden.push_back({LayerKind::kMaxPool});
      continue;
    }
    LayerRequest r;
    std::string_view number = part;
    if (part.front() == 'c') {
      r.kind = LayerKind::kConv;
      number = part.substr(1);
      if (!number.empty() && number.back() == 'v') {
        r.padding = Padding::kValid;
        number.remove_suffix(1);
      }
      if (const size_t k = number.find('k'); k != std::string_view::npos) {
        if (!parse_int(number.substr(k + 1), r.kernel)) return fail(quoted + " has no kernel size after k");
        number = number.substr(0, k);
      }
    } else if (part.front() == 'd') {
      number = part.substr(1);
    }
    if (!parse_int(number, r.units)) return fail(quoted + " is not a layer (cN[kK][v], p, f, dN or N)");
    hidden.push_back(r);
  }
  try {
    return build_model(std::string(text), input, hidden, outputs);
  } catch (const std::invalid_argument& e) {
    return fail(e.what());
  }
}

ModelSpec parse_model(std::string_view text, int features, int outputs) {
  return parse_model(text, TensorShape{1, 1, features}, outputs);
}

}  // namespace gpu_tune
