#pragma once
// A stand-in for the part of cuBLAS that gpu_tune uses (cublasGemmGroupedBatchedEx), for
// the emulated-CUDA tests only: each group's products are CBLAS sgemm calls in cuBLAS's
// column-major convention, issued on the handle's stream like any emulated operation.
// CUBLAS_COMPUTE_32F_FAST_TF32 rounds the operands to TF32 first (to nearest, ties away
// from zero; cuBLAS does not document its rounding, so the tests allow for either).
// This checks CublasGroupedGemm's side: the row-major mapping, the grouping, the pointer
// tables; not cuBLAS.
#include <cblas.h>  // cblas_sgemm

#include <vector>

#include "kernels/grouped_gemm.h"  // round_to_tf32

#define CUBLAS_VERSION 130000

enum cublasStatus_t {
  CUBLAS_STATUS_SUCCESS = 0,
  CUBLAS_STATUS_NOT_INITIALIZED = 1,
  CUBLAS_STATUS_INVALID_VALUE = 7,
  CUBLAS_STATUS_NOT_SUPPORTED = 15,
};
enum cublasOperation_t { CUBLAS_OP_N = 0, CUBLAS_OP_T = 1 };
enum cublasPointerMode_t { CUBLAS_POINTER_MODE_HOST = 0, CUBLAS_POINTER_MODE_DEVICE = 1 };
enum cublasMath_t { CUBLAS_DEFAULT_MATH = 0 };
enum cublasComputeType_t { CUBLAS_COMPUTE_32F = 68, CUBLAS_COMPUTE_32F_FAST_TF32 = 77 };
enum cudaDataType_t { CUDA_R_32F = 0 };

struct cublasContext {
  cudaStream_t stream = nullptr;
  cublasPointerMode_t pointer_mode = CUBLAS_POINTER_MODE_HOST;
};
typedef cublasContext* cublasHandle_t;

inline const char* cublasGetStatusName(cublasStatus_t status) {
  switch (status) {
    case CUBLAS_STATUS_SUCCESS: return "CUBLAS_STATUS_SUCCESS";
    case CUBLAS_STATUS_NOT_INITIALIZED: return "CUBLAS_STATUS_NOT_INITIALIZED";
    case CUBLAS_STATUS_INVALID_VALUE: return "CUBLAS_STATUS_INVALID_VALUE";
    case CUBLAS_STATUS_NOT_SUPPORTED: return "CUBLAS_STATUS_NOT_SUPPORTED";
  }
  return "CUBLAS_STATUS_UNKNOWN";
}
inline const char* cublasGetStatusString(cublasStatus_t status) { return cublasGetStatusName(status); }
inline cublasStatus_t cublasCreate(cublasHandle_t* handle) {
  *handle = new cublasContext;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasDestroy(cublasHandle_t handle) {
  delete handle;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetStream(cublasHandle_t handle, cudaStream_t stream) {
  handle->stream = stream;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetPointerMode(cublasHandle_t handle, cublasPointerMode_t mode) {
  handle->pointer_mode = mode;
  return CUBLAS_STATUS_SUCCESS;
}
inline cublasStatus_t cublasSetMathMode(cublasHandle_t, cublasMath_t) { return CUBLAS_STATUS_SUCCESS; }

inline std::vector<float> emulated_tf32_copy(const float* values, size_t count) {
  std::vector<float> rounded(values, values + count);
  for (float& x : rounded) x = gpu_tune::kernels::round_to_tf32(x);
  return rounded;
}

// Column-major, as cuBLAS: C (m x n) = alpha op(A) op(B) + beta C. The host arrays are read
// now (as cuBLAS reads them at the call); the pointer tables, in device memory, when the
// operation runs.
inline cublasStatus_t cublasGemmGroupedBatchedEx(
    cublasHandle_t handle, const cublasOperation_t transa[], const cublasOperation_t transb[], const int m[],
    const int n[], const int k[], const void* alpha, const void* const a_table[], cudaDataType_t, const int lda[],
    const void* const b_table[], cudaDataType_t, const int ldb[], const void* beta, void* const c_table[],
    cudaDataType_t, const int ldc[], int group_count, const int group_size[], cublasComputeType_t compute) {
  if (handle->pointer_mode != CUBLAS_POINTER_MODE_HOST) return CUBLAS_STATUS_NOT_SUPPORTED;
  struct Group {
    cublasOperation_t ta, tb;
    int m, n, k, lda, ldb, ldc, size;
    float alpha, beta;
  };
  std::vector<Group> groups;
  for (int g = 0; g < group_count; ++g) {
    if (m[g] < 0 || n[g] < 0 || k[g] < 0 || group_size[g] < 0) return CUBLAS_STATUS_INVALID_VALUE;
    groups.push_back({transa[g], transb[g], m[g], n[g], k[g], lda[g], ldb[g], ldc[g], group_size[g],
                      static_cast<const float*>(alpha)[g], static_cast<const float*>(beta)[g]});
  }
  const bool tf32 = compute == CUBLAS_COMPUTE_32F_FAST_TF32;
  emulated_issue(handle->stream, [=] {
    int index = 0;
    for (const Group& g : groups) {
      for (int i = 0; i < g.size; ++i, ++index) {
        const float* a = static_cast<const float*>(a_table[index]);
        const float* b = static_cast<const float*>(b_table[index]);
        std::vector<float> a_rounded, b_rounded;
        if (tf32 && g.k > 0) {
          const int a_cols = g.ta == CUBLAS_OP_N ? g.k : g.m, b_cols = g.tb == CUBLAS_OP_N ? g.n : g.k;
          a_rounded = emulated_tf32_copy(a, size_t(a_cols - 1) * g.lda + (g.ta == CUBLAS_OP_N ? g.m : g.k));
          b_rounded = emulated_tf32_copy(b, size_t(b_cols - 1) * g.ldb + (g.tb == CUBLAS_OP_N ? g.k : g.n));
          a = a_rounded.data();
          b = b_rounded.data();
        }
        cblas_sgemm(CblasColMajor, g.ta == CUBLAS_OP_N ? CblasNoTrans : CblasTrans,
                    g.tb == CUBLAS_OP_N ? CblasNoTrans : CblasTrans, g.m, g.n, g.k, g.alpha, a, g.lda, b, g.ldb,
                    g.beta, static_cast<float*>(c_table[index]), g.ldc);
      }
    }
  });
  return CUBLAS_STATUS_SUCCESS;
}
