// The convolution through cuDNN: cudnnConvolutionForward, cudnnConvolutionBackwardData and
// cudnnConvolutionBackwardFilter, one call per problem (cuDNN has no grouped form for
// problems of different shapes), from the descriptor API of cudnn_cnn.h. cuDNN 9 marks that
// API deprecated in favour of its graph API but keeps it; it is the short way to a
// per-problem convolution, and deprecation warnings are opt-in (CUDNN_WARN_DEPRECATED).
//
// Layouts: activations are NHWC tensors (CUDNN_TENSOR_NHWC) as they are. cuDNN's NHWC
// filter is KRSC (Cout x K x K x Cin); ours is RSCK (K x K x Cin x Cout), which is the
// transpose of that as a (K*K*Cin) x Cout matrix. So the weights are transposed into a
// buffer of this class before the forward and data-gradient calls, and the filter gradient
// is computed into that buffer and transposed back into the problem's weight_grad. The
// transposes are one small kernel of this file, one launch per call for the whole span
// (cudnnTransformTensor could do it with strided descriptors, but one call per problem).
//
// Descriptors and algorithms: a Plan per (geometry, image count, precision) holds the
// tensor, filter and convolution descriptors and one algorithm per pass, chosen when the
// key is first seen and kept: cuDNN's heuristic ranking (cudnnGet*Algorithm_v7, which runs
// nothing on the GPU, unlike cudnnFind*) filtered to deterministic, supported algorithms
// that compute the sum directly (implicit GEMM, GEMM, direct: the FFT and Winograd
// transforms round differently from a direct sum, and this path is held to the CPU
// reference at 1e-5), falling back to our own list in order; the first whose workspace
// query succeeds within 256 MiB is taken. For the two gradients that leaves
// CUDNN_CONVOLUTION_BWD_{DATA,FILTER}_ALGO_1 (ALGO_0 and BWD_FILTER_ALGO_3 are the ones
// cudnn_ops.h marks non-deterministic). So results should be run-to-run identical, and a
// problem's independent of its neighbours (each has its own plan and its own call).
//
// Buffers: one cuDNN workspace for every call (the calls run one after another on the
// stream), grown when a plan needs more; the transposed filters of a call; the run-time
// image counts. Each grows only outside CUDA-graph capture, after a synchronisation
// (queued work may still use the old one), and never shrinks.
#include <cuda_runtime_api.h>  // cudaMalloc, cudaMemcpyAsync, cudaStreamIsCapturing
#include <cudnn.h>

#include <algorithm>
#include <climits>
#include <cstdint>
#include <initializer_list>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "kernels/conv2d_cudnn.h"
#include "kernels/cuda_check.h"
#include "kernels/cuda_problem_batch.cuh"
#include "kernels/cudnn_check.h"

