#pragma once
// 2D convolution of a bundle's convolutional layers, stride 1, square odd kernels, zero
// padding, images in NHWC (channels last). In NHWC a convolution is a matrix product:
//   forward          Y[n*OH*OW, Cout] = im2col(X)[n*OH*OW, K*K*Cin] * W[K*K*Cin, Cout]
//   weight gradient  dW[K*K*Cin, Cout] = im2col(X)^T * dY     (a sum over n*OH*OW rows)
//   data gradient    dX = col2im(dY * W^T)
// so its output is already the rows x channels matrix that the dense layers' bias and
// activation epilogue (bias_activation.h) works on, with rows = images * OH * OW.
// Weights are K x K x Cin x Cout, row-major: row (kh * K + kw) * Cin + ci, column co.
// Bias and activation are not part of these operations; the epilogue adds them.
#include <cstdint>
#include <span>
#include <string>

#include "kernels/grouped_gemm.h"
#include "kernels/host_device.h"

#ifdef GPU_TUNE_WITH_CUDA
typedef struct CUstream_st* cudaStream_t;  // as cuda_runtime_api.h declares it
#endif

namespace gpu_tune::kernels {

// The shape of one convolution. Output size: H + 2 * padding - kernel + 1 (the same for W);
// "same" padding is kernel / 2, "valid" is 0.
struct ConvGeometry {
  int height = 0, width = 0, in_channels = 0;  // one input image
  int out_channels = 0;
  int kernel = 3;   // odd, >= 1
  int padding = 1;  // zero padding on each side, 0 <= padding < kernel

