// The grouped GEMM through cublasGemmGroupedBatchedEx.
//
// Row-major to column-major: a row-major r x c matrix with leading dimension ld is, read
// column-major, its transpose (c x r, same ld). So row-major C = op(A) op(B) is the
// column-major C^T = op(B)^T op(A)^T: cuBLAS gets B as its A and A as its B, m and n
// swapped, k, leading dimensions and transpose flags unchanged.
//
// The cuBLAS call takes the per-group parameters (transposes, sizes, leading dimensions,
// alpha, beta) in host arrays and the matrix pointers in device arrays (the cuBLAS
// documentation of cublasGemmGroupedBatchedEx gives host for the former, device for
// Aarray/Barray/Carray, and the pointer mode must be host). The three pointer tables
// travel in one cudaMemcpyAsync from pinned host staging into a device table that grows
// as needed and never shrinks.
//
// Staging reuse: a copy from pinned memory reads it when the stream reaches the copy, not
// when cudaMemcpyAsync returns, so a staging buffer must not be rewritten before that.
// After each copy an event is recorded; a staging buffer is rewritten only once its
// event has completed (cudaEventSynchronize). Eight staging buffers are used in turn, so
// the host waits at most for the copy issued eight calls earlier (a bundle step issues
// about six GEMM calls), never for a whole call to finish, and it can keep queueing calls
// while the GPU works (a cudaStreamSynchronize
// per call would instead drain the stream every time, which the benchmark would time).
// The device table itself needs no such care: every copy into it and every cuBLAS call
// reading it are on the same stream, so they run in order.
#include <cublas_v2.h>         // cublasGemmGroupedBatchedEx, cublasCreate
#include <cuda_runtime_api.h>  // cudaMemcpyAsync, events, pinned memory

#include <algorithm>
#include <bit>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <vector>

#include "kernels/cublas_check.h"
#include "kernels/cuda_check.h"
#include "kernels/grouped_gemm_cublas.h"

#if !defined(CUBLAS_VERSION) || CUBLAS_VERSION < 120500
#error "grouped_gemm_cublas.cu needs cublasGemmGroupedBatchedEx (cuBLAS 12.5 or newer)"
#endif

namespace gpu_tune::kernels {

namespace {

// One cuBLAS group: the parameters its problems share, in cuBLAS's (column-major) terms.
// alpha and beta are compared by their bits, so -0.0 and 0.0 or two NaNs never merge
// groups that cuBLAS would treat differently.
struct GroupKey {
  int transa = 0, transb = 0;
  int m = 0, n = 0, k = 0;
  int lda = 0, ldb = 0, ldc = 0;
  uint32_t alpha_bits = 0, beta_bits = 0;
  auto operator<=>(const GroupKey&) const = default;
};

struct Entry {
  GroupKey key;
  int problem = 0;  // index in the caller's span; ties keep the caller's order
  auto operator<=>(const Entry&) const = default;
};

GroupKey cublas_key(const GemmProblem& p) {
  GroupKey key;
  key.transa = p.transpose_b ? 1 : 0;  // cuBLAS's A is our B
  key.transb = p.transpose_a ? 1 : 0;  // cuBLAS's B is our A
  key.m = p.n;
  key.n = p.m;
  key.k = p.k;
  key.lda = p.ldb;
  key.ldb = p.lda;
  key.ldc = p.ldc;
  key.alpha_bits = std::bit_cast<uint32_t>(p.alpha);
  key.beta_bits = std::bit_cast<uint32_t>(p.beta);
  return key;
}

// K = 0: the product is empty, C = beta * C, and beta = 0 writes zeros without reading C
// (so NaN there is cleared, as grouped_gemm_cpu and grouped_gemm_cuda do). The cuBLAS
// documentation accepts k = 0 (only k < 0 is CUBLAS_STATUS_INVALID_VALUE) but does not
// spell out what it computes then, nor whether it reads C for beta = 0 in that case; this
// kernel makes the result independent of that. It only runs for K = 0 problems, which
// the engine never issues, so one small launch per such problem is enough.
constexpr int kScaleThreads = 256;

__global__ void __launch_bounds__(kScaleThreads) scale_c_kernel(float* c, int m, int n, int ldc, float beta) {
  const int64_t count = static_cast<int64_t>(m) * n;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < count;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    float* element = c + (e / n) * static_cast<int64_t>(ldc) + e % n;
    *element = beta == 0.0f ? 0.0f : beta * *element;
  }
}

bool aligned_16(const void* pointer) { return reinterpret_cast<uintptr_t>(pointer) % 16 == 0; }

[[noreturn]] void fail(size_t index, const std::string& what) {
  throw std::invalid_argument("grouped_gemm problem " + std::to_string(index) + ": " + what);
}

}  // namespace

