#pragma once
// Error check for cuBLAS calls, the counterpart of cuda_check.h: a failure throws
// std::runtime_error naming the call, the file and line, and cuBLAS's status name
// (CUBLAS_STATUS_INVALID_VALUE, ...), so the message says where and why on its own.
#include <cublas_v2.h>  // cublasStatus_t, cublasGetStatusName, cublasGetStatusString

#include <stdexcept>
#include <string>

namespace gpu_tune::kernels::detail {

[[noreturn]] inline void throw_cublas_error(cublasStatus_t status, const char* what, const char* file, int line) {
  throw std::runtime_error(std::string(file) + ":" + std::to_string(line) + ": " + what + " failed: " +
                           cublasGetStatusName(status) + " (" + cublasGetStatusString(status) + ")");
}

inline void check_cublas(cublasStatus_t status, const char* what, const char* file, int line) {
  if (status != CUBLAS_STATUS_SUCCESS) throw_cublas_error(status, what, file, line);
}

}  // namespace gpu_tune::kernels::detail

// Wraps one cuBLAS call: GPU_TUNE_CUBLAS_CHECK(cublasCreate(&handle));
#define GPU_TUNE_CUBLAS_CHECK(call) ::gpu_tune::kernels::detail::check_cublas((call), #call, __FILE__, __LINE__)
