#pragma once
// A stand-in for the part of cuDNN that gpu_tune uses (the convolution descriptor API of
// conv2d_cudnn.cu), for the emulated-CUDA tests only: descriptors are plain structs, and
// the three convolutions are plain loops over NHWC tensors and KRSC filters, issued on the
// handle's stream like any emulated operation. It checks CudnnConv2d's side: the layouts
// and the weight transposes, padding, one plan per shape, the algorithm choice, the
// workspace; not cuDNN.
//
// What it holds the caller to, as cuDNN would:
// - Only the algorithms it implements run: implicit GEMM (forward, the precomputed form
//   too) and ALGO_1 (both gradients). The heuristic ranking lists a transform algorithm
//   (FFT) and the non-deterministic ALGO_0 / BWD_FILTER_ALGO_3 first, and their workspace
//   queries succeed, so only the caller's own rules pass them over; running them is
//   CUDNN_STATUS_NOT_SUPPORTED.
// - The precomputed forward and both gradients need a workspace, which they overwrite with
//   NaN bytes when they run, so a caller keeping data there sees it destroyed.
// - Math: CUDNN_FMA_MATH is FP32; any other math type rounds the operands to TF32 (to
//   nearest, as grouped_gemm_cpu's emulation does), since cuDNN's default math permits TF32
//   on this emulated sm_90 as on a real Ampere or newer GPU.
// - beta = 0 writes the output without reading it (NaN there is overwritten).
#include <algorithm>
#include <cstring>
#include <string>
#include <vector>

#include "kernels/grouped_gemm.h"  // round_to_tf32

#define CUDNN_MAJOR 9
#define CUDNN_MINOR 0
#define CUDNN_PATCHLEVEL 0
#define CUDNN_VERSION (CUDNN_MAJOR * 10000 + CUDNN_MINOR * 100 + CUDNN_PATCHLEVEL)

enum cudnnStatus_t { CUDNN_STATUS_SUCCESS = 0, CUDNN_STATUS_BAD_PARAM = 2000, CUDNN_STATUS_NOT_SUPPORTED = 3000 };
enum cudnnDataType_t { CUDNN_DATA_FLOAT = 0 };
enum cudnnTensorFormat_t { CUDNN_TENSOR_NCHW = 0, CUDNN_TENSOR_NHWC = 1 };
enum cudnnMathType_t {
  CUDNN_DEFAULT_MATH = 0,
  CUDNN_TENSOR_OP_MATH = 1,
  CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION = 2,
  CUDNN_FMA_MATH = 3,
};
enum cudnnDeterminism_t { CUDNN_NON_DETERMINISTIC = 0, CUDNN_DETERMINISTIC = 1 };
enum cudnnConvolutionMode_t { CUDNN_CONVOLUTION = 0, CUDNN_CROSS_CORRELATION = 1 };
enum cudnnConvolutionFwdAlgo_t {
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM = 0,
  CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM = 1,
  CUDNN_CONVOLUTION_FWD_ALGO_GEMM = 2,
  CUDNN_CONVOLUTION_FWD_ALGO_DIRECT = 3,
  CUDNN_CONVOLUTION_FWD_ALGO_FFT = 4,
};
enum cudnnConvolutionBwdDataAlgo_t {
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_0 = 0,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT = 2,
};
enum cudnnConvolutionBwdFilterAlgo_t {
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_0 = 0,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1 = 1,
  CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3 = 3,
};

template <typename Algo>
struct EmulatedAlgoPerf {
  Algo algo;
  cudnnStatus_t status;
  float time;
  size_t memory;
  cudnnDeterminism_t determinism;
  cudnnMathType_t mathType;
  int reserved[3];
};
typedef EmulatedAlgoPerf<cudnnConvolutionFwdAlgo_t> cudnnConvolutionFwdAlgoPerf_t;
typedef EmulatedAlgoPerf<cudnnConvolutionBwdDataAlgo_t> cudnnConvolutionBwdDataAlgoPerf_t;
typedef EmulatedAlgoPerf<cudnnConvolutionBwdFilterAlgo_t> cudnnConvolutionBwdFilterAlgoPerf_t;

