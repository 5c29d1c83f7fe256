// The dense layer's fused epilogues on the GPU. The per-element math is the shared
// activation_forward / activation_derivative / dropout_factor, indexed exactly as the CPU
// form indexes it (element e = row * cols + col of the problem), so masks are identical.
//
// Both kernels are memory-bound (a few flops per 8-12 bytes), so this file is built
// without FMA contraction: it costs nothing here and keeps the products bit-equal to
// the CPU form's.
#include <cuda_runtime_api.h>  // cudaStream_t

#include <climits>
#include <stdexcept>
#include <string>

#include "kernels/bias_activation.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_problem_batch.cuh"

namespace gpu_tune::kernels {

namespace {

using cuda_detail::BatchLauncher;
using cuda_detail::ceil_div;
using cuda_detail::find_problem;

// Forward: 256 threads x 4 elements per block, each load a warp-wide contiguous run.
constexpr int kForwardThreads = 256;
constexpr int kForwardPerThread = 4;
constexpr int kForwardChunk = kForwardThreads * kForwardPerThread;

struct ForwardDescriptor {
  float* z;
  const float* bias;
  float* out;
  const int32_t* dynamic_rows;
  int rows, cols;
  Activation activation;
  DropoutParams dropout;
};
using ForwardBatch = cuda_detail::ProblemBatch<ForwardDescriptor>;
static_assert(sizeof(ForwardBatch) <= cuda_detail::kKernelParameterBudget);

// z and out may be the same buffer (evaluation works in place): each element is read and
// written by one thread, z before out, as in the CPU form.
__global__ void __launch_bounds__(kForwardThreads) bias_activation_forward_kernel(
    const __grid_constant__ ForwardBatch batch) {
  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const ForwardDescriptor& p = batch.problems[problem];
  const int elements = run_time_size(p.dynamic_rows, p.rows) * p.cols;  // below 2^31, checked on the host
  const int chunk_start = (static_cast<int>(blockIdx.x) - batch.first_block[problem]) * kForwardChunk;
  if (chunk_start >= elements) return;
  const uint64_t stream = run_time_stream(p.dropout);
#pragma unroll
  for (int i = 0; i < kForwardPerThread; ++i) {
    const int e = chunk_start + i * kForwardThreads + static_cast<int>(threadIdx.x);
    if (e >= elements) break;
    const float z = p.z[e] + p.bias[e % p.cols];
    p.z[e] = z;
    p.out[e] = activation_forward(p.activation, z) * dropout_factor(p.dropout, stream, static_cast<uint64_t>(e));
  }
}

// Backward: a block owns 32 columns of one problem. Lane l of each of the 8 warps takes
// column l and rows w, w+8, w+16, ... in order, so every load of a warp is one contiguous
// run of a row. The 8 partial sums of a column are then added in warp order by one
// thread. The order is fixed by the problem's shape alone: run-to-run deterministic and
// independent of the neighbours. (The CPU form adds rows in plain order; the two differ
// only by rounding.)
constexpr int kBackwardColumns = 32;
constexpr int kBackwardRowGroups = 8;
constexpr int kBackwardThreads = kBackwardColumns * kBackwardRowGroups;

struct BackwardDescriptor {
  float* grad;
  const float* z;
  float* bias_grad;
  const int32_t* dynamic_rows;
  int rows, cols;
  Activation activation;
  DropoutParams dropout;
};
using BackwardBatch = cuda_detail::ProblemBatch<BackwardDescriptor>;
static_assert(sizeof(BackwardBatch) <= cuda_detail::kKernelParameterBudget);

__global__ void __launch_bounds__(kBackwardThreads) bias_activation_backward_kernel(
    const __grid_constant__ BackwardBatch batch) {
  __shared__ float partial[kBackwardRowGroups][kBackwardColumns];
  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const BackwardDescriptor& p = batch.problems[problem];
  const int lane = static_cast<int>(threadIdx.x) % kBackwardColumns;
  const int group = static_cast<int>(threadIdx.x) / kBackwardColumns;
  const int col = (static_cast<int>(blockIdx.x) - batch.first_block[problem]) * kBackwardColumns + lane;

  const int rows = run_time_size(p.dynamic_rows, p.rows);
  const uint64_t stream = run_time_stream(p.dropout);
  float sum = 0.0f;
  if (col < p.cols) {
    for (int row = group; row < rows; row += kBackwardRowGroups) {
      const int e = row * p.cols + col;  // below 2^31, checked on the host
      const float g = p.grad[e] * dropout_factor(p.dropout, stream, static_cast<uint64_t>(e)) *
                      activation_derivative(p.activation, p.z[e]);
      p.grad[e] = g;
      sum += g;
    }
  }
  partial[group][lane] = sum;
  __syncthreads();
  if (group == 0 && col < p.cols) {
    float total = partial[0][lane];
#pragma unroll
    for (int g = 1; g < kBackwardRowGroups; ++g) total += partial[g][lane];
    p.bias_grad[col] = total;
  }
}

[[noreturn]] void fail(const char* op, size_t index, const std::string& what) {
  throw std::invalid_argument(std::string(op) + " problem " + std::to_string(index) + ": " + what);
}

bool valid_activation(Activation a) {
  return a == Activation::kIdentity || a == Activation::kRelu || a == Activation::kTanh || a == Activation::kGelu;
}

// Shape and dropout checks common to both directions. Returns rows * cols.
int64_t check_shape(const char* op, size_t index, int rows, int cols, Activation activation, const DropoutParams& d) {
  if (rows < 0 || cols < 0) fail(op, index, "negative shape " + std::to_string(rows) + " x " + std::to_string(cols));
  const int64_t elements = static_cast<int64_t>(rows) * cols;
  // The kernels index elements with 32-bit ints: 2^31 floats is 8 GiB in one layer buffer.
  if (elements > INT_MAX) fail(op, index, std::to_string(elements) + " elements, more than 2^31 - 1");
  if (!valid_activation(activation)) fail(op, index, "unknown activation " + std::to_string(static_cast<int>(activation)));
  if (!(d.rate >= 0.0f && d.rate <= 1.0f)) fail(op, index, "dropout rate " + std::to_string(d.rate) + " is outside [0, 1]");
  return elements;
}

}  // namespace

void bias_activation_forward_cuda(std::span<const BiasActivationForward> problems, cudaStream_t stream) {
  constexpr const char* kOp = "bias_activation_forward";
  for (size_t i = 0; i < problems.size(); ++i) {
    const BiasActivationForward& q = problems[i];
    if (check_shape(kOp, i, q.rows, q.cols, q.activation, q.dropout) == 0) continue;
    if (q.z == nullptr || q.bias == nullptr || q.out == nullptr) fail(kOp, i, "null z, bias or out");
  }
  auto launch = [stream](const ForwardBatch& batch) {
    bias_activation_forward_kernel<<<batch.first_block[batch.count], kForwardThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(bias_activation_forward_kernel, stream);
  };
  BatchLauncher<ForwardDescriptor, decltype(launch)> launcher(launch);
  for (size_t i = 0; i < problems.size(); ++i) {
    const BiasActivationForward& q = problems[i];
    const ForwardDescriptor d{q.z, q.bias, q.out, q.dynamic_rows, q.rows, q.cols, q.activation, q.dropout};
    launcher.add(d, ceil_div(static_cast<int64_t>(q.rows) * q.cols, kForwardChunk), kOp, i);
  }
  launcher.finish();
}

void bias_activation_backward_cuda(std::span<const BiasActivationBackward> problems, cudaStream_t stream) {
  constexpr const char* kOp = "bias_activation_backward";
  for (size_t i = 0; i < problems.size(); ++i) {
    const BiasActivationBackward& q = problems[i];
    check_shape(kOp, i, q.rows, q.cols, q.activation, q.dropout);
    if (q.cols == 0) continue;
    // rows == 0 still writes a zero bias gradient, as the CPU form does.
    if (q.bias_grad == nullptr) fail(kOp, i, "null bias_grad");
    if (q.rows > 0 && (q.grad == nullptr || q.z == nullptr)) fail(kOp, i, "null grad or z");
  }
  auto launch = [stream](const BackwardBatch& batch) {
    bias_activation_backward_kernel<<<batch.first_block[batch.count], kBackwardThreads, 0, stream>>>(batch);
    GPU_TUNE_CUDA_CHECK_LAUNCH(bias_activation_backward_kernel, stream);
  };
  BatchLauncher<BackwardDescriptor, decltype(launch)> launcher(launch);
  for (size_t i = 0; i < problems.size(); ++i) {
    const BiasActivationBackward& q = problems[i];
    const BackwardDescriptor d{q.grad, q.z, q.bias_grad, q.dynamic_rows, q.rows, q.cols, q.activation, q.dropout};
    launcher.add(d, ceil_div(q.cols, kBackwardColumns), kOp, i);
  }
  launcher.finish();
}

}  // namespace gpu_tune::kernels
