#pragma once
// One convolution test case for the CUDA suites of our kernels and of cuDNN: random
// inputs, the CPU forms' results for the run-time images, and device buffers with the
// outputs (and the weight-gradient workspace) poisoned with NaN.
#include <algorithm>
#include <cmath>
#include <string>
#include <vector>

#include "kernels/conv2d.h"
#include "tests/cuda/cuda_test_utils.h"

namespace gpu_tune::kernels::conv_test {

struct ConvSpec {
  int images = 1;  // the bound
  ConvGeometry geometry;
  int run_time_images = -1;  // passed as dynamic_images when >= 0

  int effective_images() const { return run_time_images < 0 ? images : std::clamp(run_time_images, 0, images); }
};

inline std::string describe(const ConvSpec& s) {
  const ConvGeometry& g = s.geometry;
  std::string text = std::to_string(s.images) + " x " + std::to_string(g.height) + "x" + std::to_string(g.width) +
                     "x" + std::to_string(g.in_channels) + " -> " + std::to_string(g.out_channels) + ", kernel " +
                     std::to_string(g.kernel) + " padding " + std::to_string(g.padding);
  if (s.run_time_images >= 0) text += ", run-time images " + std::to_string(s.run_time_images);
  return text;
}

inline ConvSpec spec(int images, int height, int width, int in_channels, int out_channels, int kernel, int padding) {
  return {images, ConvGeometry{height, width, in_channels, out_channels, kernel, padding}};
}

struct ConvCase {
  ConvSpec spec;
  std::vector<float> x, w, dy;
  std::vector<float> y_cpu, dx_cpu, dw_cpu;
  DeviceArray<float> x_device, w_device, dy_device, y_device, dx_device, dw_device, workspace;
  DeviceArray<int32_t> images_device;

  const ConvGeometry& g() const { return spec.geometry; }
  const int32_t* dynamic_images() const { return spec.run_time_images >= 0 ? images_device.data() : nullptr; }

  Conv2dForward forward() const {
    return {spec.images, g(), x_device.data(), w_device.data(), y_device.data(), dynamic_images()};
  }
  Conv2dBackwardData backward_data() const {
    return {spec.images, g(), dy_device.data(), w_device.data(), dx_device.data(), dynamic_images()};
  }
  // Without the workspace for the cuDNN path, which brings its own.
  Conv2dBackwardWeight backward_weight(bool with_workspace = true) const {
    return {spec.images,     g(), x_device.data(), dy_device.data(), dw_device.data(),
            with_workspace ? workspace.data() : nullptr, dynamic_images()};
  }

  void poison_outputs() {
    for (DeviceArray<float>* out : {&y_device, &dx_device, &dw_device, &workspace})
      out->upload(std::vector<float>(out->size(), test::quiet_nan()));
  }
};

inline DeviceArray<float> nan_device_array(int64_t count) {
  return cuda_test::to_device(std::vector<float>(static_cast<size_t>(std::max<int64_t>(count, 1)), test::quiet_nan()));
}

// `reference` is the precision of the CPU results the case holds.
inline ConvCase make_case(const ConvSpec& s, test::Rng& rng, GemmPrecision reference) {
  ConvCase c;
  c.spec = s;
  const ConvGeometry& g = s.geometry;
  c.x = test::random_nonzero(static_cast<size_t>(s.images * g.input_size()), rng);
  c.w = test::random_nonzero(static_cast<size_t>(g.weight_count()), rng);
  c.dy = test::random_nonzero(static_cast<size_t>(s.images * g.output_size()), rng);

  // The CPU forms over the run-time images only.
  const int n = s.effective_images();
  c.y_cpu.assign(static_cast<size_t>(n * g.output_size()), test::quiet_nan());
  c.dx_cpu.assign(static_cast<size_t>(n * g.input_size()), test::quiet_nan());
  c.dw_cpu.assign(static_cast<size_t>(g.weight_count()), test::quiet_nan());
  const Conv2dForward forward{n, g, c.x.data(), c.w.data(), c.y_cpu.data()};
  const Conv2dBackwardData data{n, g, c.dy.data(), c.w.data(), c.dx_cpu.data()};
  const Conv2dBackwardWeight weight{n, g, c.x.data(), c.dy.data(), c.dw_cpu.data()};
  conv2d_forward_cpu(std::span(&forward, 1), reference);
  conv2d_backward_data_cpu(std::span(&data, 1), reference);
  conv2d_backward_weight_cpu(std::span(&weight, 1), reference);

  c.x_device = cuda_test::to_device(c.x);
  c.w_device = cuda_test::to_device(c.w);
  c.dy_device = cuda_test::to_device(c.dy);
  c.y_device = nan_device_array(s.images * g.output_size());
  c.dx_device = nan_device_array(s.images * g.input_size());
  c.dw_device = nan_device_array(g.weight_count());
  c.workspace = nan_device_array(conv2d_weight_grad_workspace(g, s.images));
  c.images_device = cuda_test::to_device(std::vector<int32_t>{std::max(s.run_time_images, 0)});
  return c;
}

inline std::vector<ConvCase> make_cases(const std::vector<ConvSpec>& specs, test::Rng& rng, GemmPrecision reference) {
  std::vector<ConvCase> cases;
  for (const ConvSpec& s : specs) cases.push_back(make_case(s, rng, reference));
  return cases;
}

// The first `count` elements of a device buffer.
inline std::vector<float> head(const DeviceArray<float>& array, int64_t count) {
  std::vector<float> values = array.download();
  values.resize(static_cast<size_t>(count));
  return values;
}

// Elements [from, to) of a device buffer that are no longer the NaN poison.
inline size_t written_beyond(const DeviceArray<float>& array, int64_t from, int64_t to) {
  const std::vector<float> values = array.download();
  size_t written = 0;
  for (int64_t i = from; i < to; ++i) written += std::isnan(values[static_cast<size_t>(i)]) ? 0 : 1;
  return written;
}

}  // namespace gpu_tune::kernels::conv_test