namespace gpu_tune::kernels {

namespace {

using cuda_detail::BatchLauncher;
using cuda_detail::ceil_div;
using cuda_detail::find_problem;

// ---- kernels ---------------------------------------------------------------------------

// target (columns x rows) = source (rows x columns)^T, both row-major and dense. Filters are
// small (5*5*128 x 128 = 409,600 floats would be a large one), so one thread per element,
// writes coalesced and reads strided, is enough: no shared-memory tiles.
struct TransposeDescriptor {
  const float* source;
  float* target;
  int rows, columns;
};
using TransposeBatch = cuda_detail::ProblemBatch<TransposeDescriptor>;
static_assert(sizeof(TransposeBatch) <= cuda_detail::kKernelParameterBudget);
constexpr int kTransposeThreads = 256;

__global__ void __launch_bounds__(kTransposeThreads) transpose_kernel(const __grid_constant__ TransposeBatch batch) {
  const int problem = find_problem(batch, static_cast<int>(blockIdx.x));
  const TransposeDescriptor& p = batch.problems[problem];
  const int64_t e = int64_t(static_cast<int>(blockIdx.x) - batch.first_block[problem]) * kTransposeThreads +
                    static_cast<int>(threadIdx.x);
  if (e >= int64_t(p.rows) * p.columns) return;
  const int64_t column = e / p.rows, row = e % p.rows;  // target element (column, row)
  p.target[e] = p.source[row * p.columns + column];
}

// Copies each problem's run-time image count into one device array, so that a single
// copy brings them all to the host. Pointers travel by value, as the problems do.
constexpr int kCountsPerLaunch = 512;
constexpr int kCountThreads = 128;
struct CountBatch {
  int count;
  int32_t* target;
  const int32_t* sources[kCountsPerLaunch];
};
static_assert(sizeof(CountBatch) <= cuda_detail::kKernelParameterBudget);

__global__ void __launch_bounds__(kCountThreads) gather_counts_kernel(const __grid_constant__ CountBatch batch) {
  const int i = static_cast<int>(blockIdx.x) * kCountThreads + static_cast<int>(threadIdx.x);
  if (i < batch.count) batch.target[i] = *batch.sources[i];
}

// ---- checks ----------------------------------------------------------------------------

[[noreturn]] void fail(const char* op, size_t index, const std::string& what) {
  throw std::invalid_argument(std::string(op) + " problem " + std::to_string(index) + ": " + what);
}

// The geometry, the image count, and sizes that cuDNN's 4D descriptors (int dimensions and
// strides) and our transpose kernel can index.
void check_problem(const char* op, size_t index, int images, const ConvGeometry& g) {
  validate_conv_geometry(g, std::string(op) + " problem " + std::to_string(index));
  if (images < 0) fail(op, index, "negative image count " + std::to_string(images));
  const int64_t largest = std::max({int64_t(images) * g.input_size(), int64_t(images) * g.output_size(), g.weight_count()});
  if (largest > INT_MAX)
    fail(op, index, "a tensor of " + std::to_string(largest) + " elements, too many for cuDNN's 32-bit descriptors");
}

void check_not_null(const char* op, size_t index, std::initializer_list<const void*> pointers, const char* names) {
  for (const void* pointer : pointers)
    if (pointer == nullptr) fail(op, index, std::string("null ") + names);
}

void check_precision(const char* op, GemmPrecision precision) {
  if (precision != GemmPrecision::kFp32 && precision != GemmPrecision::kTf32)
    throw std::invalid_argument(std::string(op) + ": unknown precision " + std::to_string(static_cast<int>(precision)));
}

// ---- plans -----------------------------------------------------------------------------

struct PlanKey {
  int height, width, in_channels, out_channels, kernel, padding;
  int images;  // exact: cuDNN takes the count on the host
  bool tf32;
  auto operator<=>(const PlanKey&) const = default;
};

PlanKey plan_key(const ConvGeometry& g, int images, GemmPrecision precision) {
  return {g.height, g.width, g.in_channels, g.out_channels, g.kernel, g.padding, images,
          precision == GemmPrecision::kTf32};
}

std::string describe(const PlanKey& k) {
  return std::to_string(k.images) + " x " + std::to_string(k.height) + "x" + std::to_string(k.width) + "x" +
         std::to_string(k.in_channels) + " -> " + std::to_string(k.out_channels) + ", kernel " +
         std::to_string(k.kernel) + " padding " + std::to_string(k.padding) + (k.tf32 ? ", tf32" : ", fp32");
}

// Workspace an algorithm may ask for. Larger requests (the explicit GEMM's im2col buffer at
// large batches) pass to the next candidate, which needs less.
constexpr size_t kMaxWorkspaceBytes = size_t(256) << 20;

// kFp32 runs FMA kernels only: under CUDNN_DEFAULT_MATH cuDNN may use TF32 tensor cores on
// Ampere and newer. kTf32 permits tensor cores but never CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION
// (a conversion to half precision).
cudnnMathType_t math_type(bool tf32) { return tf32 ? CUDNN_TENSOR_OP_MATH : CUDNN_FMA_MATH; }

bool math_allowed(cudnnMathType_t math, bool tf32) {
  if (math == CUDNN_TENSOR_OP_MATH_ALLOW_CONVERSION) return false;
  return tf32 || math != CUDNN_TENSOR_OP_MATH;
}

// cuDNN's ranked results that pass our rules, then the rest of `allowed` in its order.
template <typename Algo, typename Perf>
std::vector<Algo> candidates(const std::vector<Perf>& ranked, std::initializer_list<Algo> allowed, bool tf32) {
  std::vector<Algo> out;
  auto listed = [](const auto& list, Algo algo) { return std::find(list.begin(), list.end(), algo) != list.end(); };
  for (const Perf& p : ranked)
    if (p.status == CUDNN_STATUS_SUCCESS && p.determinism == CUDNN_DETERMINISTIC && math_allowed(p.mathType, tf32) &&
        listed(allowed, p.algo) && !listed(out, p.algo))
      out.push_back(p.algo);
  for (Algo algo : allowed)
    if (!listed(out, algo)) out.push_back(algo);
  return out;
}

// The first candidate whose workspace query succeeds within kMaxWorkspaceBytes. The query
// is a probe: NOT_SUPPORTED only means "try the next one", so it is not checked as an error.
template <typename Algo, typename Query>
std::pair<Algo, size_t> first_usable(const std::vector<Algo>& algos, Query workspace_query, const char* op,
                                     const PlanKey& key) {
  cudnnStatus_t last = CUDNN_STATUS_NOT_SUPPORTED;
  for (Algo algo : algos) {
    size_t bytes = 0;
    last = workspace_query(algo, &bytes);
    if (last == CUDNN_STATUS_SUCCESS && bytes <= kMaxWorkspaceBytes) return {algo, bytes};
  }
  throw std::runtime_error(std::string(op) + " through cuDNN: no deterministic algorithm for " + describe(key) +
                           " (last workspace query: " + cudnnGetErrorString(last) + ")");
}

// Descriptors and algorithms for one key. The data gradient runs on the same descriptors
// (dX has X's shape, dY has Y's).
struct Plan {
  cudnnTensorDescriptor_t x = nullptr, y = nullptr;
  cudnnFilterDescriptor_t w = nullptr;
  cudnnConvolutionDescriptor_t conv = nullptr;
  cudnnConvolutionFwdAlgo_t forward_algo{};
  cudnnConvolutionBwdDataAlgo_t data_algo{};
  cudnnConvolutionBwdFilterAlgo_t filter_algo{};
  size_t workspace_bytes = 0;  // the largest of the three passes'