struct CublasGroupedGemm::State {
  // Pinned host staging for the pointer table, and the event recorded after the copy that
  // reads it (see the top of this file).
  struct Staging {
    const void** pointers = nullptr;
    size_t capacity = 0;  // pointers
    cudaEvent_t copied = nullptr;
  };
  static constexpr int kStagingBuffers = 8;

  cudaStream_t stream = nullptr;
  cublasHandle_t handle = nullptr;
  Staging staging[kStagingBuffers];
  int next_staging = 0;
  const void** device_table = nullptr;  // grows as needed, never shrinks
  size_t device_capacity = 0;           // pointers

  // Per-call scratch, kept so that a steady stream of calls allocates nothing on the host.
  std::vector<Entry> entries;
  std::vector<size_t> zero_k;
  std::vector<cublasOperation_t> transa, transb;
  std::vector<int> m, n, k, lda, ldb, ldc, group_size;
  std::vector<float> alpha, beta;

  State() = default;
  State(const State&) = delete;
  State& operator=(const State&) = delete;

  // Errors are ignored here: a destructor must not throw, and after a sticky CUDA error
  // these calls fail anyway.
  ~State() {
    if (handle != nullptr) {  // work was queued only once the handle existed
      cudaStreamSynchronize(stream);  // nothing may still read the buffers
      cublasDestroy(handle);
    }
    for (Staging& s : staging) {
      if (s.pointers != nullptr) cudaFreeHost(s.pointers);
      if (s.copied != nullptr) cudaEventDestroy(s.copied);
    }
    if (device_table != nullptr) cudaFree(device_table);
  }

  // The staging buffer for this call, with room for `count` pointers, once no earlier copy
  // can still be reading it.
  Staging& take_staging(size_t count) {
    Staging& s = staging[next_staging];
    next_staging = (next_staging + 1) % kStagingBuffers;
    GPU_TUNE_CUDA_CHECK(cudaEventSynchronize(s.copied));  // returns at once if never recorded
    if (s.capacity < count) {
      const size_t capacity = std::max(count, 2 * s.capacity);
      if (s.pointers != nullptr) GPU_TUNE_CUDA_CHECK(cudaFreeHost(s.pointers));
      s.pointers = nullptr;
      s.capacity = 0;
      void* host = nullptr;
      GPU_TUNE_CUDA_CHECK(cudaHostAlloc(&host, capacity * sizeof(void*), cudaHostAllocDefault));
      s.pointers = static_cast<const void**>(host);
      s.capacity = capacity;
    }
    return s;
  }

  void reserve_device_table(size_t count) {
    if (device_capacity >= count) return;
    const size_t capacity = std::max(count, 2 * device_capacity);
    if (device_table != nullptr) {
      // An earlier cuBLAS call on the stream may still read the old table.
      GPU_TUNE_CUDA_CHECK(cudaStreamSynchronize(stream));
      GPU_TUNE_CUDA_CHECK(cudaFree(device_table));
      device_table = nullptr;
      device_capacity = 0;
    }
    void* device = nullptr;
    GPU_TUNE_CUDA_CHECK(cudaMalloc(&device, capacity * sizeof(void*)));
    device_table = static_cast<const void**>(device);
    device_capacity = capacity;
  }
};

CublasGroupedGemm::CublasGroupedGemm(cudaStream_t stream) : state_(std::make_unique<State>()) {
  State& s = *state_;
  s.stream = stream;
  GPU_TUNE_CUBLAS_CHECK(cublasCreate(&s.handle));
  GPU_TUNE_CUBLAS_CHECK(cublasSetStream(s.handle, stream));
  // The grouped call accepts host scalars only (CUBLAS_STATUS_NOT_SUPPORTED with device
  // pointer mode). Default math: CUBLAS_COMPUTE_32F then stays true FP32, TF32 only where
  // the compute type asks for it.
  GPU_TUNE_CUBLAS_CHECK(cublasSetPointerMode(s.handle, CUBLAS_POINTER_MODE_HOST));
  GPU_TUNE_CUBLAS_CHECK(cublasSetMathMode(s.handle, CUBLAS_DEFAULT_MATH));
  for (State::Staging& staging : s.staging)
    GPU_TUNE_CUDA_CHECK(cudaEventCreateWithFlags(&staging.copied, cudaEventDisableTiming));
}

CublasGroupedGemm::~CublasGroupedGemm() = default;

cudaStream_t CublasGroupedGemm::stream() const { return state_->stream; }
cublasHandle_t CublasGroupedGemm::handle() const { return state_->handle; }