  GPU_TUNE_HD int out_height() const { return height + 2 * padding - kernel + 1; }
  GPU_TUNE_HD int out_width() const { return width + 2 * padding - kernel + 1; }
  GPU_TUNE_HD int patch_size() const { return kernel * kernel * in_channels; }  // im2col columns
  GPU_TUNE_HD int64_t input_size() const { return int64_t(height) * width * in_channels; }
  GPU_TUNE_HD int64_t output_size() const { return int64_t(out_height()) * out_width() * out_channels; }
  GPU_TUNE_HD int64_t weight_count() const { return int64_t(patch_size()) * out_channels; }
};

// Element (row, column) of im2col(X) for one image-row block: row = (n * OH + oh) * OW + ow,
// column = (kh * K + kw) * Cin + ci; zero where the patch reaches into the padding. The
// CPU form and the CUDA kernels (which read it on the fly: implicit GEMM) share it.
GPU_TUNE_HD float im2col_element(const ConvGeometry& g, const float* input, int64_t row, int column) {
  const int ow = static_cast<int>(row % g.out_width());
  const int64_t rest = row / g.out_width();
  const int oh = static_cast<int>(rest % g.out_height());
  const int64_t n = rest / g.out_height();
  const int ci = column % g.in_channels;
  const int kk = column / g.in_channels;
  const int kw = kk % g.kernel, kh = kk / g.kernel;
  const int h = oh + kh - g.padding, w = ow + kw - g.padding;
  if (h < 0 || h >= g.height || w < 0 || w >= g.width) return 0.0f;
  return input[((n * g.height + h) * g.width + w) * g.in_channels + ci];
}

struct Conv2dForward {
  int images = 0;  // the bound; see dynamic_images
  ConvGeometry geometry;
  const float* input = nullptr;    // images x H x W x Cin
  const float* weights = nullptr;  // K x K x Cin x Cout
  float* output = nullptr;         // images x OH x OW x Cout, overwritten
  const int32_t* dynamic_images = nullptr;  // run-time images (see run_time_size)
};

struct Conv2dBackwardData {
  int images = 0;
  ConvGeometry geometry;
  const float* output_grad = nullptr;  // images x OH x OW x Cout
  const float* weights = nullptr;      // K x K x Cin x Cout
  float* input_grad = nullptr;         // images x H x W x Cin, overwritten (every element)
  const int32_t* dynamic_images = nullptr;
};

struct Conv2dBackwardWeight {
  int images = 0;
  ConvGeometry geometry;
  const float* input = nullptr;        // images x H x W x Cin
  const float* output_grad = nullptr;  // images x OH x OW x Cout
  float* weight_grad = nullptr;        // K x K x Cin x Cout, overwritten
  // Workspace for a split reduction (the CUDA form: partial sums per block of rows, added
  // in a fixed order by a second pass): conv2d_weight_grad_workspace(geometry, images)
  // floats. The CPU form does not use it and accepts null.
  float* workspace = nullptr;
  const int32_t* dynamic_images = nullptr;
};

// Floats of workspace a Conv2dBackwardWeight with this geometry and image bound needs.
int64_t conv2d_weight_grad_workspace(const ConvGeometry& geometry, int images);

inline Conv2dForward with_run_time_values(Conv2dForward p) {
  p.images = run_time_size(p.dynamic_images, p.images);
  p.dynamic_images = nullptr;
  return p;
}
inline Conv2dBackwardData with_run_time_values(Conv2dBackwardData p) {
  p.images = run_time_size(p.dynamic_images, p.images);
  p.dynamic_images = nullptr;
  return p;
}
inline Conv2dBackwardWeight with_run_time_values(Conv2dBackwardWeight p) {
  p.images = run_time_size(p.dynamic_images, p.images);
  p.dynamic_images = nullptr;
  return p;
}

// Throws std::invalid_argument naming `what` (e.g. "conv2d_forward problem 3") and the
// geometry's problem: sizes below 1, an even kernel, padding outside [0, kernel), or an
// output smaller than 1x1.
void validate_conv_geometry(const ConvGeometry& geometry, const std::string& what);

// CPU reference: im2col into a scratch buffer, then the grouped GEMM's CPU form (CBLAS;
// `precision` kTf32 emulates the tensor cores as grouped_gemm_cpu does); the data gradient
// scatters its columns back (col2im) in a fixed order. A problem runs in chunks of
// consecutive images, about 1 MB of im2col columns each (at least one image; the count is
// fixed by the geometry), each chunk on one thread, so its columns stay in that core's
// cache. The weight gradient sums runs of consecutive chunks apart (at most 8 runs per
// problem, so at most 7 partial sums are held) and then adds the runs' sums in order:
// deterministic run to run and whatever the thread count, and a slot computes the same
// bits alone as in any bundle.
void conv2d_forward_cpu(std::span<const Conv2dForward> problems, GemmPrecision precision = GemmPrecision::kFp32);
void conv2d_backward_data_cpu(std::span<const Conv2dBackwardData> problems,
                              GemmPrecision precision = GemmPrecision::kFp32);
void conv2d_backward_weight_cpu(std::span<const Conv2dBackwardWeight> problems,
                                GemmPrecision precision = GemmPrecision::kFp32);

#ifdef GPU_TUNE_WITH_CUDA
// CUDA forms: implicit GEMM (the im2col operand read on the fly, never materialised),
// every problem of the span in one launch per pass; the weight gradient splits its sum
// over rows into blocks and adds the blocks' partial sums in a fixed order in a second
// pass: deterministic run to run, no atomics. Asynchronous on `stream`, device pointers.
void conv2d_forward_cuda(std::span<const Conv2dForward> problems, cudaStream_t stream,
                         GemmPrecision precision = GemmPrecision::kFp32);
void conv2d_backward_data_cuda(std::span<const Conv2dBackwardData> problems, cudaStream_t stream,
                               GemmPrecision precision = GemmPrecision::kFp32);
void conv2d_backward_weight_cuda(std::span<const Conv2dBackwardWeight> problems, cudaStream_t stream,
                                 GemmPrecision precision = GemmPrecision::kFp32);
#endif

}  // namespace gpu_tune::kernels
