#pragma once
// cuBLAS as an alternate path for the grouped GEMM: the same problems and the same result
// as grouped_gemm_cpu, computed by cublasGemmGroupedBatchedEx (cuBLAS 12.5 or newer). It
// is the yardstick for our own kernels (benchmarks/grouped_gemm_benchmark.cu) and a
// fallback, not the engine's default path: unlike grouped_gemm_cuda it needs a handle, a
// device pointer table uploaded on every call, and it promises no fixed summation order.
#include <memory>
#include <span>

#include "kernels/grouped_gemm.h"

// As the CUDA and cuBLAS headers declare them, so that this header needs neither.
typedef struct CUstream_st* cudaStream_t;
typedef struct cublasContext* cublasHandle_t;

namespace gpu_tune::kernels {

class CublasGroupedGemm {
 public:
  // Creates a cuBLAS handle bound to `stream` on the current device. Throws
  // std::runtime_error when cuBLAS or CUDA cannot be initialised (no GPU, no driver).
  explicit CublasGroupedGemm(cudaStream_t stream);
  ~CublasGroupedGemm();
  CublasGroupedGemm(const CublasGroupedGemm&) = delete;
  CublasGroupedGemm& operator=(const CublasGroupedGemm&) = delete;

  // C = alpha * op(A) * op(B) + beta * C for every problem, row-major, as grouped_gemm_cpu.
  // Problems sharing (transposes, m, n, k, leading dimensions, alpha, beta) form one group
  // of the one cuBLAS call. kFp32 computes with CUBLAS_COMPUTE_32F, kTf32 with
  // CUBLAS_COMPUTE_32F_FAST_TF32 (tensor cores; cuBLAS chooses how it rounds the operands to
  // TF32, so results can differ from grouped_gemm_cpu's kTf32 emulation by an operand
  // rounding step). Pointers are device memory; the call is asynchronous on the stream.
  //
  // Not for CUDA-graph capture: the pointer table is copied from a host staging buffer
  // that later calls overwrite, and reusing that buffer waits on an event.
  //
  // Throws std::invalid_argument as validate_gemm_problems does, and for problems with
  // run-time sizes (dynamic_m, dynamic_k: cuBLAS reads sizes on the host) or, for kTf32,
  // matrices not aligned as cuBLAS's FAST compute types require; std::runtime_error for a
  // CUDA or cuBLAS error.
  void run(std::span<const GemmProblem> problems, GemmPrecision precision = GemmPrecision::kFp32);

  cudaStream_t stream() const;
  cublasHandle_t handle() const;

 private:
  struct State;  // the handle, the staging and device buffers, per-call scratch
  std::unique_ptr<State> state_;
};

}  // namespace gpu_tune::kernels