struct cudnnContext {
  cudaStream_t stream = nullptr;
};
struct cudnnTensorStruct {  // also the filter: k is n, and the format gives the layout
  cudnnTensorFormat_t format = CUDNN_TENSOR_NCHW;
  int n = 0, c = 0, h = 0, w = 0;
};
struct cudnnFilterStruct : cudnnTensorStruct {};
struct cudnnConvolutionStruct {
  int pad_h = 0, pad_w = 0, stride_h = 1, stride_w = 1, dilation_h = 1, dilation_w = 1;
  cudnnConvolutionMode_t mode = CUDNN_CONVOLUTION;
  cudnnMathType_t math = CUDNN_DEFAULT_MATH;
};
typedef cudnnContext* cudnnHandle_t;
typedef cudnnTensorStruct* cudnnTensorDescriptor_t;
typedef cudnnFilterStruct* cudnnFilterDescriptor_t;
typedef cudnnConvolutionStruct* cudnnConvolutionDescriptor_t;

// ---- errors ----------------------------------------------------------------------------
inline thread_local std::string emulated_cudnn_last_error;

inline cudnnStatus_t emulated_cudnn_fail(cudnnStatus_t status, const std::string& why) {
  emulated_cudnn_last_error = why;
  return status;
}
inline const char* cudnnGetErrorString(cudnnStatus_t status) {
  switch (status) {
    case CUDNN_STATUS_SUCCESS: return "CUDNN_STATUS_SUCCESS";
    case CUDNN_STATUS_BAD_PARAM: return "CUDNN_STATUS_BAD_PARAM";
    case CUDNN_STATUS_NOT_SUPPORTED: return "CUDNN_STATUS_NOT_SUPPORTED";
  }
  return "CUDNN_STATUS_UNKNOWN";
}
inline void cudnnGetLastErrorString(char* message, size_t max_size) {
  if (max_size == 0) return;
  std::strncpy(message, emulated_cudnn_last_error.c_str(), max_size - 1);
  message[max_size - 1] = '\0';
  emulated_cudnn_last_error.clear();
}