  Plan() = default;
  Plan(const Plan&) = delete;
  Plan& operator=(const Plan&) = delete;
  // Descriptors are read when a call is issued, not when its work runs, so queued work
  // does not keep them alive. Errors are ignored: a destructor must not throw.
  ~Plan() {
    if (x != nullptr) cudnnDestroyTensorDescriptor(x);
    if (y != nullptr) cudnnDestroyTensorDescriptor(y);
    if (w != nullptr) cudnnDestroyFilterDescriptor(w);
    if (conv != nullptr) cudnnDestroyConvolutionDescriptor(conv);
  }
};

void make_descriptors(Plan& plan, const PlanKey& k) {
  const int out_height = k.height + 2 * k.padding - k.kernel + 1, out_width = k.width + 2 * k.padding - k.kernel + 1;
  GPU_TUNE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan.x));
  GPU_TUNE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan.x, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, k.images, k.in_channels,
                                                  k.height, k.width));
  GPU_TUNE_CUDNN_CHECK(cudnnCreateTensorDescriptor(&plan.y));
  GPU_TUNE_CUDNN_CHECK(cudnnSetTensor4dDescriptor(plan.y, CUDNN_TENSOR_NHWC, CUDNN_DATA_FLOAT, k.images, k.out_channels,
                                                  out_height, out_width));
  GPU_TUNE_CUDNN_CHECK(cudnnCreateFilterDescriptor(&plan.w));
  GPU_TUNE_CUDNN_CHECK(cudnnSetFilter4dDescriptor(plan.w, CUDNN_DATA_FLOAT, CUDNN_TENSOR_NHWC, k.out_channels,
                                                  k.in_channels, k.kernel, k.kernel));
  GPU_TUNE_CUDNN_CHECK(cudnnCreateConvolutionDescriptor(&plan.conv));
  // Our convolution is a cross-correlation (no kernel flip), stride 1, no dilation.
  GPU_TUNE_CUDNN_CHECK(cudnnSetConvolution2dDescriptor(plan.conv, k.padding, k.padding, 1, 1, 1, 1,
                                                       CUDNN_CROSS_CORRELATION, CUDNN_DATA_FLOAT));
  GPU_TUNE_CUDNN_CHECK(cudnnSetConvolutionMathType(plan.conv, math_type(k.tf32)));
}

