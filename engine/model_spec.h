#pragma once
// What a slot trains: a list of layers with shapes inferred from the input image, ending
// in a dense output layer. Layer kinds: 2D convolution (stride 1, odd square kernel,
// "same" or "valid" zero padding), 2x2 max-pooling and dense. Activations follow every
// convolution and every hidden dense layer; the slot's dropout follows every hidden dense
// layer. Tensors are NHWC (channels last), so flattening before a dense layer moves no
// data: a dense layer after a convolution reads the image as H*W*C features in (h, w, c)
// order. An MLP is the special case of dense layers only.
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "kernels/activation.h"
#include "kernels/conv2d.h"
#include "kernels/max_pool.h"

namespace gpu_tune {

enum class InitScheme { kHe, kGlorot };

std::string_view init_scheme_name(InitScheme scheme);

struct TensorShape {
  int height = 1, width = 1, channels = 1;
  int64_t size() const { return int64_t(height) * width * channels; }
  bool operator==(const TensorShape&) const = default;
  std::string describe() const;  // "28x28x1"
};

enum class LayerKind { kConv, kMaxPool, kDense };
enum class Padding { kSame, kValid };

// A layer as written, before shapes are known.
struct LayerRequest {
  LayerKind kind = LayerKind::kDense;
  int units = 0;  // a convolution's output channels, or a dense layer's width
  int kernel = 3;
  Padding padding = Padding::kSame;
};

// A layer with its shapes.
struct Layer {
  LayerKind kind = LayerKind::kDense;
  TensorShape in, out;
  int kernel = 0, padding = 0;  // convolution only

  bool has_parameters() const { return kind != LayerKind::kMaxPool; }
  // Rows of the weight matrix (fan-in): K*K*Cin for a convolution, the input size for dense.
  int64_t weight_rows() const;
  // Columns of the weight matrix and length of the bias: output channels or units.
  int weight_columns() const { return kind == LayerKind::kDense ? static_cast<int>(out.size()) : out.channels; }
  int64_t weight_count() const { return has_parameters() ? weight_rows() * weight_columns() : 0; }
  // Rows of the bias-and-activation epilogue per image: OH*OW for a convolution, 1 for dense.
  int64_t epilogue_rows_per_image() const { return kind == LayerKind::kConv ? int64_t(out.height) * out.width : 1; }
  kernels::ConvGeometry conv_geometry() const;
  kernels::PoolGeometry pool_geometry() const;
  std::string describe() const;  // "c32k3", "c16k5v", "p", "d128"
  bool operator==(const Layer&) const = default;
};

struct ModelSpec {
  static constexpr int kMaxLayers = 32;

  std::string name;  // a preset's name, or the text as written
  TensorShape input{28, 28, 1};
  std::vector<Layer> layers;  // input side first; the last is the dense output layer
  kernels::Activation activation = kernels::Activation::kRelu;
  InitScheme init = InitScheme::kHe;

  int layer_count() const { return static_cast<int>(layers.size()); }
  const Layer& layer(int index) const { return layers.at(index); }
  int64_t input_features() const { return input.size(); }
  int outputs() const { return static_cast<int>(layers.back().out.size()); }
  int64_t layer_inputs(int l) const { return layers.at(l).in.size(); }    // features in
  int64_t layer_outputs(int l) const { return layers.at(l).out.size(); }  // features out
  // True when the model has a convolution or pooling layer (it then needs the images'
  // height and width, not only their size).
  bool is_spatial() const;
  std::vector<int> dense_widths() const;  // the hidden dense layers' widths
  int64_t largest_activation() const;      // the most features any layer reads or writes
  int64_t parameter_count() const;         // weights and biases

  // The slot's flat parameter vector: per layer with parameters, W (weight_rows x
  // weight_columns, row-major) then the bias, each starting at a multiple of
  // kParameterAlignment floats (16 bytes), as vector loads and TF32 through cuBLAS need.
  // The gaps are zero and stay zero: no gradient reaches them. Layers without parameters
  // take no room. storage_size() is the vector's length, parameter_count() or a little more.
  static constexpr int64_t kParameterAlignment = 4;
  int64_t weight_offset(int layer) const;
  int64_t bias_offset(int layer) const;
  int64_t storage_size() const;
  std::string describe() const;  // "784-256-128-10 relu", "28x28x1 c32k3-p-c64k3-p-d128-10 relu"
};

// Infers the shapes of `hidden` followed by a dense output layer of `outputs` units.
// Throws std::invalid_argument naming the layer and the problem (a convolution or pool
// whose output would be empty, too many layers, sizes out of range).
ModelSpec build_model(std::string name, TensorShape input, const std::vector<LayerRequest>& hidden, int outputs);

// The presets: mlp_small, mlp_medium, mlp_large, cnn_small, cnn_medium, cnn_large.
const std::vector<std::string>& model_preset_names();

// Parses a preset name ("cnn_small") or the compact text form: layers joined by '-', each
//   cN[kK][v]  convolution with N channels, kernel K (3 when omitted), "valid" padding
//              with v ("same" otherwise)
//   p          2x2 max-pooling
//   f          flatten (optional: a dense layer flattens what it reads)
//   dN or N    dense layer of N units
// for example "c32-p-c64-p-d128" or "256-128". The output layer is added. Throws
// std::invalid_argument naming the text and the problem.
ModelSpec parse_model(std::string_view text, TensorShape input = {28, 28, 1}, int outputs = 10);
// A flat input of `features` values (1 x 1 x features): for MLPs on flat data.
ModelSpec parse_model(std::string_view text, int features, int outputs);

}  // namespace gpu_tune