// ---- handle and descriptors -----------------------------------------------------------
inline cudnnStatus_t cudnnCreate(cudnnHandle_t* handle) {
  *handle = new cudnnContext;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnDestroy(cudnnHandle_t handle) {
  delete handle;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnSetStream(cudnnHandle_t handle, cudaStream_t stream) {
  handle->stream = stream;
  return CUDNN_STATUS_SUCCESS;
}

inline cudnnStatus_t cudnnCreateTensorDescriptor(cudnnTensorDescriptor_t* d) {
  *d = new cudnnTensorStruct;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnDestroyTensorDescriptor(cudnnTensorDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnSetTensor4dDescriptor(cudnnTensorDescriptor_t d, cudnnTensorFormat_t format,
                                                cudnnDataType_t, int n, int c, int h, int w) {
  if (n < 1 || c < 1 || h < 1 || w < 1) return emulated_cudnn_fail(CUDNN_STATUS_BAD_PARAM, "tensor sizes below 1");
  *d = {format, n, c, h, w};
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnCreateFilterDescriptor(cudnnFilterDescriptor_t* d) {
  *d = new cudnnFilterStruct;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnDestroyFilterDescriptor(cudnnFilterDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnSetFilter4dDescriptor(cudnnFilterDescriptor_t d, cudnnDataType_t, cudnnTensorFormat_t format,
                                                int k, int c, int h, int w) {
  if (k < 1 || c < 1 || h < 1 || w < 1) return emulated_cudnn_fail(CUDNN_STATUS_BAD_PARAM, "filter sizes below 1");
  d->format = format;
  d->n = k;
  d->c = c;
  d->h = h;
  d->w = w;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnCreateConvolutionDescriptor(cudnnConvolutionDescriptor_t* d) {
  *d = new cudnnConvolutionStruct;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnDestroyConvolutionDescriptor(cudnnConvolutionDescriptor_t d) {
  delete d;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnSetConvolution2dDescriptor(cudnnConvolutionDescriptor_t d, int pad_h, int pad_w, int u, int v,
                                                     int dilation_h, int dilation_w, cudnnConvolutionMode_t mode,
                                                     cudnnDataType_t) {
  d->pad_h = pad_h;
  d->pad_w = pad_w;
  d->stride_h = u;
  d->stride_w = v;
  d->dilation_h = dilation_h;
  d->dilation_w = dilation_w;
  d->mode = mode;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnSetConvolutionMathType(cudnnConvolutionDescriptor_t d, cudnnMathType_t math) {
  d->math = math;
  return CUDNN_STATUS_SUCCESS;
}

// ---- the convolution: shapes, workspaces, rankings -------------------------------------

// One convolution as the loops see it, from its descriptors, or an error when they do not
// describe a stride-1, undilated NHWC cross-correlation with matching shapes.
struct EmulatedConv {
  cudnnTensorStruct x, y;
  cudnnFilterStruct w;
  cudnnConvolutionStruct conv;
  bool tf32 = false;
};

inline cudnnStatus_t emulated_conv(EmulatedConv& out, const cudnnTensorStruct* x, const cudnnFilterStruct* w,
                                   const cudnnConvolutionStruct* conv, const cudnnTensorStruct* y) {
  if (x->format != CUDNN_TENSOR_NHWC || y->format != CUDNN_TENSOR_NHWC || w->format != CUDNN_TENSOR_NHWC)
    return emulated_cudnn_fail(CUDNN_STATUS_NOT_SUPPORTED, "the stand-in takes NHWC tensors and NHWC (KRSC) filters");
  if (conv->stride_h != 1 || conv->stride_w != 1 || conv->dilation_h != 1 || conv->dilation_w != 1 ||
      conv->mode != CUDNN_CROSS_CORRELATION)
    return emulated_cudnn_fail(CUDNN_STATUS_NOT_SUPPORTED, "the stand-in computes stride-1 cross-correlations only");
  if (x->c != w->c || y->c != w->n || y->n != x->n || y->h != x->h + 2 * conv->pad_h - w->h + 1 ||
      y->w != x->w + 2 * conv->pad_w - w->w + 1)
    return emulated_cudnn_fail(CUDNN_STATUS_BAD_PARAM, "tensor, filter and convolution shapes do not match");
  out = {*x, *y, *w, *conv, conv->math != CUDNN_FMA_MATH};
  return CUDNN_STATUS_SUCCESS;
}

// Workspaces the algorithms ask for (the transforms' as if they ran).
inline constexpr size_t kEmulatedTransformWorkspace = size_t(1) << 20;
inline size_t emulated_forward_workspace(const EmulatedConv& c, cudnnConvolutionFwdAlgo_t algo) {
  if (algo == CUDNN_CONVOLUTION_FWD_ALGO_FFT) return kEmulatedTransformWorkspace;
  return algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM ? size_t(c.w.h) * c.w.w * c.w.c * sizeof(int) : 0;
}
inline size_t emulated_gradient_workspace(const EmulatedConv& c) { return size_t(c.w.n) * sizeof(float); }

// The algorithms the loops below stand for; running any other one is NOT_SUPPORTED.
inline cudnnStatus_t emulated_implemented(bool implemented, const char* pass) {
  if (implemented) return CUDNN_STATUS_SUCCESS;
  return emulated_cudnn_fail(CUDNN_STATUS_NOT_SUPPORTED,
                             std::string("the stand-in runs only deterministic non-transform algorithms (") + pass + ")");
}

inline cudnnStatus_t cudnnGetConvolutionForwardAlgorithmMaxCount(cudnnHandle_t, int* count) {
  *count = 3;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithmMaxCount(cudnnHandle_t, int* count) {
  *count = 3;
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(cudnnHandle_t, int* count) {
  *count = 2;
  return CUDNN_STATUS_SUCCESS;
}

template <typename Algo>
cudnnStatus_t emulated_ranking(const std::vector<EmulatedAlgoPerf<Algo>>& ranking, int requested, int* returned,
                               EmulatedAlgoPerf<Algo>* results) {
  *returned = std::min(requested, static_cast<int>(ranking.size()));
  for (int i = 0; i < *returned; ++i) results[i] = ranking[static_cast<size_t>(i)];
  return CUDNN_STATUS_SUCCESS;
}

inline cudnnStatus_t cudnnGetConvolutionForwardAlgorithm_v7(cudnnHandle_t, cudnnTensorDescriptor_t x,
                                                            cudnnFilterDescriptor_t w, cudnnConvolutionDescriptor_t conv,
                                                            cudnnTensorDescriptor_t y, int requested, int* returned,
                                                            cudnnConvolutionFwdAlgoPerf_t* results) {
  EmulatedConv c;
  if (cudnnStatus_t status = emulated_conv(c, x, w, conv, y); status != CUDNN_STATUS_SUCCESS) return status;
  const cudnnMathType_t math = conv->math;
  return emulated_ranking<cudnnConvolutionFwdAlgo_t>(
      {{CUDNN_CONVOLUTION_FWD_ALGO_FFT, CUDNN_STATUS_SUCCESS, 0.1f, kEmulatedTransformWorkspace, CUDNN_DETERMINISTIC,
        math, {}},
       {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_STATUS_SUCCESS, 0.2f,
        emulated_forward_workspace(c, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM), CUDNN_DETERMINISTIC, math, {}},
       {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM, CUDNN_STATUS_SUCCESS, 0.3f, 0, CUDNN_DETERMINISTIC, math, {}}},
      requested, returned, results);
}
inline cudnnStatus_t cudnnGetConvolutionBackwardDataAlgorithm_v7(cudnnHandle_t, cudnnFilterDescriptor_t w,
                                                                 cudnnTensorDescriptor_t dy,
                                                                 cudnnConvolutionDescriptor_t conv,
                                                                 cudnnTensorDescriptor_t dx, int requested,
                                                                 int* returned,
                                                                 cudnnConvolutionBwdDataAlgoPerf_t* results) {
  EmulatedConv c;
  if (cudnnStatus_t status = emulated_conv(c, dx, w, conv, dy); status != CUDNN_STATUS_SUCCESS) return status;
  const cudnnMathType_t math = conv->math;
  const size_t bytes = emulated_gradient_workspace(c);
  return emulated_ranking<cudnnConvolutionBwdDataAlgo_t>(
      {{CUDNN_CONVOLUTION_BWD_DATA_ALGO_0, CUDNN_STATUS_SUCCESS, 0.1f, 0, CUDNN_NON_DETERMINISTIC, math, {}},
       {CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT, CUDNN_STATUS_SUCCESS, 0.2f, kEmulatedTransformWorkspace,
        CUDNN_DETERMINISTIC, math, {}},
       {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, CUDNN_STATUS_SUCCESS, 0.3f, bytes, CUDNN_DETERMINISTIC, math, {}}},
      requested, returned, results);
}
inline cudnnStatus_t cudnnGetConvolutionBackwardFilterAlgorithm_v7(cudnnHandle_t, cudnnTensorDescriptor_t x,
                                                                   cudnnTensorDescriptor_t dy,
                                                                   cudnnConvolutionDescriptor_t conv,
                                                                   cudnnFilterDescriptor_t dw, int requested,
                                                                   int* returned,
                                                                   cudnnConvolutionBwdFilterAlgoPerf_t* results) {
  EmulatedConv c;
  if (cudnnStatus_t status = emulated_conv(c, x, dw, conv, dy); status != CUDNN_STATUS_SUCCESS) return status;
  const cudnnMathType_t math = conv->math;
  const size_t bytes = emulated_gradient_workspace(c);
  return emulated_ranking<cudnnConvolutionBwdFilterAlgo_t>(
      {{CUDNN_CONVOLUTION_BWD_FILTER_ALGO_3, CUDNN_STATUS_SUCCESS, 0.1f, 0, CUDNN_NON_DETERMINISTIC, math, {}},
       {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, CUDNN_STATUS_SUCCESS, 0.2f, bytes, CUDNN_DETERMINISTIC, math, {}}},
      requested, returned, results);
}

inline cudnnStatus_t cudnnGetConvolutionForwardWorkspaceSize(cudnnHandle_t, cudnnTensorDescriptor_t x,
                                                             cudnnFilterDescriptor_t w,
                                                             cudnnConvolutionDescriptor_t conv,
                                                             cudnnTensorDescriptor_t y, cudnnConvolutionFwdAlgo_t algo,
                                                             size_t* bytes) {
  EmulatedConv c;
  if (cudnnStatus_t status = emulated_conv(c, x, w, conv, y); status != CUDNN_STATUS_SUCCESS) return status;
  if (algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM && algo != CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM &&
      algo != CUDNN_CONVOLUTION_FWD_ALGO_FFT)
    return emulated_cudnn_fail(CUDNN_STATUS_NOT_SUPPORTED, "forward algorithm unknown to the stand-in");
  *bytes = emulated_forward_workspace(c, algo);
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnGetConvolutionBackwardDataWorkspaceSize(cudnnHandle_t, cudnnFilterDescriptor_t w,
                                                                  cudnnTensorDescriptor_t dy,
                                                                  cudnnConvolutionDescriptor_t conv,
                                                                  cudnnTensorDescriptor_t dx,
                                                                  cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
  EmulatedConv c;
  if (cudnnStatus_t status = emulated_conv(c, dx, w, conv, dy); status != CUDNN_STATUS_SUCCESS) return status;
  *bytes = algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_FFT ? kEmulatedTransformWorkspace : emulated_gradient_workspace(c);
  return CUDNN_STATUS_SUCCESS;
}
inline cudnnStatus_t cudnnGetConvolutionBackwardFilterWorkspaceSize(cudnnHandle_t, cudnnTensorDescriptor_t x,
                                                                    cudnnTensorDescriptor_t dy,
                                                                    cudnnConvolutionDescriptor_t conv,
                                                                    cudnnFilterDescriptor_t dw,
                                                                    cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
  EmulatedConv c;
  if (cudnnStatus_t status = emulated_conv(c, x, dw, conv, dy); status != CUDNN_STATUS_SUCCESS) return status;
  (void)algo;
  *bytes = emulated_gradient_workspace(c);
  return CUDNN_STATUS_SUCCESS;
}

// ---- the convolution: the loops ---------------------------------------------------------

inline float emulated_operand(float value, bool tf32) { return tf32 ? gpu_tune::kernels::round_to_tf32(value) : value; }

// x[n, h, w, c] of an NHWC tensor, zero in the padding.
inline float emulated_at(const cudnnTensorStruct& t, const float* data, int n, int h, int w, int c) {
  if (h < 0 || h >= t.h || w < 0 || w >= t.w) return 0.0f;
  return data[((int64_t(n) * t.h + h) * t.w + w) * t.c + c];
}
// f[k, r, s, c] of a KRSC filter.
inline float emulated_filter(const cudnnFilterStruct& f, const float* data, int k, int r, int s, int c) {
  return data[((int64_t(k) * f.h + r) * f.w + s) * f.c + c];
}

// Runs `loops` on the stream once the workspace is checked (and then scribbled over).
template <typename Loops>
cudnnStatus_t emulated_run_conv(cudnnHandle_t handle, void* workspace, size_t workspace_bytes, size_t needed,
                                float alpha, float beta, Loops loops) {
  if (workspace_bytes < needed || (needed > 0 && workspace == nullptr))
    return emulated_cudnn_fail(CUDNN_STATUS_BAD_PARAM, "workspace smaller than the algorithm needs");
  emulated_issue(handle->stream, [=] {
    if (needed > 0) std::memset(workspace, 0xFF, needed);  // NaN bytes: the workspace is the algorithm's own
    loops(alpha, beta);
  });
  return CUDNN_STATUS_SUCCESS;
}

inline float emulated_blend(float alpha, float sum, float beta, float old) {
  return beta == 0.0f ? alpha * sum : alpha * sum + beta * old;
}

inline cudnnStatus_t cudnnConvolutionForward(cudnnHandle_t handle, const void* alpha, cudnnTensorDescriptor_t x_desc,
                                             const void* x, cudnnFilterDescriptor_t w_desc, const void* w,
                                             cudnnConvolutionDescriptor_t conv, cudnnConvolutionFwdAlgo_t algo,
                                             void* workspace, size_t workspace_bytes, const void* beta,
                                             cudnnTensorDescriptor_t y_desc, void* y) {
  EmulatedConv c;
  size_t needed = 0;
  if (cudnnStatus_t status = cudnnGetConvolutionForwardWorkspaceSize(handle, x_desc, w_desc, conv, y_desc, algo, &needed);
      status != CUDNN_STATUS_SUCCESS)
    return status;
  if (cudnnStatus_t status = emulated_implemented(algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM ||
                                                      algo == CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM,
                                                  "forward");
      status != CUDNN_STATUS_SUCCESS)
    return status;
  emulated_conv(c, x_desc, w_desc, conv, y_desc);
  const float* in = static_cast<const float*>(x);
  const float* filter = static_cast<const float*>(w);
  float* out = static_cast<float*>(y);
  return emulated_run_conv(handle, workspace, workspace_bytes, needed, *static_cast<const float*>(alpha),
                           *static_cast<const float*>(beta), [=](float a, float b) {
    for (int n = 0; n < c.y.n; ++n)
      for (int oh = 0; oh < c.y.h; ++oh)
        for (int ow = 0; ow < c.y.w; ++ow)
          for (int k = 0; k < c.y.c; ++k) {
            float sum = 0.0f;
            for (int r = 0; r < c.w.h; ++r)
              for (int s = 0; s < c.w.w; ++s)
                for (int ci = 0; ci < c.w.c; ++ci)
                  sum += emulated_operand(emulated_at(c.x, in, n, oh + r - c.conv.pad_h, ow + s - c.conv.pad_w, ci), c.tf32) *
                         emulated_operand(emulated_filter(c.w, filter, k, r, s, ci), c.tf32);
            float& o = out[((int64_t(n) * c.y.h + oh) * c.y.w + ow) * c.y.c + k];
            o = emulated_blend(a, sum, b, o);
          }
  });
}

inline cudnnStatus_t cudnnConvolutionBackwardData(cudnnHandle_t handle, const void* alpha,
                                                  cudnnFilterDescriptor_t w_desc, const void* w,
                                                  cudnnTensorDescriptor_t dy_desc, const void* dy,
                                                  cudnnConvolutionDescriptor_t conv, cudnnConvolutionBwdDataAlgo_t algo,
                                                  void* workspace, size_t workspace_bytes, const void* beta,
                                                  cudnnTensorDescriptor_t dx_desc, void* dx) {
  EmulatedConv c;
  size_t needed = 0;
  if (cudnnStatus_t status =
          cudnnGetConvolutionBackwardDataWorkspaceSize(handle, w_desc, dy_desc, conv, dx_desc, algo, &needed);
      status != CUDNN_STATUS_SUCCESS)
    return status;
  if (cudnnStatus_t status = emulated_implemented(algo == CUDNN_CONVOLUTION_BWD_DATA_ALGO_1, "data gradient");
      status != CUDNN_STATUS_SUCCESS)
    return status;
  emulated_conv(c, dx_desc, w_desc, conv, dy_desc);
  const float* filter = static_cast<const float*>(w);
  const float* out_grad = static_cast<const float*>(dy);
  float* in_grad = static_cast<float*>(dx);
  return emulated_run_conv(handle, workspace, workspace_bytes, needed, *static_cast<const float*>(alpha),
                           *static_cast<const float*>(beta), [=](float a, float b) {
    // dx[n, h, w, ci] = sum over (r, s, k) of dy[n, h - r + pad, w - s + pad, k] * f[k, r, s, ci]
    for (int n = 0; n < c.x.n; ++n)
      for (int h = 0; h < c.x.h; ++h)
        for (int wi = 0; wi < c.x.w; ++wi)
          for (int ci = 0; ci < c.x.c; ++ci) {
            float sum = 0.0f;
            for (int r = 0; r < c.w.h; ++r)
              for (int s = 0; s < c.w.w; ++s)
                for (int k = 0; k < c.w.n; ++k)
                  sum += emulated_operand(emulated_at(c.y, out_grad, n, h - r + c.conv.pad_h, wi - s + c.conv.pad_w, k),
                                          c.tf32) *
                         emulated_operand(emulated_filter(c.w, filter, k, r, s, ci), c.tf32);
            float& o = in_grad[((int64_t(n) * c.x.h + h) * c.x.w + wi) * c.x.c + ci];
            o = emulated_blend(a, sum, b, o);
          }
  });
}

inline cudnnStatus_t cudnnConvolutionBackwardFilter(cudnnHandle_t handle, const void* alpha,
                                                    cudnnTensorDescriptor_t x_desc, const void* x,
                                                    cudnnTensorDescriptor_t dy_desc, const void* dy,
                                                    cudnnConvolutionDescriptor_t conv,
                                                    cudnnConvolutionBwdFilterAlgo_t algo, void* workspace,
                                                    size_t workspace_bytes, const void* beta,
                                                    cudnnFilterDescriptor_t dw_desc, void* dw) {
  EmulatedConv c;
  size_t needed = 0;
  if (cudnnStatus_t status =
          cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, x_desc, dy_desc, conv, dw_desc, algo, &needed);
      status != CUDNN_STATUS_SUCCESS)
    return status;
  if (cudnnStatus_t status = emulated_implemented(algo == CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1, "filter gradient");
      status != CUDNN_STATUS_SUCCESS)
    return status;
  emulated_conv(c, x_desc, dw_desc, conv, dy_desc);
  const float* in = static_cast<const float*>(x);
  const float* out_grad = static_cast<const float*>(dy);
  float* filter_grad = static_cast<float*>(dw);
  return emulated_run_conv(handle, workspace, workspace_bytes, needed, *static_cast<const float*>(alpha),
                           *static_cast<const float*>(beta), [=](float a, float b) {
    // dw[k, r, s, ci] = sum over (n, oh, ow) of x[n, oh + r - pad, ow + s - pad, ci] * dy[n, oh, ow, k]
    for (int k = 0; k < c.w.n; ++k)
      for (int r = 0; r < c.w.h; ++r)
        for (int s = 0; s < c.w.w; ++s)
          for (int ci = 0; ci < c.w.c; ++ci) {
            float sum = 0.0f;
            for (int n = 0; n < c.y.n; ++n)
              for (int oh = 0; oh < c.y.h; ++oh)
                for (int ow = 0; ow < c.y.w; ++ow)
                  sum += emulated_operand(emulated_at(c.x, in, n, oh + r - c.conv.pad_h, ow + s - c.conv.pad_w, ci), c.tf32) *
                         emulated_operand(emulated_at(c.y, out_grad, n, oh, ow, k), c.tf32);
            float& o = filter_grad[((int64_t(k) * c.w.h + r) * c.w.w + s) * c.w.c + ci];
            o = emulated_blend(a, sum, b, o);
          }
  });
}