void choose_algorithms(cudnnHandle_t handle, Plan& plan, const PlanKey& key) {
  int count = 0;
  GPU_TUNE_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionFwdAlgoPerf_t> forward(static_cast<size_t>(count));
  GPU_TUNE_CUDNN_CHECK(cudnnGetConvolutionForwardAlgorithm_v7(handle, plan.x, plan.w, plan.conv, plan.y, count, &count,
                                                              forward.data()));
  forward.resize(static_cast<size_t>(count));
  const auto [forward_algo, forward_bytes] = first_usable(
      candidates(forward,
                 {CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_PRECOMP_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_IMPLICIT_GEMM,
                  CUDNN_CONVOLUTION_FWD_ALGO_GEMM, CUDNN_CONVOLUTION_FWD_ALGO_DIRECT},
                 key.tf32),
      [&](cudnnConvolutionFwdAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionForwardWorkspaceSize(handle, plan.x, plan.w, plan.conv, plan.y, algo, bytes);
      },
      "conv2d_forward", key);

  GPU_TUNE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionBwdDataAlgoPerf_t> data(static_cast<size_t>(count));
  GPU_TUNE_CUDNN_CHECK(cudnnGetConvolutionBackwardDataAlgorithm_v7(handle, plan.w, plan.y, plan.conv, plan.x, count,
                                                                   &count, data.data()));
  data.resize(static_cast<size_t>(count));
  const auto [data_algo, data_bytes] = first_usable(
      candidates(data, {CUDNN_CONVOLUTION_BWD_DATA_ALGO_1}, key.tf32),
      [&](cudnnConvolutionBwdDataAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardDataWorkspaceSize(handle, plan.w, plan.y, plan.conv, plan.x, algo, bytes);
      },
      "conv2d_backward_data", key);

  GPU_TUNE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithmMaxCount(handle, &count));
  std::vector<cudnnConvolutionBwdFilterAlgoPerf_t> filter(static_cast<size_t>(count));
  GPU_TUNE_CUDNN_CHECK(cudnnGetConvolutionBackwardFilterAlgorithm_v7(handle, plan.x, plan.y, plan.conv, plan.w, count,
                                                                     &count, filter.data()));
  filter.resize(static_cast<size_t>(count));
  const auto [filter_algo, filter_bytes] = first_usable(
      candidates(filter, {CUDNN_CONVOLUTION_BWD_FILTER_ALGO_1}, key.tf32),
      [&](cudnnConvolutionBwdFilterAlgo_t algo, size_t* bytes) {
        return cudnnGetConvolutionBackwardFilterWorkspaceSize(handle, plan.x, plan.y, plan.conv, plan.w, algo, bytes);
      },
      "conv2d_backward_weight", key);

  plan.forward_algo = forward_algo;
  plan.data_algo = data_algo;
  plan.filter_algo = filter_algo;
  plan.workspace_bytes = std::max({forward_bytes, data_bytes, filter_bytes});
}

// One problem of a call that has work: its index, plan, and its filter's place in the
// filter buffer.
struct Call {
  size_t problem;
  const Plan* plan;
  int64_t filter_offset;  // floats
};

// Filters start on 256-byte boundaries in the buffer, as cudaMalloc aligns its allocations:
// cuDNN's vectorised kernels may ask for aligned operands.
constexpr int64_t kFilterAlignment = 64;  // floats

}  // namespace

struct CudnnConv2d::State {
  // A growable device (or pinned host) buffer; see the top of this file for when it grows.
  struct Buffer {
    void* data = nullptr;
    size_t bytes = 0;
    bool pinned = false;
  };

