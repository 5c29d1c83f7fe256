#pragma once
// What a slot trains: a multi-layer perceptron described by its layer widths.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/activation.h"

namespace gpu_tune {

enum class InitScheme { kHe, kGlorot };

std::string_view init_scheme_name(InitScheme scheme);

struct ModelSpec {
  std::string name;          // a preset's name, or the widths as written
  int inputs = 784;
  std::vector<int> hidden;   // hidden layer widths, input side first
  int outputs = 10;
  kernels::Activation activation = kernels::Activation::kRelu;
  InitScheme init = InitScheme::kHe;

  int layer_count() const { return static_cast<int>(hidden.size()) + 1; }
  int layer_inputs(int layer) const { return layer == 0 ? inputs : hidden[layer - 1]; }
  int layer_outputs(int layer) const { return layer == layer_count() - 1 ? outputs : hidden[layer]; }
  int widest_layer() const;
  int64_t parameter_count() const;  // the model's weights and biases
  // The slot's flat parameter vector: per layer W (inputs x outputs, row-major), then the
  // bias, each starting at a multiple of kParameterAlignment floats (16 bytes), as vector
  // loads and TF32 through cuBLAS need. The gaps are zero and stay zero: no gradient
  // reaches them. storage_size() is the vector's length, parameter_count() or a little more.
  static constexpr int64_t kParameterAlignment = 4;
  int64_t weight_offset(int layer) const;
  int64_t bias_offset(int layer) const;
  int64_t storage_size() const { return weight_offset(layer_count()); }
  std::string describe() const;  // e.g. "784-256-128-10 relu"
};

// The presets of the seed study.
const std::vector<std::string>& model_preset_names();

// Parses a preset name ("mlp_medium") or hidden widths ("256-128", "300"). Throws
// std::invalid_argument naming the text and the problem.
ModelSpec parse_model(std::string_view text, int inputs = 784, int outputs = 10);

}  // namespace gpu_tune