void CublasGroupedGemm::run(std::span<const GemmProblem> problems, GemmPrecision precision) {
  validate_gemm_problems(problems);
  State& s = *state_;

  // Every host-side check before anything is queued, so a rejected call changes nothing.
  s.entries.clear();
  s.zero_k.clear();
  for (size_t i = 0; i < problems.size(); ++i) {
    const GemmProblem& p = problems[i];
    if (p.dynamic_m != nullptr || p.dynamic_k != nullptr)
      fail(i, "run-time sizes (dynamic_m, dynamic_k) are not supported by the cuBLAS path, which takes sizes on the host");
    if (p.m == 0 || p.n == 0) continue;  // nothing to write
    if (p.k == 0) {
      s.zero_k.push_back(i);
      continue;
    }
    // cuBLAS's FAST compute types load the matrices with wide accesses: its documentation
    // asks for 16-byte aligned pointers, or else for rules that depend on k and the type
    // size. Requiring 16 bytes (cudaMalloc gives 256) is the simple, safe reading; a
    // misaligned access would otherwise be a sticky error that ends the CUDA context.
    if (precision == GemmPrecision::kTf32 && !(aligned_16(p.a) && aligned_16(p.b) && aligned_16(p.c)))
      fail(i, "tf32 through cuBLAS needs A, B and C aligned to 16 bytes (gpu_tune's own GEMM, --gemm own, "
              "does not)");
    s.entries.push_back({cublas_key(p), static_cast<int>(i)});
  }

  for (size_t i : s.zero_k) {
    const GemmProblem& p = problems[i];
    const int64_t count = static_cast<int64_t>(p.m) * p.n;
    const int blocks = static_cast<int>(std::min<int64_t>((count + kScaleThreads - 1) / kScaleThreads, 1024));
    scale_c_kernel<<<blocks, kScaleThreads, 0, s.stream>>>(p.c, p.m, p.n, p.ldc, p.beta);
    GPU_TUNE_CUDA_CHECK_LAUNCH(scale_c_kernel, s.stream);
  }
  if (s.entries.empty()) return;

  // Problems of one group next to each other, groups in key order.
  std::sort(s.entries.begin(), s.entries.end());
  for (auto* v : {&s.m, &s.n, &s.k, &s.lda, &s.ldb, &s.ldc, &s.group_size}) v->clear();
  s.transa.clear();
  s.transb.clear();
  s.alpha.clear();
  s.beta.clear();
  for (size_t e = 0; e < s.entries.size(); ++e) {
    const GroupKey& key = s.entries[e].key;
    if (e > 0 && key == s.entries[e - 1].key) {
      ++s.group_size.back();
      continue;
    }
    s.transa.push_back(key.transa != 0 ? CUBLAS_OP_T : CUBLAS_OP_N);
    s.transb.push_back(key.transb != 0 ? CUBLAS_OP_T : CUBLAS_OP_N);
    s.m.push_back(key.m);
    s.n.push_back(key.n);
    s.k.push_back(key.k);
    s.lda.push_back(key.lda);
    s.ldb.push_back(key.ldb);
    s.ldc.push_back(key.ldc);
    s.alpha.push_back(std::bit_cast<float>(key.alpha_bits));
    s.beta.push_back(std::bit_cast<float>(key.beta_bits));
    s.group_size.push_back(1);
  }

  // Pointer table: cuBLAS's A (our B), cuBLAS's B (our A), C; one entry per problem each.
  const size_t count = s.entries.size();
  State::Staging& staging = s.take_staging(3 * count);
  for (size_t e = 0; e < count; ++e) {
    const GemmProblem& p = problems[static_cast<size_t>(s.entries[e].problem)];
    staging.pointers[e] = p.b;
    staging.pointers[count + e] = p.a;
    staging.pointers[2 * count + e] = p.c;
  }
  s.reserve_device_table(3 * count);
  GPU_TUNE_CUDA_CHECK(cudaMemcpyAsync(s.device_table, staging.pointers, 3 * count * sizeof(void*),
                                      cudaMemcpyHostToDevice, s.stream));
  GPU_TUNE_CUDA_CHECK(cudaEventRecord(staging.copied, s.stream));

  const void* const* a_table = s.device_table;
  const void* const* b_table = s.device_table + count;
  void* const* c_table = const_cast<void* const*>(s.device_table + 2 * count);
  const cublasComputeType_t compute =
      precision == GemmPrecision::kTf32 ? CUBLAS_COMPUTE_32F_FAST_TF32 : CUBLAS_COMPUTE_32F;
  GPU_TUNE_CUBLAS_CHECK(cublasGemmGroupedBatchedEx(
      s.handle, s.transa.data(), s.transb.data(), s.m.data(), s.n.data(), s.k.data(), s.alpha.data(), a_table,
      CUDA_R_32F, s.lda.data(), b_table, CUDA_R_32F, s.ldb.data(), s.beta.data(), c_table, CUDA_R_32F,
      s.ldc.data(), static_cast<int>(s.group_size.size()), s.group_size.data(), compute));
}

}  // namespace gpu_tune::kernels