  // More keys than this (a long tuning run meets many batch sizes) start the cache over;
  // a plan is cheap to rebuild and the same key chooses the same algorithms again.
  static constexpr size_t kMaxPlans = 1024;

  cudaStream_t stream = nullptr;
  cudnnHandle_t handle = nullptr;
  std::map<PlanKey, std::unique_ptr<Plan>> plans;
  Buffer workspace, filters, counts_device, counts_host;

  // Per-call scratch, kept so that a steady stream of calls allocates little on the host.
  std::vector<int> images;
  std::vector<Call> calls;
  std::vector<TransposeDescriptor> transposes;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  ~State() {
    if (handle != nullptr) {  // work was queued only once the handle existed
      cudaStreamSynchronize(stream);  // nothing may still use the buffers
      plans.clear();
      cudnnDestroy(handle);
    }
    for (Buffer* b : {&workspace, &filters, &counts_device, &counts_host}) {
      if (b->data == nullptr) continue;
      if (b->pinned) {
        cudaFreeHost(b->data);
      } else {
        cudaFree(b->data);
      }
    }
  }

  bool capturing() const {
    cudaStreamCaptureStatus status = cudaStreamCaptureStatusNone;
    GPU_TUNE_CUDA_CHECK(cudaStreamIsCapturing(stream, &status));
    return status != cudaStreamCaptureStatusNone;
  }

  [[noreturn]] static void refuse_in_capture(const char* op, const std::string& what) {
    throw std::logic_error(std::string(op) + " through cuDNN during CUDA-graph capture: " + what +
                           " would allocate or synchronise inside the capture (run it once outside first)");
  }

  void reserve(Buffer& buffer, size_t bytes, bool pinned, const char* op, bool in_capture) {
    if (buffer.bytes >= bytes) return;
    if (in_capture) refuse_in_capture(op, "a larger buffer");
    const size_t grown = std::max(bytes, 2 * buffer.bytes);
    if (buffer.data != nullptr) {
      GPU_TUNE_CUDA_CHECK(cudaStreamSynchronize(stream));  // queued work may still use it
      GPU_TUNE_CUDA_CHECK(buffer.pinned ? cudaFreeHost(buffer.data) : cudaFree(buffer.data));
      buffer = Buffer{};
    }
    void* data = nullptr;
    GPU_TUNE_CUDA_CHECK(pinned ? cudaMallocHost(&data, grown) : cudaMalloc(&data, grown));
    buffer = Buffer{data, grown, pinned};
  }

  const Plan& plan(const PlanKey& key, const char* op, bool in_capture) {
    auto found = plans.find(key);
    if (found != plans.end()) return *found->second;
    if (in_capture) refuse_in_capture(op, "a new geometry or image count (" + describe(key) + ")");
    auto plan = std::make_unique<Plan>();
    make_descriptors(*plan, key);
    choose_algorithms(handle, *plan, key);
    reserve(workspace, plan->workspace_bytes, /*pinned=*/false, op, in_capture);
    return *plans.emplace(key, std::move(plan)).first->second;
  }

  // Each problem's image count for this call: the bound, or the run-time count read back
  // from the device (capped by the bound, as run_time_size does).
  template <typename Problem>
  void resolve_images(std::span<const Problem> problems, const char* op, bool in_capture) {
    images.clear();
    std::vector<size_t> dynamic;
    for (size_t i = 0; i < problems.size(); ++i) {
      images.push_back(problems[i].images);
      if (problems[i].dynamic_images != nullptr && problems[i].images > 0) dynamic.push_back(i);
    }
    if (dynamic.empty()) return;
    if (in_capture) refuse_in_capture(op, "run-time image counts");
    const size_t bytes = dynamic.size() * sizeof(int32_t);
    reserve(counts_device, bytes, /*pinned=*/false, op, in_capture);
    reserve(counts_host, bytes, /*pinned=*/true, op, in_capture);
    int32_t* target = static_cast<int32_t*>(counts_device.data);
    for (size_t first = 0; first < dynamic.size(); first += kCountsPerLaunch) {
      CountBatch batch{};
      batch.count = static_cast<int>(std::min<size_t>(kCountsPerLaunch, dynamic.size() - first));
      batch.target = target + first;
      for (int j = 0; j < batch.count; ++j) batch.sources[j] = problems[dynamic[first + j]].dynamic_images;
      const int blocks = static_cast<int>(ceil_div(batch.count, kCountThreads));
      gather_counts_kernel<<<blocks, kCountThreads, 0, stream>>>(batch);
      GPU_TUNE_CUDA_CHECK_LAUNCH(gather_counts_kernel, stream);
    }
    GPU_TUNE_CUDA_CHECK(cudaMemcpyAsync(counts_host.data, counts_device.data, bytes, cudaMemcpyDeviceToHost, stream));
    GPU_TUNE_CUDA_CHECK(cudaStreamSynchronize(stream));
    const int32_t* counts = static_cast<const int32_t*>(counts_host.data);
    for (size_t j = 0; j < dynamic.size(); ++j) images[dynamic[j]] = std::max(run_time_size(&counts[j], images[dynamic[j]]), 0);
  }

