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

// The window's first maximum, NaN winning: its value and its index (0..3, row-major in
// the window). Written as selects on the running maximum, without indexing, so the CPU
// form's loop over channels vectorises; the CUDA kernels call the same function.
struct WindowMaximum {
  float value;
  int index;
};
GPU_TUNE_HD WindowMaximum max_pool_window_maximum(float v0, float v1, float v2, float v3) {
  float best = v0;
  int index = 0;
  // A later element takes over when the maximum so far is a number and the element is
  // larger or NaN; so ties keep the first, and the first NaN stays. Bitwise & and |, not
  // && and ||: no short-circuit branches, so the selects vectorise.
  const bool take1 = (best == best) & ((v1 > best) | (v1 != v1));
  best = take1 ? v1 : best;
  index = take1 ? 1 : index;
  const bool take2 = (best == best) & ((v2 > best) | (v2 != v2));
  best = take2 ? v2 : best;
  index = take2 ? 2 : index;
  const bool take3 = (best == best) & ((v3 > best) | (v3 != v3));
  best = take3 ? v3 : best;
  index = take3 ? 3 : index;
  return {best, index};
}
GPU_TUNE_HD int max_pool_window_argmax(const float* window_origin, int64_t row_stride, int64_t column_stride) {
  return max_pool_window_maximum(window_origin[0], window_origin[column_stride], window_origin[row_stride],
                                 window_origin[row_stride + column_stride])
      .index;
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
