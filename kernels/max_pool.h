#pragma once
// 2x2 max-pooling with stride 2 over NHWC images. An odd height or width drops its last
// row or column (floor, as PyTorch and Keras do by default).
//   forward:  out[n, oh, ow, c] = max of the 2x2 window at (2*oh, 2*ow)
//   backward: the output's gradient goes to the window's first maximum (in the order
//             (0,0), (0,1), (1,0), (1,1)); every other input element's gradient is zero.
// The backward pass finds the maximum again from the input instead of storing it, with the
// same function as the forward pass, so both agree. A NaN in a window is its maximum, so
// a diverging slot's NaN reaches its loss.
#include <cstdint>
#include <span>

#include "kernels/host_device.h"

#ifdef GPU_TUNE_WITH_CUDA
typedef struct CUstream_st* cudaStream_t;  // as cuda_runtime_api.h declares it
#endif

namespace gpu_tune::kernels {

struct PoolGeometry {
  int height = 0, width = 0, channels = 0;  // one input image
  GPU_TUNE_HD int out_height() const { return height / 2; }
  GPU_TUNE_HD int out_width() const { return width / 2; }
  GPU_TUNE_HD int64_t input_size() const { return int64_t(height) * width * channels; }
  GPU_TUNE_HD int64_t output_size() const { return int64_t(out_height()) * out_width() * channels; }
};

// Index (0..3, row-major in the window) of the window's first maximum, NaN winning.
GPU_TUNE_HD int max_pool_window_argmax(const float* window_origin, int64_t row_stride, int64_t column_stride) {
  const float v[4] = {window_origin[0], window_origin[column_stride], window_origin[row_stride],
                      window_origin[row_stride + column_stride]};
  int best = 0;
  for (int i = 1; i < 4; ++i)
    if (v[best] == v[best] && (v[i] > v[best] || v[i] != v[i])) best = i;
  return best;
}

struct MaxPoolForward {
  int images = 0;  // the bound; see dynamic_images
  PoolGeometry geometry;
  const float* input = nullptr;  // images x H x W x C
  float* output = nullptr;       // images x H/2 x W/2 x C
  const int32_t* dynamic_images = nullptr;
};

struct MaxPoolBackward {
  int images = 0;
  PoolGeometry geometry;
  const float* input = nullptr;        // the forward pass's input
  const float* output_grad = nullptr;  // images x H/2 x W/2 x C
  float* input_grad = nullptr;         // images x H x W x C, overwritten (every element)
  const int32_t* dynamic_images = nullptr;
};

inline MaxPoolForward with_run_time_values(MaxPoolForward p) {
  p.images = run_time_size(p.dynamic_images, p.images);
  p.dynamic_images = nullptr;
  return p;
}
inline MaxPoolBackward with_run_time_values(MaxPoolBackward p) {
  p.images = run_time_size(p.dynamic_images, p.images);
  p.dynamic_images = nullptr;
  return p;
}

// CPU reference; exact (a maximum rounds nothing), so the CUDA forms match it bit for bit.
// Throw std::invalid_argument naming the problem for a malformed one (a window that does
// not fit: height or width below 2).
void max_pool_forward_cpu(std::span<const MaxPoolForward> problems);
void max_pool_backward_cpu(std::span<const MaxPoolBackward> problems);

#ifdef GPU_TUNE_WITH_CUDA
void max_pool_forward_cuda(std::span<const MaxPoolForward> problems, cudaStream_t stream);
void max_pool_backward_cuda(std::span<const MaxPoolBackward> problems, cudaStream_t stream);
#endif

}  // namespace gpu_tune::kernels