  // The plans of the problems with images, and their places in the filter buffer, which
  // is made large enough for them all.
  template <typename Problem>
  void plan_calls(std::span<const Problem> problems, GemmPrecision precision, const char* op, bool in_capture) {
    calls.clear();
    // Here, before this call holds any plan (and never in a capture, which could not
    // rebuild them): the cap is soft, one call's keys beyond it are kept.
    if (plans.size() >= kMaxPlans && !in_capture) plans.clear();
    int64_t floats = 0;
    for (size_t i = 0; i < problems.size(); ++i) {
      if (images[i] == 0) continue;
      const ConvGeometry& g = problems[i].geometry;
      calls.push_back({i, &plan(plan_key(g, images[i], precision), op, in_capture), floats});
      floats += ceil_div(g.weight_count(), kFilterAlignment) * kFilterAlignment;
    }
    reserve(filters, static_cast<size_t>(floats) * sizeof(float), /*pinned=*/false, op, in_capture);
  }

  float* filter(const Call& call) const { return static_cast<float*>(filters.data) + call.filter_offset; }

  void transpose(const char* op) {
    auto launch = [this](const TransposeBatch& batch) {
      transpose_kernel<<<batch.first_block[batch.count], kTransposeThreads, 0, stream>>>(batch);
      GPU_TUNE_CUDA_CHECK_LAUNCH(transpose_kernel, stream);
    };
    BatchLauncher<TransposeDescriptor, decltype(launch)> launcher(launch);
    for (size_t t = 0; t < transposes.size(); ++t) {
      const TransposeDescriptor& d = transposes[t];
      launcher.add(d, ceil_div(int64_t(d.rows) * d.columns, kTransposeThreads), op, t);
    }
    launcher.finish();
  }
};

CudnnConv2d::CudnnConv2d(cudaStream_t stream) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.stream = stream;
  GPU_TUNE_CUDNN_CHECK(cudnnCreate(&s.handle));
  GPU_TUNE_CUDNN_CHECK(cudnnSetStream(s.handle, stream));
}

CudnnConv2d::~CudnnConv2d() = default;

cudaStream_t CudnnConv2d::stream() const { return state_->stream; }
cudnnHandle_t CudnnConv2d::handle() const { return state_->handle; }

void CudnnConv2d::forward(std::span<const Conv2dForward> problems, GemmPrecision precision) {
  constexpr const char* kOp = "conv2d_forward";
  check_precision(kOp, precision);
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dForward& q = problems[i];
    check_problem(kOp, i, q.images, q.geometry);
    if (q.images > 0) check_not_null(kOp, i, {q.input, q.weights, q.output}, "input, weights or output");
  }
  State& s = *state_;
  const bool in_capture = s.capturing();
  s.resolve_images(problems, kOp, in_capture);
  s.plan_calls(problems, precision, kOp, in_capture);
  if (s.calls.empty()) return;

  s.transposes.clear();
  for (const Call& c : s.calls) {  // RSCK, (K*K*Cin) x Cout, to KRSC
    const Conv2dForward& q = problems[c.problem];
    s.transposes.push_back({q.weights, s.filter(c), q.geometry.patch_size(), q.geometry.out_channels});
  }
  s.transpose(kOp);
  const float one = 1.0f, zero = 0.0f;
  for (const Call& c : s.calls) {
    const Conv2dForward& q = problems[c.problem];
    const Plan& p = *c.plan;
    GPU_TUNE_CUDNN_CHECK(cudnnConvolutionForward(s.handle, &one, p.x, q.input, p.w, s.filter(c), p.conv,
                                                 p.forward_algo, s.workspace.data, s.workspace.bytes, &zero, p.y,
                                                 q.output));
  }
}

void CudnnConv2d::backward_data(std::span<const Conv2dBackwardData> problems, GemmPrecision precision) {
  constexpr const char* kOp = "conv2d_backward_data";
  check_precision(kOp, precision);
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dBackwardData& q = problems[i];
    check_problem(kOp, i, q.images, q.geometry);
    if (q.images > 0) check_not_null(kOp, i, {q.output_grad, q.weights, q.input_grad}, "output_grad, weights or input_grad");
  }
  State& s = *state_;
  const bool in_capture = s.capturing();
  s.resolve_images(problems, kOp, in_capture);
  s.plan_calls(problems, precision, kOp, in_capture);
  if (s.calls.empty()) return;

  s.transposes.clear();
  for (const Call& c : s.calls) {
    const Conv2dBackwardData& q = problems[c.problem];
    s.transposes.push_back({q.weights, s.filter(c), q.geometry.patch_size(), q.geometry.out_channels});
  }
  s.transpose(kOp);
  const float one = 1.0f, zero = 0.0f;
  for (const Call& c : s.calls) {
    const Conv2dBackwardData& q = problems[c.problem];
    const Plan& p = *c.plan;
    GPU_TUNE_CUDNN_CHECK(cudnnConvolutionBackwardData(s.handle, &one, p.w, s.filter(c), p.y, q.output_grad, p.conv,
                                                      p.data_algo, s.workspace.data, s.workspace.bytes, &zero, p.x,
                                                      q.input_grad));
  }
}

void CudnnConv2d::backward_weight(std::span<const Conv2dBackwardWeight> problems, GemmPrecision precision) {
  constexpr const char* kOp = "conv2d_backward_weight";
  check_precision(kOp, precision);
  for (size_t i = 0; i < problems.size(); ++i) {
    const Conv2dBackwardWeight& q = problems[i];
    check_problem(kOp, i, q.images, q.geometry);
    // Zero images still write the weight gradient (zeros), as the other forms do.
    check_not_null(kOp, i, {q.weight_grad}, "weight_grad");
    if (q.images > 0) check_not_null(kOp, i, {q.input, q.output_grad}, "input or output_grad");
  }
  State& s = *state_;
  const bool in_capture = s.capturing();
  s.resolve_images(problems, kOp, in_capture);
  s.plan_calls(problems, precision, kOp, in_capture);

  for (size_t i = 0; i < problems.size(); ++i)
    if (s.images[i] == 0)
      GPU_TUNE_CUDA_CHECK(cudaMemsetAsync(problems[i].weight_grad, 0,
                                          static_cast<size_t>(problems[i].geometry.weight_count()) * sizeof(float),
                                          s.stream));
  if (s.calls.empty()) return;
  const float one = 1.0f, zero = 0.0f;
  s.transposes.clear();
  for (const Call& c : s.calls) {
    const Conv2dBackwardWeight& q = problems[c.problem];
    const Plan& p = *c.plan;
    GPU_TUNE_CUDNN_CHECK(cudnnConvolutionBackwardFilter(s.handle, &one, p.x, q.input, p.y, q.output_grad, p.conv,
                                                        p.filter_algo, s.workspace.data, s.workspace.bytes, &zero, p.w,
                                                        s.filter(c)));
    // KRSC, Cout x (K*K*Cin), back to RSCK.
    s.transposes.push_back({s.filter(c), q.weight_grad, q.geometry.out_channels, q.geometry.patch_size()});
  }
  s.transpose(kOp);
}

}  // namespace gpu_tune::kernels
